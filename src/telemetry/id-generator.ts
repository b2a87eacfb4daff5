/**
 * Trace and span ids from a pool of random bytes: one `randomFillSync` fills
 * 4 KiB (256 span ids) at a time, so a request costs a hex slice of the pool,
 * not a call into the CSPRNG. Ids stay unpredictable (crypto-grade source),
 * which W3C Trace Context asks of them.
 */
import { randomFillSync } from 'node:crypto';

const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** `00-` + 32 + `-` + 16 + `-00`: one unsampled W3C traceparent. */
const TRACEPARENT_LENGTH = 55;
/** Random bytes per traceparent: a 16-byte trace id and an 8-byte span id. */
const TRACEPARENT_BYTES = 24;
const PARENTS_PER_POOL = 170;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** The text of a pool of traceparents with only the fixed characters in place. */
function parentTemplate(): Buffer {
  const text = Buffer.alloc(PARENTS_PER_POOL * TRACEPARENT_LENGTH);
  for (let k = 0; k < PARENTS_PER_POOL; k++) {
    const o = k * TRACEPARENT_LENGTH;
    text.write('00-', o, 'latin1');
    text.write('-', o + 35, 'latin1');
    text.write('-00', o + 52, 'latin1');
  }
  return text;
}

function isZero(bytes: Buffer, from: number, length: number): boolean {
  for (let i = from; i < from + length; i++) if (bytes[i] !== 0) return false;
  return true;
}

export class PooledIdGenerator {
  readonly #pool: Buffer;
  /** The pool as hex text, made once per refill, for {@link sliceTraceId}/{@link sliceSpanId}. */
  #hex = '';
  #offset: number;

  /** Unsampled root traceparents, back to back, made once per refill of their own random pool. */
  #parents = '';
  #parentAt = 0;
  readonly #parentPool = Buffer.allocUnsafe(TRACEPARENT_BYTES * PARENTS_PER_POOL);
  readonly #parentText = parentTemplate();

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

  /**
   * The whole `traceparent` of a new unsampled root (`00-<trace id>-<span id>-00`),
   * cut from a string of 170 of them made at once: the header an unsampled call
   * sends is one slice, with no string built per request, and undici writes it
   * as it is. Its ids are cut from it again only if something asks for them.
   */
  sliceTraceparent(): string {
    if (this.#parentAt >= this.#parents.length) this.#refillParents();
    const at = this.#parentAt;
    this.#parentAt = at + TRACEPARENT_LENGTH;
    return this.#parents.slice(at, at + TRACEPARENT_LENGTH);
  }

  #refillParents(): void {
    const pool = this.#parentPool;
    const out = this.#parentText;
    randomFillSync(pool);
    // Hex-encoded straight into the text, around the fixed `00-`, `-` and `-00` written once:
    // one string per 170 headers, with no intermediate strings.
    for (let k = 0, src = 0; k < PARENTS_PER_POOL; k++, src += TRACEPARENT_BYTES) {
      let o = k * TRACEPARENT_LENGTH + 3;
      for (let j = 0; j < TRACEPARENT_BYTES; j++) {
        if (j === 16) o++; // the `-` between trace id and span id
        const byte = pool[src + j]!;
        out[o++] = HEX_DIGITS[byte >> 4]!;
        out[o++] = HEX_DIGITS[byte & 15]!;
      }
      // An all-zero id is invalid; from 24 random bytes next to impossible, but then draw again.
      if (isZero(pool, src, 16) || isZero(pool, src + 16, 8)) {
        randomFillSync(pool, src, TRACEPARENT_BYTES);
        k--;
        src -= TRACEPARENT_BYTES;
      }
    }
    this.#parents = out.toString('latin1');
    this.#parentAt = 0;
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
