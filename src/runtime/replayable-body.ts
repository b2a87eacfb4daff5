/**
 * A streamed request body kept for retries, up to a limit (no retry is started
 * past it). The source has one read in flight at a time, shared by the attempts
 * waiting for it: an upstream may answer, or a per-try timeout fire, while the
 * body is still uploading, and the retry then catches up with the read the
 * abandoned attempt started. Only the latest attempt reads on. Past the limit,
 * chunks are kept only until the latest attempt has sent them, so a retry that
 * started within the limit still sends the whole body.
 */
import { Buffer } from 'node:buffer';

/** Default size of a request body that may be replayed on retry. */
export const DEFAULT_REPLAY_LIMIT = 64 * 1024;

type Chunk = Uint8Array;

export class ReplayableBody {
  readonly #source: AsyncIterator<unknown>;
  readonly #limit: number;
  /** Chunks from number #base on (those before it were dropped past the limit). */
  readonly #chunks: Chunk[] = [];
  #base = 0;
  /** Chunks read from the source. */
  #count = 0;
  #size = 0;
  #overflowed = false;
  #done = false;
  #pending: Promise<void> | undefined = undefined;
  /** Number of the latest attempt's body, and how many chunks it has sent. */
  #latest = 0;
  #latestSent = 0;

  constructor(source: AsyncIterable<unknown>, limit = DEFAULT_REPLAY_LIMIT) {
    this.#source = source[Symbol.asyncIterator]();
    this.#limit = limit;
  }

  /** True while every byte read so far is kept: a new attempt can send the whole body. */
  get replayable(): boolean {
    return !this.#overflowed;
  }

  forAttempt(): AsyncIterable<Chunk> {
    const n = ++this.#latest;
    this.#latestSent = 0;
    return { [Symbol.asyncIterator]: () => this.#attemptIterator(n) };
  }

  async *#attemptIterator(n: number): AsyncGenerator<Chunk> {
    let i = 0;
    for (;;) {
      // An abandoned attempt sends nothing more (its request is being torn down anyway).
      if (n !== this.#latest) throw new Error('request body superseded by a retry');
      if (i < this.#count) {
        // Dropped already: this attempt cannot be given every byte, so it fails rather than send part.
        if (i < this.#base) throw new Error('request body exceeded the replay limit and cannot be sent again');
        const chunk = this.#chunks[i - this.#base]!;
        this.#latestSent = ++i;
        if (this.#overflowed) this.#trim();
        yield chunk;
        continue;
      }
      if (this.#done) return;
      const read = (this.#pending ??= this.#read());
      try {
        await read;
      } finally {
        if (this.#pending === read) this.#pending = undefined;
      }
    }
  }

  async #read(): Promise<void> {
    const result = await this.#source.next();
    if (result.done === true) {
      this.#done = true;
      return;
    }
    const chunk = toBytes(result.value);
    this.#count++;
    this.#chunks.push(chunk);
    if (!this.#overflowed) {
      this.#size += chunk.byteLength;
      this.#overflowed = this.#size > this.#limit;
    }
    if (this.#overflowed) this.#trim();
  }

  /** Past the limit: drops the chunks the latest attempt has sent. */
  #trim(): void {
    const sent = this.#latestSent - this.#base;
    if (sent <= 0) return;
    this.#chunks.splice(0, sent);
    this.#base = this.#latestSent;
  }
}

function toBytes(value: unknown): Chunk {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`unsupported request body chunk: ${typeof value}`);
}

/** Whether a body value can be sent any number of times as it is. */
export function isStaticBody(body: unknown): boolean {
  return body == null || typeof body === 'string' || body instanceof Uint8Array;
}

export function isAsyncIterable(body: unknown): body is AsyncIterable<unknown> {
  return body != null && typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}
