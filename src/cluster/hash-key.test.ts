import { describe, expect, it } from 'vitest';
import type { HashOn } from '../model/types.ts';
import type { RequestView } from '../routing/types.ts';
import { compileHashKey, computeHashKey, findCookie } from './hash-key.ts';

function request(headers: Record<string, string>, sourceIp?: string): RequestView {
  return { method: 'GET', path: '/', header: (n) => headers[n], ...(sourceIp ? { sourceIp } : {}) };
}

function both(hashOn: HashOn | undefined, req: RequestView): string | undefined {
  const compiled = compileHashKey(hashOn)(req);
  expect(computeHashKey(hashOn, req)).toBe(compiled);
  return compiled;
}

describe('findCookie', () => {
  it('finds only the named cookie', () => {
    const h = 'session=abc; user=u-42; theme=dark';
    expect(findCookie(h, 'user')).toBe('u-42');
    expect(findCookie(h, 'session')).toBe('abc');
    expect(findCookie(h, 'theme')).toBe('dark');
    expect(findCookie(h, 'missing')).toBeUndefined();
  });

  it('does not match a name inside another name or a value', () => {
    expect(findCookie('xuser=1; user=2', 'user')).toBe('2');
    expect(findCookie('a=user=3', 'user')).toBeUndefined();
    expect(findCookie('user_id=1', 'user')).toBeUndefined();
  });

  it('handles quotes, empty values, and headers joined with commas', () => {
    expect(findCookie('user="u 1"', 'user')).toBe('u 1');
    expect(findCookie('user=; a=1', 'user')).toBe('');
    expect(findCookie('a=1, user=7', 'user')).toBe('7');
    expect(findCookie('a=1;user=8  ', 'user')).toBe('8');
  });
});

describe('hash keys', () => {
  const req = request({ 'x-user': 'alice', cookie: 'sid=s1; other=2' }, '10.1.2.3');

  it('reads a header, lower-casing the configured name', () => {
    expect(both({ header: 'X-User' }, req)).toBe('alice');
    expect(both({ header: 'x-none' }, req)).toBeUndefined();
  });

  it('reads a cookie', () => {
    expect(both({ cookie: 'sid' }, req)).toBe('s1');
    expect(both({ cookie: 'sid' }, request({}))).toBeUndefined();
  });

  it('reads the source IP', () => {
    expect(both({ sourceIp: true }, req)).toBe('10.1.2.3');
    expect(both({ sourceIp: false }, req)).toBeUndefined();
  });

  it('uses the first configured source only, and nothing without hashOn', () => {
    expect(both({ header: 'x-none', cookie: 'sid', sourceIp: true }, req)).toBeUndefined();
    expect(both({ cookie: 'sid', sourceIp: true }, req)).toBe('s1');
    expect(both(undefined, req)).toBeUndefined();
  });
});
