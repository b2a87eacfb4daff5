import { describe, expect, it } from 'vitest';
import type { RedirectModel, RouteModel } from '../model/types.ts';
import { redirectLocation, rewritePrefix, rewriteRoutePath } from './path-rewrite.ts';

function redirect(r: Partial<RedirectModel>): RedirectModel {
  return { status: 301, stripQuery: false, ...r };
}

describe('rewritePrefix', () => {
  it('replaces the prefix and keeps the rest and the query', () => {
    expect(rewritePrefix('/api/v1/x', '/api/v1', '/v2')).toBe('/v2/x');
    expect(rewritePrefix('/api/v1/x?a=1&b=2', '/api/v1', '/v2')).toBe('/v2/x?a=1&b=2');
    expect(rewritePrefix('/api/v1', '/api/v1', '/v2')).toBe('/v2');
  });

  it('leaves a path without the prefix alone', () => {
    expect(rewritePrefix('/other', '/api', '/v2')).toBe('/other');
  });

  it('fixes slashes at the seam', () => {
    expect(rewritePrefix('/api/x', '/api', '/')).toBe('/x');
    expect(rewritePrefix('/api/x', '/api/', '/v2')).toBe('/v2/x');
    expect(rewritePrefix('/api', '/api', '')).toBe('/');
    expect(rewritePrefix('/api?q=1', '/api', '')).toBe('/?q=1');
    expect(rewritePrefix('/api/?q=1', '/api/', '/v2')).toBe('/v2?q=1');
  });
});

describe('rewriteRoutePath', () => {
  const base: RouteModel = { name: 'r', match: { methods: [], headers: [], query: [], path: { kind: 'prefix', value: '/api' } }, timeoutMs: 0 };

  it('rewrites the matched prefix', () => {
    expect(rewriteRoutePath({ ...base, rewritePrefix: '/internal' }, '/api/items?x=1')).toBe('/internal/items?x=1');
  });

  it('keeps the path without a rewrite or with a regex match', () => {
    expect(rewriteRoutePath(base, '/api/items')).toBe('/api/items');
    const regex: RouteModel = { ...base, rewritePrefix: '/x', match: { ...base.match, path: { kind: 'regex', value: '/api.*' } } };
    expect(rewriteRoutePath(regex, '/api/items')).toBe('/api/items');
  });
});

describe('redirectLocation', () => {
  it('keeps scheme, authority, path and query by default', () => {
    expect(redirectLocation('/a?b=1', 'shop:8080', 'http', redirect({}))).toBe('http://shop:8080/a?b=1');
  });

  it('replaces the whole path and keeps the query unless stripped', () => {
    expect(redirectLocation('/old?x=1', 'shop', 'http', redirect({ path: '/new' }))).toBe('http://shop/new?x=1');
    expect(redirectLocation('/old?x=1', 'shop', 'http', redirect({ path: '/new', stripQuery: true }))).toBe('http://shop/new');
    expect(redirectLocation('/old?x=1', 'shop', 'http', redirect({ path: '/new?y=2' }))).toBe('http://shop/new?y=2');
  });

  it('rewrites the matched prefix', () => {
    expect(redirectLocation('/v1/items?x=1', 'shop', 'http', redirect({ prefixRewrite: '/v2' }), '/v1')).toBe('http://shop/v2/items?x=1');
  });

  it('switching to https drops the old port for the well-known one', () => {
    expect(redirectLocation('/a', 'shop:80', 'http', redirect({ scheme: 'https' }))).toBe('https://shop/a');
    expect(redirectLocation('/a', 'shop:8080', 'http', redirect({ scheme: 'https' }))).toBe('https://shop/a');
    expect(redirectLocation('/a', 'shop:8080', 'http', redirect({ scheme: 'https', port: 8443 }))).toBe('https://shop:8443/a');
  });

  it('replaces host and port, leaving out well-known ports', () => {
    expect(redirectLocation('/a', 'shop:8080', 'http', redirect({ host: 'store' }))).toBe('http://store:8080/a');
    expect(redirectLocation('/a', 'shop:8080', 'http', redirect({ host: 'store', port: 80 }))).toBe('http://store/a');
    expect(redirectLocation('/a', 'shop', 'https', redirect({ port: 443 }))).toBe('https://shop/a');
  });

  it('brackets IPv6 hosts', () => {
    expect(redirectLocation('/a', '[::1]:8080', 'http', redirect({}))).toBe('http://[::1]:8080/a');
    expect(redirectLocation('/a', 'shop', 'http', redirect({ host: '::1', port: 9000 }))).toBe('http://[::1]:9000/a');
  });
});
