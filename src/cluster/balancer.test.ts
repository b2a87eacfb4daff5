import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import type { LoadBalancerKind } from '../model/types.ts';
import { BALANCER_KINDS, EMPTY_PICK, createBalancer } from './balancer.ts';
import type { EndpointState } from './types.ts';
import { seeded } from '../../test/helpers/seeded.ts';
import { states } from '../../test/helpers/endpoints.ts';

const PICKS = 2_000;

/** Picks many times, alternating hash keys so ring-hash visits the whole ring. */
function counts(kind: LoadBalancerKind, eps: EndpointState[], avoid?: EndpointState): Map<EndpointState, number> {
  const b = createBalancer(kind, eps, { random: seeded(7), now: () => 0 });
  const seen = new Map<EndpointState, number>();
  for (let i = 0; i < PICKS; i++) {
    const ep = b.pick({ hashKey: kind === 'ring-hash' && i % 2 === 0 ? `key-${i}` : undefined, avoid });
    if (ep === undefined) throw new Error(`${kind} picked nothing`);
    seen.set(ep, (seen.get(ep) ?? 0) + 1);
  }
  return seen;
}

describe('createBalancer', () => {
  it('knows every kind of the model', () => {
    expect([...BALANCER_KINDS].sort()).toEqual(['least-request', 'peak-ewma', 'random', 'ring-hash', 'round-robin']);
  });

  it('rejects an unknown kind with a config error', () => {
    let caught: unknown;
    try {
      createBalancer('fastest' as LoadBalancerKind, states(1));
    } catch (err) {
      caught = err;
    }
    expect(isEnmeshError(caught)).toBe(true);
    expect((caught as Error).message).toContain('fastest');
  });

  it('keeps its own copy of the endpoint list', () => {
    const eps = states(2);
    const b = createBalancer('round-robin', eps);
    eps.pop();
    expect(b.endpoints).toHaveLength(2);
  });
});

describe.each(BALANCER_KINDS)('%s: common rules', (kind) => {
  it('returns undefined only for an empty set', () => {
    expect(createBalancer(kind, []).pick(EMPTY_PICK)).toBeUndefined();
    const one = states(1);
    one[0].available = false;
    expect(createBalancer(kind, one).pick({ avoid: one[0] })).toBe(one[0]);
  });

  it('reaches every endpoint', () => {
    const eps = states(4);
    expect(counts(kind, eps).size).toBe(4);
  });

  it('never picks an unavailable endpoint while another is available', () => {
    const eps = states(5);
    eps[1].available = false;
    eps[3].available = false;
    const seen = counts(kind, eps);
    expect(seen.has(eps[1])).toBe(false);
    expect(seen.has(eps[3])).toBe(false);
    expect(seen.size).toBe(3);
  });

  it('panics into all endpoints when none is available', () => {
    const eps = states(3);
    for (const ep of eps) ep.available = false;
    expect(counts(kind, eps).size).toBe(3);
  });

  it('honours avoid when another choice exists', () => {
    const eps = states(3);
    const seen = counts(kind, eps, eps[0]);
    expect(seen.has(eps[0])).toBe(false);
    expect(seen.size).toBe(2);
  });

  it('prefers an available endpoint to avoid over unavailable ones', () => {
    const eps = states(3);
    eps[1].available = false;
    eps[2].available = false;
    const seen = counts(kind, eps, eps[0]);
    expect([...seen.keys()]).toEqual([eps[0]]);
  });

  it('in panic, still avoids when it can', () => {
    const eps = states(3);
    for (const ep of eps) ep.available = false;
    const seen = counts(kind, eps, eps[2]);
    expect(seen.has(eps[2])).toBe(false);
    expect(seen.size).toBe(2);
  });

  it('follows availability changes without a rebuild', () => {
    const eps = states(2);
    const b = createBalancer(kind, eps, { random: seeded(3), now: () => 0 });
    eps[0].available = false;
    for (let i = 0; i < 50; i++) expect(b.pick({ hashKey: `k${i}` })).toBe(eps[1]);
    eps[0].available = true;
    eps[1].available = false;
    for (let i = 0; i < 50; i++) expect(b.pick({ hashKey: `k${i}` })).toBe(eps[0]);
  });
});
