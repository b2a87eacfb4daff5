/**
 * Trace and span ids from a pool of random bytes: one `randomFillSync` fills
 * 4 KiB (256 span ids) at a time, so a request costs a hex slice of the pool,
 * not a call into the CSPRNG. Ids stay unpredictable (crypto-grade source),
 * which W3C Trace Context asks of them.
 */
import { randomFillSync } from 'node:crypto';

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

export class PooledIdGenerator {
  readonly #pool: Buffer;
  /** The pool as hex text, made once per refill, for {@link sliceTraceId}/{@link sliceSpanId}. */
  #hex = '';
  #offset: number;

  constructor(poolBytes = 4096) {
    if (poolBytes < 16) throw new RangeError('poolBytes must hold at least one trace id (16 bytes)');
    this.#pool = Buffer.allocUnsafe(poolBytes);
    this.#offset = poolBytes; // empty: filled on first use
  }

  /** 32 lower-case hex characters, never all zeros (an invalid id). */
  generateTraceId(): string {
    let id: string;
    do id = this.#pool.toString('hex', this.#reserve(16), this.#offset);
    while (id === ZERO_TRACE);
    return id;
  }

  /** 16 lower-case hex characters, never all zeros. */
  generateSpanId(): string {
    let id: string;
    do id = this.#pool.toString('hex', this.#reserve(8), this.#offset);
    while (id === ZERO_SPAN);
    return id;
  }

  /**
   * A trace id cut from the pool's hex text: no conversion per id. The slice
   * shares the pool text's memory (and keeps it alive), so this is for ids
   * that die with their request, the contexts of unsampled calls; the SDK's
   * spans, which are kept and exported, get copies from {@link generateTraceId}.
   */
  sliceTraceId(): string {
    let id: string;
    do {
      const at = this.#reserve(16);
      id = this.#hex.slice(at * 2, this.#offset * 2);
    } while (id === ZERO_TRACE);
    return id;
  }

  /** A span id cut from the pool's hex text (see {@link sliceTraceId}). */
  sliceSpanId(): string {
    let id: string;
    do {
      const at = this.#reserve(8);
      id = this.#hex.slice(at * 2, this.#offset * 2);
    } while (id === ZERO_SPAN);
    return id;
  }

  /** Takes `n` unused bytes of the pool (refilling it when short); returns where they start. */
  #reserve(n: number): number {
    let at = this.#offset;
    if (at + n > this.#pool.length) {
      randomFillSync(this.#pool);
      this.#hex = this.#pool.toString('hex');
      at = 0;
    }
    this.#offset = at + n;
    return at;
  }
}
