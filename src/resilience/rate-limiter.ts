/**
 * The local rate limit of one service (`rateLimit` with `scope: local`, or
 * the fallback of a global limit): one token bucket for all its traffic, plus
 * one per descriptor slice (per source service, header value, path prefix or
 * route). A request passes only when every bucket that applies to it holds a
 * token, and then takes one from each; a refused request takes nothing and
 * is answered at once (429 or gRPC RESOURCE_EXHAUSTED, `Retry-After`, flag
 * RL): rate limiting never queues.
 *
 * Per-request cost without descriptors: one clock read and a few arithmetic
 * operations; no allocation. Descriptors keyed per distinct value add a Map
 * lookup each, and a bucket the first time a value is seen.
 */
import type { RateLimitDescriptorModel, RateLimitModel } from '../model/types.ts';
import type { Clock } from '../policy/retry-budget.ts';
import { TokenBucket } from './token-bucket.ts';
import { descriptorKey, type RateLimitRequest } from './rate-limit-descriptors.ts';

/** Buckets kept per descriptor keyed by distinct values (users, paths) before idle ones are dropped. */
export const DEFAULT_MAX_KEYS = 10_000;

export interface RateLimitCounters {
  allowed: number;
  limited: number;
}

export interface RateLimitSnapshot {
  readonly name: string;
  readonly scope: 'local' | 'global';
  readonly requestsPerSecond: number;
  readonly burst: number;
  /** Tokens in the service-wide bucket now (local buckets only). */
  readonly tokens: number;
  readonly descriptors: readonly { readonly by: string; readonly value?: string; readonly buckets: number }[];
  readonly counters: Readonly<Record<string, number>>;
}

export interface LocalRateLimiterOptions {
  /** Monotonic clock in ms. Default `performance.now`. */
  readonly now?: Clock;
  readonly maxKeys?: number;
}

/** The buckets of one descriptor: one shared bucket (fixed value) or one per distinct value. */
class DescriptorBuckets {
  readonly model: RateLimitDescriptorModel;
  readonly shared: TokenBucket | undefined;
  readonly byValue = new Map<string, TokenBucket>();
  readonly #maxKeys: number;

  constructor(model: RateLimitDescriptorModel, now: number, maxKeys: number) {
    this.model = model;
    this.shared = model.value === undefined ? undefined : new TokenBucket(model.requestsPerSecond, model.burst, now);
    this.#maxKeys = maxKeys;
  }

  /** The bucket for this request, or undefined when the descriptor does not apply. */
  bucketFor(req: RateLimitRequest, now: number): TokenBucket | undefined {
    const key = descriptorKey(this.model, req);
    if (key === undefined) return undefined;
    if (this.shared !== undefined) return this.shared;
    let b = this.byValue.get(key);
    if (b === undefined) {
      if (this.byValue.size >= this.#maxKeys) this.#evict(now);
      b = new TokenBucket(this.model.requestsPerSecond, this.model.burst, now);
      this.byValue.set(key, b);
    }
    return b;
  }

  /**
   * Drops full buckets (exact: a full bucket behaves as a new one). If every
   * bucket is in use, drops the oldest tenth, which may grant those keys one
   * fresh burst: the price of bounded memory under a flood of distinct values.
   */
  #evict(now: number): void {
    for (const [k, b] of this.byValue) if (b.isFull(now)) this.byValue.delete(k);
    if (this.byValue.size < this.#maxKeys) return;
    let drop = Math.ceil(this.#maxKeys / 10);
    for (const k of this.byValue.keys()) {
      if (drop-- <= 0) break;
      this.byValue.delete(k);
    }
  }
}

export class LocalRateLimiter {
  readonly name: string;
  readonly model: RateLimitModel;
  readonly counters: RateLimitCounters = { allowed: 0, limited: 0 };
  readonly #bucket: TokenBucket;
  readonly #descriptors: DescriptorBuckets[];
  /** Buckets that apply to the request being checked; reused, so a check allocates nothing. */
  readonly #hit: TokenBucket[];
  readonly #now: Clock;

  constructor(name: string, model: RateLimitModel, options: LocalRateLimiterOptions = {}) {
    this.name = name;
    this.model = model;
    this.#now = options.now ?? (() => performance.now());
    const now = this.#now();
    this.#bucket = new TokenBucket(model.requestsPerSecond, model.burst, now);
    const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    this.#descriptors = (model.descriptors ?? []).map((d) => new DescriptorBuckets(d, now, maxKeys));
    this.#hit = new Array<TokenBucket>(this.#descriptors.length + 1);
  }

  /**
   * 0 when the request may pass (a token was taken from every bucket that
   * applies); otherwise it is refused and the result is the ms until it could
   * pass, for `Retry-After` (`retryAfterSeconds` turns it into the header value).
   */
  check(req: RateLimitRequest): number {
    const now = this.#now();
    const hit = this.#hit;
    let n = 0;
    let wait = 0;
    const main = this.#bucket;
    if (main.refill(now) < 1) wait = main.waitMs();
    hit[n++] = main;
    for (let i = 0; i < this.#descriptors.length; i++) {
      const b = this.#descriptors[i].bucketFor(req, now);
      if (b === undefined) continue;
      if (b.refill(now) < 1) {
        const w = b.waitMs();
        if (w > wait) wait = w;
      }
      hit[n++] = b;
    }
    if (wait > 0) {
      this.counters.limited++;
      return wait;
    }
    for (let i = 0; i < n; i++) hit[i].tokens -= 1;
    this.counters.allowed++;
    return 0;
  }

  /** Tokens in the service-wide bucket now. */
  get tokens(): number {
    return this.#bucket.refill(this.#now());
  }

  snapshot(): RateLimitSnapshot {
    return {
      name: this.name,
      scope: 'local',
      requestsPerSecond: this.model.requestsPerSecond,
      burst: this.model.burst,
      tokens: this.tokens,
      descriptors: this.#descriptors.map((d) => ({
        by: d.model.by,
        ...(d.model.value === undefined ? {} : { value: d.model.value }),
        buckets: d.shared !== undefined ? 1 : d.byValue.size,
      })),
      counters: { ...this.counters },
    };
  }
}
