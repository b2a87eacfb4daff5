/**
 * Envoy-style concurrency limits for calls to one service (`connectionPool`):
 * at most `maxRequests` calls in flight; up to `maxPendingRequests` more wait
 * in a bounded FIFO for a slot; anything beyond fails fast (the call answers
 * 503 with flag UO). Nothing ever queues without bound: with a limit set and
 * `maxPendingRequests` absent, the queue holds at most
 * {@link DEFAULT_MAX_PENDING} calls (Envoy's default).
 *
 * `maxConnections` bounds the same slots: an HTTP/1.1 connection carries one
 * request at a time (undici does not pipeline by default), so the connections
 * in use to a service are its requests in flight, and a request that would
 * need one more waits in the queue, as in Envoy's HTTP/1 pool.
 *
 * The queue is a preallocated ring of waiters, so admitting, queueing and
 * releasing allocate nothing.
 */
import type { ConnectionPoolModel } from '../model/types.ts';

/** Envoy's default for max_pending_requests. */
export const DEFAULT_MAX_PENDING = 1024;

/** {@link ConcurrencyLimit.acquire} results. */
export const ADMITTED = 1;
export const QUEUED = 0;
export const OVERFLOW = -1;
export type AcquireResult = typeof ADMITTED | typeof QUEUED | typeof OVERFLOW;

/** A queued call; `onSlot` runs once when it is admitted (it then holds a slot and must release it). */
export interface SlotWaiter {
  onSlot(): void;
}

export interface ConcurrencyCounters {
  /** Calls admitted (at once or after waiting). */
  admitted: number;
  /** Calls that had to wait for a slot. */
  queued: number;
  /** Calls refused: every slot and queue place taken (flag UO). */
  overflow: number;
  /** Queued calls that gave up before a slot freed (deadline, caller abort). */
  cancelled: number;
}

export interface ConcurrencySnapshot {
  readonly name: string;
  readonly active: number;
  readonly pending: number;
  /** Infinity when unlimited. */
  readonly maxRequests: number;
  /** Infinity when unlimited. */
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly counters: Readonly<ConcurrencyCounters>;
}

export class ConcurrencyLimit {
  readonly name: string;
  readonly maxRequests: number;
  readonly maxConnections: number;
  /** Calls in flight at once: the smaller of the two limits. */
  readonly capacity: number;
  readonly maxPendingRequests: number;
  readonly counters: ConcurrencyCounters = { admitted: 0, queued: 0, overflow: 0, cancelled: 0 };
  #active = 0;
  #pending = 0;
  readonly #ring: (SlotWaiter | undefined)[];
  #head = 0;
  /** Ring entries from head, cancelled ones included. */
  #size = 0;

  constructor(name: string, pool: ConnectionPoolModel | undefined) {
    this.name = name;
    this.maxRequests = pool?.maxRequests ?? Infinity;
    this.maxConnections = pool?.maxConnections ?? Infinity;
    this.capacity = Math.min(this.maxRequests, this.maxConnections);
    this.maxPendingRequests = this.capacity === Infinity ? 0 : (pool?.maxPendingRequests ?? DEFAULT_MAX_PENDING);
    this.#ring = new Array<SlotWaiter | undefined>(this.maxPendingRequests).fill(undefined);
  }

  get active(): number {
    return this.#active;
  }

  get pending(): number {
    return this.#pending;
  }

  /**
   * ADMITTED: the call holds a slot now. QUEUED: `waiter.onSlot()` runs when
   * one frees (call {@link cancel} if the call gives up first). OVERFLOW: refuse it.
   */
  acquire(waiter: SlotWaiter): AcquireResult {
    if (this.#active < this.capacity) {
      this.#active++;
      this.counters.admitted++;
      return ADMITTED;
    }
    if (this.#pending < this.maxPendingRequests) {
      if (this.#size === this.maxPendingRequests) this.#compact();
      this.#ring[(this.#head + this.#size) % this.maxPendingRequests] = waiter;
      this.#size++;
      this.#pending++;
      this.counters.queued++;
      return QUEUED;
    }
    this.counters.overflow++;
    return OVERFLOW;
  }

  /** An admitted call ended: its slot goes to the first waiter, if any. */
  release(): void {
    while (this.#size > 0) {
      const waiter = this.#ring[this.#head];
      this.#ring[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.maxPendingRequests;
      this.#size--;
      if (waiter === undefined) continue; // cancelled
      this.#pending--;
      this.counters.admitted++;
      // The slot passes straight to the waiter: `active` does not change.
      waiter.onSlot();
      return;
    }
    if (this.#active > 0) this.#active--;
  }

  /** A queued call gave up. True when it was still queued (it then holds nothing). */
  cancel(waiter: SlotWaiter): boolean {
    const cap = this.maxPendingRequests;
    for (let i = 0; i < this.#size; i++) {
      const at = (this.#head + i) % cap;
      if (this.#ring[at] === waiter) {
        this.#ring[at] = undefined;
        this.#pending--;
        this.counters.cancelled++;
        // Trim cancelled entries at the head so `size` does not hold dead places.
        while (this.#size > 0 && this.#ring[this.#head] === undefined) {
          this.#head = (this.#head + 1) % cap;
          this.#size--;
        }
        return true;
      }
    }
    return false;
  }

  /** Closes the gaps cancelled waiters left inside the queue (rare: only when the ring is full of them). */
  #compact(): void {
    const cap = this.maxPendingRequests;
    const live: SlotWaiter[] = [];
    for (let i = 0; i < this.#size; i++) {
      const w = this.#ring[(this.#head + i) % cap];
      if (w !== undefined) live.push(w);
    }
    this.#ring.fill(undefined);
    for (let i = 0; i < live.length; i++) this.#ring[i] = live[i];
    this.#head = 0;
    this.#size = live.length;
  }

  snapshot(): ConcurrencySnapshot {
    return {
      name: this.name,
      active: this.#active,
      pending: this.#pending,
      maxRequests: this.maxRequests,
      maxConnections: this.maxConnections,
      maxPendingRequests: this.maxPendingRequests,
      counters: { ...this.counters },
    };
  }
}
