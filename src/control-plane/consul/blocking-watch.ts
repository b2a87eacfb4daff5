/**
 * One Consul blocking query, repeated for as long as the watch lives:
 * read with the last index, hand a changed result over, read again. Failures
 * (Consul down, 500 "No cluster leader", a hung server past `wait`) keep the
 * last result in force, are reported to the source status, and are retried
 * after a jittered exponential backoff that resets on the next success.
 */
import { nextIndex } from './blocking-index.ts';
import { QueryContext, describeConsulError } from './client.ts';
import type { QueryResult } from './client.ts';
import type { SourceStatus } from './source-status.ts';

export interface BackoffSettings {
  /** First retry delay. Default 250 ms. */
  readonly baseMs?: number;
  /** Longest retry delay. Default 3000 ms: a recovered Consul is picked up within seconds. */
  readonly maxMs?: number;
}

export interface BlockingWatchOptions<T> {
  /** Names the watch in the source status and logs, e.g. `health/reviews@dc1`. */
  readonly name: string;
  readonly read: (index: number, ctx: QueryContext) => Promise<QueryResult<T>>;
  /** A result whose index differs from the last one delivered (the first result always). */
  readonly onResult: (body: T | undefined, index: number) => void;
  readonly status: SourceStatus;
  readonly backoff?: BackoffSettings;
  readonly onError?: (message: string, retryInMs: number) => void;
}

export class BlockingWatch<T> {
  readonly name: string;
  readonly #o: BlockingWatchOptions<T>;
  #index = 0;
  #delivered: number | undefined;
  #failures = 0;
  #closed = false;
  #ctx: QueryContext | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: BlockingWatchOptions<T>) {
    this.name = options.name;
    this.#o = options;
    queueMicrotask(() => void this.#run());
  }

  /** The index the next read will send. */
  get index(): number {
    return this.#index;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#ctx?.cancel();
    this.#o.status.forget(this.name);
  }

  async #run(): Promise<void> {
    while (!this.#closed) {
      const ctx = new QueryContext();
      this.#ctx = ctx;
      let result: QueryResult<T>;
      try {
        result = await this.#o.read(this.#index, ctx);
      } catch (err) {
        if (this.#closed) return;
        const delay = this.#delay();
        const message = describeConsulError(err);
        this.#o.status.failed(this.name, message);
        this.#o.onError?.(message, delay);
        await new Promise<void>((resolve) => {
          this.#timer = setTimeout(resolve, delay);
          this.#timer.unref?.();
        });
        continue;
      }
      if (this.#closed) return;
      this.#failures = 0;
      this.#o.status.ok(this.name, result.index, result.knownLeader);
      this.#index = nextIndex(this.#index, result.index);
      if (this.#delivered !== result.index) {
        this.#delivered = result.index;
        this.#o.onResult(result.body, result.index);
      }
    }
  }

  #delay(): number {
    const base = this.#o.backoff?.baseMs ?? 250;
    const max = this.#o.backoff?.maxMs ?? 3000;
    const exp = Math.min(max, base * 2 ** Math.min(this.#failures, 16));
    this.#failures += 1;
    // ±20 % so that replicas and watches do not retry in lockstep.
    return Math.round(exp * (0.8 + Math.random() * 0.4));
  }
}
