/**
 * Makes a request body replayable for retries without ever sending a corrupted
 * replay: bytes are remembered up to a limit while the first attempt sends
 * them; past the limit the body is marked non-replayable and no retry happens.
 */
import { Buffer } from 'node:buffer';

/** Default size of a request body that may be replayed on retry. */
export const DEFAULT_REPLAY_LIMIT = 64 * 1024;

type Chunk = Uint8Array;

export class ReplayableBody {
  readonly #iterator: AsyncIterator<unknown>;
  readonly #limit: number;
  readonly #chunks: Chunk[] = [];
  #size = 0;
  #overflowed = false;
  #done = false;
  #reading = false;

  constructor(source: AsyncIterable<unknown>, limit = DEFAULT_REPLAY_LIMIT) {
    this.#iterator = source[Symbol.asyncIterator]();
    this.#limit = limit;
  }

  /** True while every byte sent so far is still remembered. */
  get replayable(): boolean {
    return !this.#overflowed;
  }

  /** A fresh iterable for one attempt: remembered bytes first, then the rest of the source. */
  forAttempt(): AsyncIterable<Chunk> {
    return { [Symbol.asyncIterator]: () => this.#attemptIterator() };
  }

  async *#attemptIterator(): AsyncGenerator<Chunk> {
    if (this.#overflowed) throw new Error('request body exceeded the replay limit and cannot be sent again');
    let i = 0;
    for (;;) {
      if (i < this.#chunks.length) {
        yield this.#chunks[i++]!;
        continue;
      }
      if (this.#done) return;
      if (this.#reading) throw new Error('request body is already being read by another attempt');
      this.#reading = true;
      let result: IteratorResult<unknown>;
      try {
        result = await this.#iterator.next();
      } finally {
        this.#reading = false;
      }
      if (result.done === true) {
        this.#done = true;
        return;
      }
      const chunk = toBytes(result.value);
      if (!this.#overflowed) {
        this.#size += chunk.byteLength;
        if (this.#size > this.#limit) {
          this.#overflowed = true;
          this.#chunks.length = 0;
        } else {
          this.#chunks.push(chunk);
          i++;
        }
      }
      yield chunk;
    }
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
