/**
 * Inbound side of node:http/https servers: each request's handler runs inside
 * a request scope (AsyncLocalStorage) holding the deadline the caller sent, so
 * outbound calls made while handling it never outlive the caller, and the
 * caller's address, for ring-hash on source IP.
 * Installed by wrapping `Server.prototype.emit` for 'request' (and the events
 * Node emits instead of it: 'checkContinue', 'checkExpectation', 'upgrade',
 * 'connect') and, when an inbound connection gate is given (mTLS), for
 * 'connection'; with an observer, also `ServerResponse.prototype.write` and
 * `end`, to count the response body bytes sent.
 */
import http from 'node:http';
import https from 'node:https';
import type { Server as NetServer, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { deadlineStorage, scopeFromInboundHeader, TIMEOUT_HEADER, type RequestScope } from '../../policy/deadline.ts';
import { RESPONSE_FLAGS_HEADER, ResponseFlags } from '../../policy/response-flags.ts';
import { throwUncaught } from './uncaught.ts';
// Servers the mesh runs itself (the metrics endpoint) carry this mark: their requests are not observed.
import { INTERNAL_SERVER } from '../../telemetry/metrics-server.ts';

type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;

const kObserved = Symbol('enmesh.inbound');
/**
 * What the close listener needs of a request: when it reached the server, its declared body size,
 * and the body bytes written while Node does not know the total (chunked, or ended by closing).
 */
interface Observed {
  started: number;
  requestBytes: number;
  responseBytes: number;
}
/**
 * Node's own fields (unchanged since its early versions): `_contentLength` is the body length Node knows
 * before sending it (the application's Content-Length, or the whole body handed to end() before any
 * write); `_hasBody` is false when the response carries no body (HEAD, 204, 304) whatever was written.
 */
type ObservedResponse = http.ServerResponse & { [kObserved]?: Observed; _contentLength?: number | null; _hasBody?: boolean };
type WriteFn = (this: ObservedResponse, chunk: unknown, encoding?: unknown, callback?: unknown) => unknown;

/** Whether Node sends the body without knowing its length beforehand: then the write/end wrappers count it. */
function unannounced(res: ObservedResponse): boolean {
  return res.chunkedEncoding || typeof res._contentLength !== 'number';
}

/** Bytes of a chunk given to write()/end() (0 for end()'s callback or no chunk). */
function chunkBytes(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  return (chunk as Uint8Array | null | undefined)?.byteLength ?? 0;
}

/** The flags of a request the mesh answered itself (the inbound checks' 429 RL, 503 OM, FI...): they mark their response. */
function refusalFlags(res: ObservedResponse): string {
  if (res.statusCode < 400) return '';
  const flags = res.getHeader(RESPONSE_FLAGS_HEADER);
  return typeof flags === 'string' ? flags : '';
}

/** Body bytes of a finished response: the length Node knew, else what was counted. */
function responseBytes(res: ObservedResponse, seen: Observed): number {
  if (res._hasBody === false) return 0;
  return unannounced(res) ? seen.responseBytes : (res._contentLength as number);
}

export interface ServerHook {
  uninstall(): void;
}

/**
 * Told about every inbound request once its response is done, or once its
 * caller went away before that: status 0 and flags `DC`, as Envoy reports it.
 */
export type InboundObserver = (status: number, durationMs: number, requestBytes: number, responseBytes: number, req: http.IncomingMessage, flags: string) => void;

/**
 * Sees every new connection of the application's plain-HTTP servers (and,
 * through grpc/inbound-security.ts, its gRPC servers' listeners) before the
 * server does (inbound mTLS). Returns false to leave it alone; true when it
 * took the socket, and then calls `handOver` with what the server should
 * read (the decrypted socket, or the plaintext one), or never.
 */
export type InboundConnectionGate = (server: NetServer, socket: Socket, handOver: (socket: Socket) => void) => boolean;

/** Returned by an admission that has nothing to release (no listener is added then). */
export const NOTHING_TO_RELEASE = (): void => {};

/** Decides whether a request reaches the application: undefined = refused (already answered), else call when done. */
export type InboundAdmission = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
) => (() => void) | undefined | Promise<(() => void) | undefined>;

/** A server span for an inbound request (tracing): the handler runs in its context. */
export interface InboundSpan {
  run<T>(fn: () => T): T;
  /** `status` 0 and flags `DC`: the caller went away first. */
  end(status: number, flags?: string): void;
}
export type InboundTracer = (req: http.IncomingMessage) => InboundSpan | undefined;

/** Sees an https server's connections before the server: the raw one, then the finished handshake; true: refused. */
export interface InboundTlsGate {
  connection(server: https.Server, socket: Socket): boolean;
  secureConnection(server: https.Server, socket: TLSSocket): boolean;
}

export function installServerHook(
  observe?: InboundObserver,
  admit?: InboundAdmission,
  tracer?: () => InboundTracer | undefined,
  gate?: InboundConnectionGate,
  tlsGate?: InboundTlsGate,
): ServerHook {
  const protos = [http.Server.prototype, https.Server.prototype] as unknown as { emit: Emit }[];
  const originals = protos.map((p) => p.emit);
  const hadOwn = protos.map((p) => Object.hasOwn(p, 'emit'));
  // Per-request state rides on the response under one symbol, so every response keeps one shape and the
  // close listener is one function for all of them (no closure or once() wrapper per request).
  // 'close' rather than 'finish': it also comes when the caller disconnects before the response is done.
  const onClose =
    observe === undefined
      ? undefined
      : function closed(this: ObservedResponse): void {
          const seen = this[kObserved]!;
          if (this.writableFinished) observe(this.statusCode, performance.now() - seen.started, seen.requestBytes, responseBytes(this, seen), this.req, refusalFlags(this));
          else observe(0, performance.now() - seen.started, seen.requestBytes, 0, this.req, ResponseFlags.DOWNSTREAM_CANCEL);
        };
  const wrapped = originals.map((original, i) =>
    // Fixed parameters rather than a rest array: emit runs for every event of every server.
    function emit(this: unknown, event: string | symbol, a?: unknown, b?: unknown, c?: unknown): boolean {
      // 'checkContinue'/'checkExpectation' replace 'request' when the server listens for them (Expect headers).
      if (event === 'request' || event === 'checkContinue' || event === 'checkExpectation') return request(this, original, event, a as http.IncomingMessage, b as http.ServerResponse);
      if (event === 'upgrade' || event === 'connect') return upgrade(this, original, event, a as http.IncomingMessage, b as Socket, c as Buffer);
      // Plain HTTP servers get mesh mTLS by the first byte; https servers terminate TLS themselves and get the SVID instead.
      if (event === 'connection' && gate !== undefined && i === 0 && this instanceof http.Server && (this as unknown as Record<symbol, unknown>)[INTERNAL_SERVER] !== true) {
        const server = this;
        if (gate(server, a as Socket, (socket) => void original.call(server, 'connection', socket))) return true;
      }
      if (i === 1 && tlsGate !== undefined && (event === 'connection' || event === 'secureConnection') && (this as Record<symbol, unknown>)[INTERNAL_SERVER] !== true) {
        const server = this as https.Server;
        if (event === 'connection' ? tlsGate.connection(server, a as Socket) : tlsGate.secureConnection(server, a as TLSSocket)) return true;
      }
      // eslint-disable-next-line prefer-rest-params -- passes every argument on without building an array first
      return Reflect.apply(original, this, arguments);
    } as Emit,
  );

  function request(server: unknown, original: Emit, event: string, req: http.IncomingMessage, res: http.ServerResponse): boolean {
    // Read from rawHeaders: req.headers is built on first use, and an application that never reads it should not pay for that.
    const raw = req.rawHeaders;
    let timeout: string | undefined;
    let length: string | undefined;
    for (let k = 0; k < raw.length; k += 2) {
      const name = raw[k]!;
      if (name.length === TIMEOUT_HEADER.length && (name === TIMEOUT_HEADER || name.toLowerCase() === TIMEOUT_HEADER)) timeout ??= raw[k + 1];
      else if (name.length === 14 && (name === 'content-length' || name.toLowerCase() === 'content-length')) length ??= raw[k + 1];
    }
    const now = performance.now();
    const scope = scopeFromInboundHeader(timeout, now);
    scope.sourceIp = req.socket?.remoteAddress;
    if ((server as Record<symbol, unknown>)[INTERNAL_SERVER] === true) return deadlineStorage.run(scope, () => original.call(server, event, req, res));
    if (onClose !== undefined) {
      (res as ObservedResponse)[kObserved] = { started: now, requestBytes: Number(length ?? 0) || 0, responseBytes: 0 };
      res.on('close', onClose);
    }
    const admission = admit === undefined ? NOTHING_TO_RELEASE : admit(req, res);
    if (admission === undefined) return true; // refused: answered without the application
    if (typeof admission === 'function') return proceed(server, original, event, req, res, scope, admission);
    // Authentication/authorization first: the application sees the request once it passed.
    void admission.then((release) => {
      if (release !== undefined) uncaught(() => proceed(server, original, event, req, res, scope, release));
    });
    return true;
  }

  /**
   * An upgrade request (WebSocket), or a CONNECT, is a request too: the same
   * request scope and the same admission (authentication, authorization,
   * limits) before the application's 'upgrade' or 'connect' listener gets the
   * socket. A refusal is answered on the socket, through a response bound to
   * it for that purpose only.
   */
  function upgrade(server: unknown, original: Emit, event: 'upgrade' | 'connect', req: http.IncomingMessage, socket: Socket, head: Buffer): boolean {
    const scope = scopeFromInboundHeader(headerOf(req.rawHeaders, TIMEOUT_HEADER), performance.now());
    scope.sourceIp = socket.remoteAddress;
    const handOver = (): boolean => deadlineStorage.run(scope, () => original.call(server, event, req, socket, head));
    if (admit === undefined || (server as Record<symbol, unknown>)[INTERNAL_SERVER] === true) return handOver();
    const res = new http.ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    const admitted = (release: (() => void) | undefined): void => {
      if (release === undefined) {
        // Refused: the answer is written; the connection ends with it.
        res.once('finish', () => socket.destroySoon());
        return;
      }
      res.detachSocket(socket);
      handOver();
      // The request ends with the hand-over: a tunnel's lifetime is no request latency (adaptive
      // concurrency), and what the admission hung on the response's end (a fault's slot) ends too.
      release();
      res.emit('close');
    };
    const admission = admit(req, res);
    if (typeof admission === 'function' || admission === undefined) admitted(admission);
    else void admission.then((release) => uncaught(() => admitted(release)));
    return true;
  }

  /**
   * Runs the application's handler from a promise callback as Node's server
   * runs it from its parser: what it throws is an uncaught exception, not an
   * unhandled rejection that an application's 'uncaughtException' handler
   * would never see.
   */
  function uncaught(fn: () => unknown): void {
    try {
      fn();
    } catch (err) {
      throwUncaught(err);
    }
  }

  function proceed(server: unknown, original: Emit, event: string, req: http.IncomingMessage, res: http.ServerResponse, scope: RequestScope, release: () => void): boolean {
    if (release !== NOTHING_TO_RELEASE) res.once('close', release);
    const span = tracer?.()?.(req);
    if (span === undefined) return deadlineStorage.run(scope, () => original.call(server, event, req, res));
    res.once('close', () => (res.writableFinished ? span.end(res.statusCode) : span.end(0, ResponseFlags.DOWNSTREAM_CANCEL)));
    return deadlineStorage.run(scope, () => span.run(() => original.call(server, event, req, res)));
  }

  /** A header's first value from `rawHeaders` (names compared case-insensitively). */
  function headerOf(raw: readonly string[], lowerName: string): string | undefined {
    for (let k = 0; k < raw.length; k += 2) if (raw[k]!.toLowerCase() === lowerName) return raw[k + 1];
    return undefined;
  }

  // Response body bytes: when Node knows the length before sending (Content-Length, which it computes
  // itself for a body handed whole to end()) that is the count, and strings are not measured twice;
  // otherwise (chunked, or ended by closing) the writes are summed. Wrapped once on the prototype, so
  // nothing is allocated per request, and streaming and backpressure stay Node's (the wrappers return
  // what Node returns).
  const resProto = http.ServerResponse.prototype as unknown as { write: WriteFn; end: WriteFn };
  const hadOwnWrite = Object.hasOwn(resProto, 'write');
  const hadOwnEnd = Object.hasOwn(resProto, 'end');
  const originalWrite = resProto.write;
  const originalEnd = resProto.end;
  const write: WriteFn = function write(chunk, encoding, callback) {
    const seen = this[kObserved];
    if (seen === undefined || this.writableEnded) return originalWrite.call(this, chunk, encoding, callback);
    const ret = originalWrite.call(this, chunk, encoding, callback);
    // After the call: the first write has decided the framing.
    if (unannounced(this)) seen.responseBytes += chunkBytes(chunk, encoding);
    return ret;
  };
  const end: WriteFn = function end(chunk, encoding, callback) {
    const seen = this[kObserved];
    if (seen === undefined || this.writableEnded) return originalEnd.call(this, chunk, encoding, callback);
    const ret = originalEnd.call(this, chunk, encoding, callback);
    if (unannounced(this)) seen.responseBytes += chunkBytes(chunk, encoding);
    return ret;
  };
  if (observe !== undefined) {
    resProto.write = write;
    resProto.end = end;
  }

  protos.forEach((p, i) => {
    p.emit = wrapped[i]!;
  });
  let installed = true;
  return {
    uninstall() {
      if (!installed) return;
      installed = false;
      if (observe !== undefined) {
        // As for emit: leave a later wrapper's chain intact, and remove our own property when Node had none.
        if (resProto.write === write) {
          if (hadOwnWrite) resProto.write = originalWrite;
          else delete (resProto as { write?: WriteFn }).write;
        }
        if (resProto.end === end) {
          if (hadOwnEnd) resProto.end = originalEnd;
          else delete (resProto as { end?: WriteFn }).end;
        }
      }
      protos.forEach((p, i) => {
        if (p.emit !== wrapped[i]) return; // someone wrapped us since: leave their chain intact
        // Both prototypes usually inherit emit from EventEmitter: remove our own property then.
        if (hadOwn[i]) p.emit = originals[i]!;
        else delete (p as { emit?: Emit }).emit;
      });
    },
  };
}
