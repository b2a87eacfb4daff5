/**
 * Runs the streams' pushes in slices. Building and writing every response
 * of a publish (or of thousands of streams connecting at once) in one go
 * blocks the event loop for as long as that takes, about a second for
 * 10,000 streams, and meanwhile nothing else is served: not the ACKs, not
 * the admin API, not the keepalive pings, whose 1 s timeout then drops
 * healthy connections. Here a slice runs for at most `sliceMs`, and I/O is
 * served between slices.
 *
 * A push queued twice runs once; a push reads the snapshot current when it
 * runs, so a publish during a fan-out costs no extra push.
 */
export interface FanOutOptions {
  /** Longest a slice runs before yielding to I/O. Default 10 ms. */
  readonly sliceMs?: number;
  /** A push that threw (the rest still run). */
  readonly onError?: (err: unknown) => void;
}

export class FanOut {
  readonly #queue = new Set<() => void>();
  readonly #sliceMs: number;
  readonly #onError: (err: unknown) => void;
  #scheduled = false;

  constructor(options: FanOutOptions = {}) {
    this.#sliceMs = options.sliceMs ?? 10;
    this.#onError = options.onError ?? (() => {});
  }

  /** Pushes waiting for their slice. */
  get pending(): number {
    return this.#queue.size;
  }

  /** Queues `push` for the next slice (once, however often it is queued before it runs). */
  schedule(push: () => void): void {
    this.#queue.add(push);
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#run);
  }

  /** Drops every queued push. */
  clear(): void {
    this.#queue.clear();
  }

  readonly #run = (): void => {
    const deadline = performance.now() + this.#sliceMs;
    // Deleting the entry being visited is safe: a Set iterator moves on to the next one.
    for (const push of this.#queue) {
      this.#queue.delete(push);
      try {
        push();
      } catch (err) {
        this.#onError(err);
      }
      if (performance.now() >= deadline) break;
    }
    if (this.#queue.size > 0) setImmediate(this.#run);
    else this.#scheduled = false;
  };
}
