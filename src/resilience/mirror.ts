/**
 * Traffic mirroring (shadowing) for one route: a share of the requests is
 * also sent, fire-and-forget, to another backend. The mirror's response is
 * discarded and nothing about it — slowness, errors, a thrown exception —
 * ever reaches the caller. As in Envoy, the mirrored request's Host gets a
 * `-shadow` suffix so the receiver can tell shadow traffic apart.
 *
 * The transport is abstracted as a {@link MirrorSender} (the runtime wires
 * it to an undici dispatch to an endpoint of the mirror backend). Mirrors in
 * flight are capped, so a slow mirror backend cannot pile up sockets and
 * memory in the caller's process: past the cap, mirrors are dropped and counted.
 */
import { Buffer } from 'node:buffer';
import type { MirrorPolicyModel } from '../model/types.ts';

/** Default cap on mirrored requests in flight per route. */
export const DEFAULT_MAX_MIRRORS_IN_FLIGHT = 64;
/** Default largest body copied for a mirror (the runtime's replay limit). */
export const DEFAULT_MIRROR_BODY_LIMIT = 64 * 1024;

export type MirrorHeaders = Record<string, string | string[]>;

export interface MirrorRequest {
  readonly method: string;
  /** Path with query, as sent upstream by the main request. */
  readonly path: string;
  /** A copy of the main request's headers, Host suffixed with `-shadow`. */
  readonly headers: MirrorHeaders;
  readonly body: Uint8Array | string | null;
}

/**
 * Sends one mirrored request to the mirror backend and reads (discards) its
 * response. It may return a promise; its rejection or a throw is counted,
 * nothing more.
 */
export type MirrorSender = (req: MirrorRequest) => Promise<unknown> | void;

export interface MirrorCounters {
  mirrored: number;
  failed: number;
  /** Not sent: the in-flight cap was reached. */
  dropped: number;
  /** Not sent: the body was larger than the copy limit. */
  tooLarge: number;
}

export interface MirrorSnapshot {
  readonly name: string;
  readonly target: string;
  readonly percent: number;
  readonly inFlight: number;
  readonly counters: Readonly<MirrorCounters>;
}

export interface MirrorOptions {
  readonly random?: () => number;
  readonly maxInFlight?: number;
  /** Largest streamed body copied for the mirror. */
  readonly bodyLimit?: number;
}

export class Mirror {
  readonly name: string;
  readonly policy: MirrorPolicyModel;
  readonly counters: MirrorCounters = { mirrored: 0, failed: 0, dropped: 0, tooLarge: 0 };
  readonly #sender: MirrorSender;
  readonly #random: () => number;
  readonly #maxInFlight: number;
  readonly #bodyLimit: number;
  #inFlight = 0;
  readonly #done = (): void => {
    this.#inFlight--;
  };
  readonly #failed = (): void => {
    this.#inFlight--;
    this.counters.failed++;
  };

  constructor(name: string, policy: MirrorPolicyModel, sender: MirrorSender, options: MirrorOptions = {}) {
    this.name = name;
    this.policy = policy;
    this.#sender = sender;
    this.#random = options.random ?? Math.random;
    this.#maxInFlight = options.maxInFlight ?? DEFAULT_MAX_MIRRORS_IN_FLIGHT;
    this.#bodyLimit = options.bodyLimit ?? DEFAULT_MIRROR_BODY_LIMIT;
  }

  /** The percentage decision for one request. */
  shouldMirror(): boolean {
    const p = this.policy.percent;
    return p >= 100 || (p > 0 && this.#random() * 100 < p);
  }

  /** Sends a mirror of a request whose body is static (absent, a string or bytes). Never throws. */
  send(method: string, path: string, headers: Readonly<Record<string, string | string[] | undefined>>, body: Uint8Array | string | null | undefined): void {
    if (this.#inFlight >= this.#maxInFlight) {
      this.counters.dropped++; // before copying anything
      return;
    }
    this.#dispatch(method, path, shadowHeaders(headers), body ?? null);
  }

  #dispatch(method: string, path: string, headers: MirrorHeaders, body: Uint8Array | string | null): void {
    if (this.#inFlight >= this.#maxInFlight) {
      this.counters.dropped++;
      return;
    }
    const req: MirrorRequest = { method, path, headers, body };
    this.#inFlight++;
    this.counters.mirrored++;
    try {
      const p = this.#sender(req);
      if (p !== undefined) p.then(this.#done, this.#failed);
      else this.#inFlight--;
    } catch {
      this.#failed();
    }
  }

  /**
   * For a streamed body: returns the body to send on the main request (the
   * same chunks, unchanged) and sends the mirror with a copy once the stream
   * has ended. Past the body limit the copy is dropped and no mirror is sent;
   * if the main request stops reading early, no mirror is sent either.
   */
  tee(source: AsyncIterable<unknown>, method: string, path: string, headers: Readonly<Record<string, string | string[] | undefined>>): AsyncIterable<Uint8Array> {
    // Headers are copied now: the main request may mutate its own record later.
    const copied = shadowHeaders(headers);
    const limit = this.#bodyLimit;
    const self = this;
    return (async function* teeBody(): AsyncGenerator<Uint8Array> {
      const chunks: Uint8Array[] = [];
      let size = 0;
      for await (const value of source) {
        const chunk = toBytes(value);
        if (size <= limit) {
          size += chunk.byteLength;
          if (size <= limit) chunks.push(chunk);
          else chunks.length = 0;
        }
        yield chunk;
      }
      if (size > limit) {
        self.counters.tooLarge++;
        return;
      }
      self.#dispatch(method, path, copied, Buffer.concat(chunks));
    })();
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  snapshot(): MirrorSnapshot {
    const p = this.policy;
    return {
      name: this.name,
      target: p.subset === undefined ? p.service : `${p.service}/${p.subset}`,
      percent: p.percent,
      inFlight: this.#inFlight,
      counters: { ...this.counters },
    };
  }
}

/** A copy of the headers with Host (or :authority) suffixed `-shadow`, as Envoy marks shadow traffic. */
export function shadowHeaders(headers: Readonly<Record<string, string | string[] | undefined>>): MirrorHeaders {
  const out: MirrorHeaders = {};
  for (const k of Object.keys(headers)) {
    const v = headers[k];
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.slice() : v;
  }
  for (const name of ['host', ':authority']) {
    const h = out[name];
    if (typeof h === 'string') out[name] = shadowHost(h);
  }
  return out;
}

/** `reviews:9080` → `reviews-shadow:9080`; `reviews` → `reviews-shadow`. */
export function shadowHost(host: string): string {
  const colon = host.lastIndexOf(':');
  // An IPv6 literal's colons are inside brackets: only a colon after `]` starts a port.
  const hasPort = colon > 0 && colon > host.lastIndexOf(']');
  return hasPort ? `${host.slice(0, colon)}-shadow${host.slice(colon)}` : `${host}-shadow`;
}

function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new TypeError(`unsupported request body chunk: ${typeof value}`);
}
