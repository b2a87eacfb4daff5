import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import { checkSpiffeId, formatSpiffeId, isTrustDomain, parseSpiffeId, serviceOf, serviceSpiffeId } from './spiffe-id.ts';

const tdChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-_');
const segChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_');
const trustDomain = fc.string({ unit: tdChar, minLength: 1, maxLength: 40 });
const segment = fc.string({ unit: segChar, minLength: 1, maxLength: 12 }).filter((s) => s !== '.' && s !== '..');
const path = fc.array(segment, { maxLength: 5 }).map((segs) => segs.map((s) => `/${s}`).join(''));

describe('SPIFFE ID parsing', () => {
  it('accepts the enmesh workload form and splits it', () => {
    const id = parseSpiffeId('spiffe://demo.local/service/reviews');
    expect(id).toEqual({ id: 'spiffe://demo.local/service/reviews', trustDomain: 'demo.local', path: '/service/reviews' });
    expect(serviceOf(id!)).toBe('reviews');
    expect(serviceOf(id!, 'demo.local')).toBe('reviews');
    expect(serviceOf(id!, 'other.local')).toBeUndefined();
    expect(serviceOf(parseSpiffeId('spiffe://demo.local/service/reviews/extra')!)).toBeUndefined();
    expect(serviceOf(parseSpiffeId('spiffe://demo.local/ns/default/sa/reviews')!)).toBeUndefined();
    expect(parseSpiffeId('spiffe://demo.local')).toEqual({ id: 'spiffe://demo.local', trustDomain: 'demo.local', path: '' });
  });

  it.each([
    ['', 'empty'],
    ['SPIFFE://demo.local/service/a', 'scheme'],
    ['spiffe:/demo.local/service/a', 'scheme'],
    ['https://demo.local/service/a', 'scheme'],
    ['spiffe:///service/a', 'trust-domain-empty'],
    ['spiffe://Demo.local/service/a', 'trust-domain-chars'],
    ['spiffe://demo.local:443/service/a', 'trust-domain-chars'],
    ['spiffe://user@demo.local/service/a', 'trust-domain-chars'],
    ['spiffe://[::1]/service/a', 'trust-domain-chars'],
    ['spiffe://demo.local/', 'path-empty-segment'],
    ['spiffe://demo.local//service/a', 'path-empty-segment'],
    ['spiffe://demo.local/service/a/', 'path-empty-segment'],
    ['spiffe://demo.local/service/./a', 'path-dot-segment'],
    ['spiffe://demo.local/service/../admin', 'path-dot-segment'],
    ['spiffe://demo.local/service/%61', 'path-chars'],
    ['spiffe://demo.local/service/a?x=1', 'path-chars'],
    ['spiffe://demo.local/service/a#frag', 'path-chars'],
    ['spiffe://demo.local/service/a\u0000b', 'path-chars'],
    ['spiffe://demo.local/service/r\u00e9views', 'path-chars'],
    ['spiffe://demo.local/service/a b', 'path-chars'],
    [`spiffe://${'a'.repeat(256)}/service/a`, 'trust-domain-too-long'],
    [`spiffe://demo.local/${'a'.repeat(2048)}`, 'too-long'],
  ])('refuses %j (%s)', (text, why) => {
    expect(checkSpiffeId(text)).toEqual({ ok: false, problem: why });
  });

  it('accepts the length limits exactly', () => {
    expect(isTrustDomain('a'.repeat(255))).toBe(true);
    expect(isTrustDomain('a'.repeat(256))).toBe(false);
    const longest = `spiffe://demo.local/${'a'.repeat(2048 - 'spiffe://demo.local/'.length)}`;
    expect(longest).toHaveLength(2048);
    expect(parseSpiffeId(longest)).toBeDefined();
  });

  it('round-trips any valid trust domain and path (property)', () => {
    fc.assert(
      fc.property(trustDomain, path, (td, p) => {
        const text = formatSpiffeId(td, p);
        const id = parseSpiffeId(text);
        expect(id).toEqual({ id: text, trustDomain: td, path: p });
        expect(formatSpiffeId(id!.trustDomain, id!.path)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('never parses random junk into an ID that re-formats differently (property)', () => {
    const junk = fc.oneof(
      fc.string({ maxLength: 80 }),
      fc.string({ unit: 'binary', maxLength: 80 }).map((s) => `spiffe://${s}`),
      fc.tuple(trustDomain, fc.string({ unit: fc.constantFrom(...'/.%2e?#:@ \u0000A\\'), maxLength: 20 })).map(([td, s]) => `spiffe://${td}${s}`),
    );
    fc.assert(
      fc.property(junk, (text) => {
        const id = parseSpiffeId(text);
        if (id === undefined) return;
        // Anything accepted is canonical: rebuilding it gives the same string, with only allowed chars.
        expect(formatSpiffeId(id.trustDomain, id.path)).toBe(text);
        expect(id.trustDomain).toMatch(/^[a-z0-9._-]+$/);
        expect(id.path).toMatch(/^(\/[A-Za-z0-9._-]+)*$/);
        expect(id.path.split('/').some((s) => s === '.' || s === '..')).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('treats a literal . in a trust domain as a dot, never as a wildcard (property)', () => {
    fc.assert(
      fc.property(trustDomain.filter((td) => td.includes('.')), fc.constantFrom(...'abcxyz09-_'), (td, other) => {
        const altered = td.replace('.', other);
        const id = parseSpiffeId(serviceSpiffeId(altered, 'reviews'))!;
        expect(id.trustDomain === td).toBe(false);
        expect(serviceOf(id, td)).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });

  it('refuses to format an ID that would not parse back', () => {
    for (const [td, p] of [['Demo.local', ''], ['demo.local', 'service/a'], ['demo.local', '/service/'], ['demo.local/x', '']]) {
      try {
        formatSpiffeId(td!, p);
        expect.unreachable(`formatted ${td} ${p}`);
      } catch (err) {
        expect(isEnmeshError(err) && err.code).toBe('ENMESH_ERR_SPIFFE_ID');
      }
    }
    expect(() => serviceSpiffeId('demo.local', 'a/b')).toThrow(/not a service name/);
    expect(() => serviceSpiffeId('demo.local', '..')).toThrow(/path-dot-segment/);
  });
});
