import { EnmeshError } from '../../errors.ts';
import { hash32, mix32 } from '../hash32.ts';
import type { Balancer, EndpointState, PickContext } from '../types.ts';
import type { BalancerOptions } from './options.ts';
import { inPool, poolMode, preferred, weightOf } from './pool.ts';

export const DEFAULT_MIN_RING_SIZE = 1024;
/** Points per unit of weight once the ring is past its minimum size. */
const POINTS_PER_WEIGHT = 128;
/** Upper bound on ring points, to bound memory and build time for huge sets. */
const MAX_RING_SIZE = 1 << 20;
/** Ring points are sorted as `hash * 2^21 + endpointIndex` in one Float64Array: 32 + 21 bits fit a double exactly. */
const INDEX_BITS = 2 ** 21;
const GOLDEN = 0x9e3779b1;

/**
 * Consistent hashing on a ring of virtual nodes (Karger et al., as Envoy's
 * ring_hash). Each endpoint owns points proportional to its weight; a key
 * goes to the first point at or after its hash, clockwise.
 *
 * Point positions depend only on the endpoint's authority and the point's
 * number, never on the rest of the set or its order. So a new endpoint takes
 * only the keys that fall on its own points (~1/N of them) and every other
 * key keeps its endpoint. The per-weight point count is fixed
 * ({@link POINTS_PER_WEIGHT}) once the set's total weight reaches
 * minRingSize / POINTS_PER_WEIGHT (8 units by default); below that the ring is
 * densified to minRingSize for an even spread, at the price of extra key
 * movement when such a small set changes.
 *
 * An unavailable (or avoided) endpoint's keys walk on to the next eligible
 * point, which spreads them over the others instead of piling them on one.
 */
export class RingHash implements Balancer {
  readonly endpoints: readonly EndpointState[];
  readonly #random: () => number;
  /** Point hashes, ascending. */
  readonly #hashes: Uint32Array;
  /** Endpoint index of each point. */
  readonly #owners: Uint32Array;

  constructor(endpoints: readonly EndpointState[], random: () => number, minRingSize: number) {
    this.endpoints = endpoints;
    this.#random = random;
    const n = endpoints.length;
    if (n >= INDEX_BITS) {
      throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', `ring-hash supports at most ${INDEX_BITS - 1} endpoints, got ${n}; use another loadBalancer`);
    }
    let totalWeight = 0;
    for (const ep of endpoints) totalWeight += weightOf(ep);
    let perWeight = Math.max(POINTS_PER_WEIGHT, Math.ceil(minRingSize / Math.max(totalWeight, 1)));
    if (totalWeight * perWeight > MAX_RING_SIZE) perWeight = MAX_RING_SIZE / totalWeight;
    const counts = endpoints.map((ep) => Math.max(1, Math.floor(weightOf(ep) * perWeight)));
    let size = 0;
    for (const c of counts) size += c;

    const packed = new Float64Array(size);
    let k = 0;
    for (let i = 0; i < n; i++) {
      const base = hash32(endpoints[i].authority);
      // mix32 is a bijection and imul by an odd constant too: distinct point numbers never collide.
      for (let v = 0; v < counts[i]; v++) packed[k++] = mix32(base ^ Math.imul(v + 1, GOLDEN)) * INDEX_BITS + i;
    }
    packed.sort();
    this.#hashes = new Uint32Array(size);
    this.#owners = new Uint32Array(size);
    for (let j = 0; j < size; j++) {
      const owner = packed[j] % INDEX_BITS;
      this.#owners[j] = owner;
      this.#hashes[j] = (packed[j] - owner) / INDEX_BITS;
    }
  }

  /** Number of points on the ring. */
  get size(): number {
    return this.#hashes.length;
  }

  pick(ctx: PickContext): EndpointState | undefined {
    const eps = this.endpoints;
    const hashes = this.#hashes;
    const owners = this.#owners;
    const len = hashes.length;
    if (len === 0) return undefined;
    const h = ctx.hashKey === undefined ? Math.floor(this.#random() * 4294967296) : hash32(ctx.hashKey);
    // First point with hash >= h; past the end wraps to the start.
    let lo = 0;
    let hi = len;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    const start = lo === len ? 0 : lo;
    const avoid = ctx.avoid;
    let p = start;
    for (let k = 0; k < len; k++, p = p + 1 === len ? 0 : p + 1) {
      const ep = eps[owners[p]];
      if (preferred(ep, avoid)) return ep;
    }
    const mode = poolMode(eps, avoid);
    for (let k = 0; k < len; k++, p = p + 1 === len ? 0 : p + 1) {
      const ep = eps[owners[p]];
      if (inPool(ep, mode, avoid)) return ep;
    }
    return undefined;
  }
}

export function createRingHash(endpoints: readonly EndpointState[], opts: BalancerOptions = {}): RingHash {
  return new RingHash(endpoints, opts.random ?? Math.random, opts.minRingSize ?? DEFAULT_MIN_RING_SIZE);
}
