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
  #offset: number;

  constructor(poolBytes = 4096) {
    if (poolBytes < 16) throw new RangeError('poolBytes must hold at least one trace id (16 bytes)');
    this.#pool = Buffer.allocUnsafe(poolBytes);
    this.#offset = poolBytes; // empty: filled on first use
  }

  /** 32 lower-case hex characters, never all zeros (an invalid id). */
  generateTraceId(): string {
    let id: string;
    do id = this.#take(16);
    while (id === ZERO_TRACE);
    return id;
  }

  /** 16 lower-case hex characters, never all zeros. */
  generateSpanId(): string {
    let id: string;
    do id = this.#take(8);
    while (id === ZERO_SPAN);
    return id;
  }

  #take(n: number): string {
    let at = this.#offset;
    if (at + n > this.#pool.length) {
      randomFillSync(this.#pool);
      at = 0;
    }
    this.#offset = at + n;
    return this.#pool.toString('hex', at, at + n);
  }
}
