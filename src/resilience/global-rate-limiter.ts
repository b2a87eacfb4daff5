/**
 * The global rate limit of one service (`rateLimit` with `scope: global`):
 * the same buckets as the local limiter, but kept in Redis and shared by
 * every replica, so N replicas together admit the configured rate, not N
 * times it.
 *
 * Each decision is one Redis round trip (one EVALSHA; ioredis pipelines the
 * commands issued in one tick). When Redis cannot answer — not connected, an
 * error, no answer within `timeoutMs` — the request is decided by the local
 * limiter instead (fail open to the local limit) and the error is counted, so
 * a Redis outage degrades the limit instead of failing or stalling traffic.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { RateLimitModel } from '../model/types.ts';
import { LocalRateLimiter, type LocalRateLimiterOptions, type RateLimitSnapshot } from './rate-limiter.ts';
import { descriptorKey, type RateLimitRequest } from './rate-limit-descriptors.ts';
import { takeTokensCommand } from './redis-token-bucket.ts';

/** Longest wait for Redis before deciding locally. */
export const DEFAULT_REDIS_TIMEOUT_MS = 100;
export const DEFAULT_KEY_PREFIX = 'enmesh:rl:';

export interface GlobalRateLimiterOptions {
  /** A Redis URL (`redis://host:port/db`), or a client to share; the limiter then does not close it. */
  readonly redis: string | Redis;
  /** Extra client options when `redis` is a URL. */
  readonly redisOptions?: RedisOptions;
  readonly keyPrefix?: string;
  /** Applies when `redis` is a URL. Default {@link DEFAULT_REDIS_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Limits applied per process while Redis is unavailable. Default: the global model itself. */
  readonly fallback?: RateLimitModel;
  readonly local?: LocalRateLimiterOptions;
}

export interface GlobalRateLimitCounters {
  allowed: number;
  limited: number;
  /** Decisions Redis failed to make (command errors and timeouts). */
  redisErrors: number;
  /** Connection errors reported by the client (each reconnect attempt while Redis is down). */
  connectionErrors: number;
  /** Requests decided by the local fallback. */
  fallbacks: number;
}

export class GlobalRateLimiter {
  readonly name: string;
  readonly model: RateLimitModel;
  readonly counters: GlobalRateLimitCounters = { allowed: 0, limited: 0, redisErrors: 0, connectionErrors: 0, fallbacks: 0 };
  /** Decides while Redis cannot. */
  readonly local: LocalRateLimiter;
  readonly redis: Redis;
  readonly #owned: boolean;
  readonly #take: (numKeys: number, ...args: (string | number)[]) => Promise<number>;
  readonly #serviceKey: string;
  readonly #descriptorPrefix: string;
  /** Rate (tokens per ms) and burst of the service bucket, as script arguments. */
  readonly #args: (string | number)[];
  #lastError = '';
  // Also keeps ioredis from printing "Unhandled error event" for each reconnect attempt.
  readonly #onError = (err: Error): void => {
    this.counters.connectionErrors++;
    this.#lastError = err.message;
  };

  constructor(name: string, model: RateLimitModel, options: GlobalRateLimiterOptions) {
    this.name = name;
    this.model = model;
    this.local = new LocalRateLimiter(name, options.fallback ?? model, options.local);
    if (typeof options.redis === 'string') {
      this.redis = new Redis(options.redis, {
        // Fail fast instead of queueing while disconnected: the local limit takes over.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: options.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS,
        ...options.redisOptions,
      });
      this.#owned = true;
    } else {
      this.redis = options.redis;
      this.#owned = false;
    }
    this.redis.on('error', this.#onError);
    this.#take = takeTokensCommand(this.redis);
    // A hash tag keeps all of a service's buckets in one Redis Cluster slot, as one script needs.
    const base = `${options.keyPrefix ?? DEFAULT_KEY_PREFIX}{${name}}`;
    this.#serviceKey = `${base}:all`;
    this.#descriptorPrefix = `${base}:d`;
    this.#args = [model.requestsPerSecond / 1000, model.burst];
  }

  /** True while decisions go to Redis. */
  get connected(): boolean {
    return this.redis.status === 'ready';
  }

  /**
   * 0 when the request may pass, else the ms until it could (for
   * `Retry-After`). A number when decided locally (Redis unavailable), a
   * promise when Redis is asked; the promise never rejects.
   */
  check(req: RateLimitRequest): number | Promise<number> {
    if (this.redis.status !== 'ready') return this.#fallback(req);
    // KEYS first (the service bucket, then each descriptor that applies), then their rates and bursts in the same order.
    const keys: (string | number)[] = [this.#serviceKey];
    const rates = this.#args.slice();
    const descriptors = this.model.descriptors;
    if (descriptors !== undefined) {
      for (let i = 0; i < descriptors.length; i++) {
        const d = descriptors[i];
        const key = descriptorKey(d, req);
        if (key === undefined) continue;
        keys.push(`${this.#descriptorPrefix}${i}:${key}`);
        rates.push(d.requestsPerSecond / 1000, d.burst);
      }
    }
    const numKeys = keys.length;
    for (let i = 0; i < rates.length; i++) keys.push(rates[i]);
    return this.#ask(numKeys, keys, req);
  }

  #ask(numKeys: number, args: (string | number)[], req: RateLimitRequest): Promise<number> {
    return this.#take(numKeys, ...args).then(
      (wait) => {
        if (wait > 0) this.counters.limited++;
        else this.counters.allowed++;
        return wait;
      },
      (err: Error) => {
        this.counters.redisErrors++;
        this.#lastError = err.message;
        return this.#fallback(req);
      },
    );
  }

  #fallback(req: RateLimitRequest): number {
    this.counters.fallbacks++;
    const wait = this.local.check(req);
    if (wait > 0) this.counters.limited++;
    else this.counters.allowed++;
    return wait;
  }

  snapshot(): RateLimitSnapshot & { readonly connected: boolean; readonly lastError: string } {
    const local = this.local.snapshot();
    return { ...local, scope: 'global', connected: this.connected, lastError: this.#lastError, counters: { ...this.counters } };
  }

  /** Closes the Redis client if the limiter created it; a shared client is left open. */
  async close(): Promise<void> {
    this.redis.off('error', this.#onError);
    if (this.#owned) this.redis.disconnect();
  }
}
