import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import type { RouteMatchModel, StringMatch } from '../model/types.ts';
import { compilePathMatch, compileRouteMatch, compileStringMatch, pathEnd, queryParam } from './match.ts';
import type { RequestView } from './types.ts';

function request(path: string, method = 'GET', headers: Record<string, string> = {}): RequestView {
  return { method, path, header: (name) => headers[name] };
}

function matches(m: Partial<RouteMatchModel>, req: RequestView): boolean {
  const full: RouteMatchModel = { methods: [], headers: [], query: [], ...m };
  return compileRouteMatch(full)(req, pathEnd(req.path));
}

function path(match: StringMatch, p: string): boolean {
  return compilePathMatch(match)(p, pathEnd(p));
}

describe('compileStringMatch', () => {
  it('exact, prefix and suffix compare the whole value, case-sensitively', () => {
    const exact = compileStringMatch({ kind: 'exact', value: 'true' });
    expect(exact('true')).toBe(true);
    expect(exact('True')).toBe(false);
    expect(exact('true ')).toBe(false);
    expect(exact(undefined)).toBe(false);
    const prefix = compileStringMatch({ kind: 'prefix', value: 'Mozilla/' });
    expect(prefix('Mozilla/5.0')).toBe(true);
    expect(prefix('xMozilla/')).toBe(false);
    expect(prefix(undefined)).toBe(false);
    const suffix = compileStringMatch({ kind: 'suffix', value: '.json' });
    expect(suffix('a.json')).toBe(true);
    expect(suffix('a.json5')).toBe(false);
  });

  it('anchors regexes: the whole value must match', () => {
    const re = compileStringMatch({ kind: 'regex', value: 'v[0-9]+' });
    expect(re('v12')).toBe(true);
    expect(re('xv12')).toBe(false);
    expect(re('v12x')).toBe(false);
    expect(re(undefined)).toBe(false);
    // An alternation must not escape the anchors.
    const alt = compileStringMatch({ kind: 'regex', value: 'a|b' });
    expect(alt('a')).toBe(true);
    expect(alt('ab')).toBe(false);
    expect(alt('xb')).toBe(false);
  });

  it('present and absent test only whether the name is there', () => {
    const present = compileStringMatch({ kind: 'present' });
    const absent = compileStringMatch({ kind: 'absent' });
    expect(present('')).toBe(true);
    expect(present(undefined)).toBe(false);
    expect(absent(undefined)).toBe(true);
    expect(absent('')).toBe(false);
  });

  it('rejects an invalid regex with a config error naming the location', () => {
    let caught: unknown;
    try {
      compileStringMatch({ kind: 'regex', value: '(' }, 'services.a.routes[0].match.headers[0]');
    } catch (err) {
      caught = err;
    }
    expect(isEnmeshError(caught)).toBe(true);
    expect((caught as { code: string }).code).toBe('ENMESH_ERR_CONFIG_INVALID');
    expect((caught as Error).message).toContain('services.a.routes[0].match.headers[0]');
  });
});

describe('compilePathMatch', () => {
  it('ignores the query string', () => {
    expect(path({ kind: 'exact', value: '/api' }, '/api?x=1')).toBe(true);
    expect(path({ kind: 'exact', value: '/api' }, '/api/x')).toBe(false);
    expect(path({ kind: 'prefix', value: '/api' }, '/api/items?id=3')).toBe(true);
    // The prefix must lie inside the path part, not run into the query.
    expect(path({ kind: 'prefix', value: '/api?' }, '/api?x')).toBe(false);
    expect(path({ kind: 'suffix', value: '.png' }, '/img/a.png?w=2')).toBe(true);
    expect(path({ kind: 'suffix', value: '=2' }, '/img/a.png?w=2')).toBe(false);
  });

  it('anchors a path regex and applies it to the path only', () => {
    const m: StringMatch = { kind: 'regex', value: '/users/[0-9]+' };
    expect(path(m, '/users/42')).toBe(true);
    expect(path(m, '/users/42?tab=1')).toBe(true);
    expect(path(m, '/users/42/posts')).toBe(false);
    expect(path(m, '/v1/users/42')).toBe(false);
  });
});

describe('queryParam', () => {
  it('finds the first value, decodes it, and tells a bare key from an absent one', () => {
    const p = '/s?q=a+b%21&flag&q=second&empty=';
    const end = pathEnd(p);
    expect(queryParam(p, end, 'q')).toBe('a b!');
    expect(queryParam(p, end, 'flag')).toBe('');
    expect(queryParam(p, end, 'empty')).toBe('');
    expect(queryParam(p, end, 'missing')).toBeUndefined();
    expect(queryParam('/s', pathEnd('/s'), 'q')).toBeUndefined();
  });

  it('matches encoded keys and keeps malformed escapes as sent', () => {
    const p = '/s?user%5Fid=7&bad=%E0%A4';
    const end = pathEnd(p);
    expect(queryParam(p, end, 'user_id')).toBe('7');
    expect(queryParam(p, end, 'bad')).toBe('%E0%A4');
  });

  it('does not match a key that merely starts with the name', () => {
    const p = '/s?ids=1&id=2';
    expect(queryParam(p, pathEnd(p), 'id')).toBe('2');
  });
});

describe('compileRouteMatch', () => {
  it('an empty match matches everything', () => {
    expect(matches({}, request('/anything', 'DELETE'))).toBe(true);
  });

  it('matches methods case-sensitively, any of the listed', () => {
    expect(matches({ methods: ['GET', 'HEAD'] }, request('/', 'HEAD'))).toBe(true);
    expect(matches({ methods: ['GET'] }, request('/', 'POST'))).toBe(false);
    expect(matches({ methods: ['GET'] }, request('/', 'get'))).toBe(false);
  });

  it('requires every header match', () => {
    const m: Partial<RouteMatchModel> = {
      headers: [
        { name: 'x-canary', match: { kind: 'exact', value: 'true' } },
        { name: 'x-debug', match: { kind: 'absent' } },
      ],
    };
    expect(matches(m, request('/', 'GET', { 'x-canary': 'true' }))).toBe(true);
    expect(matches(m, request('/', 'GET', { 'x-canary': 'true', 'x-debug': '1' }))).toBe(false);
    expect(matches(m, request('/', 'GET', {}))).toBe(false);
  });

  it('matches query parameters', () => {
    const m: Partial<RouteMatchModel> = {
      path: { kind: 'prefix', value: '/items' },
      query: [
        { name: 'version', match: { kind: 'regex', value: 'v[12]' } },
        { name: 'debug', match: { kind: 'present' } },
      ],
    };
    expect(matches(m, request('/items?version=v2&debug'))).toBe(true);
    expect(matches(m, request('/items?version=v3&debug'))).toBe(false);
    expect(matches(m, request('/items?version=v2'))).toBe(false);
    expect(matches(m, request('/other?version=v2&debug'))).toBe(false);
  });

  it('does not read headers when the method already fails', () => {
    let reads = 0;
    const req: RequestView = { method: 'POST', path: '/', header: () => (reads++, 'x') };
    const m: RouteMatchModel = { methods: ['GET'], headers: [{ name: 'a', match: { kind: 'present' } }], query: [] };
    expect(compileRouteMatch(m)(req, 1)).toBe(false);
    expect(reads).toBe(0);
  });
});
