/**
 * What `http.request()` returns for a mesh service: a Writable that behaves
 * like `http.ClientRequest` for the API applications and HTTP libraries use
 * (headers, write/end, 'response', abort/destroy, setTimeout, signal), and
 * runs the request through the mesh's dispatcher so routing, balancing,
 * retries and timeouts are the same code as for undici and fetch.
 *
 * The body is buffered up to the replay limit so it can be retried; a larger
 * body is streamed as it is written and that request is not retried.
 */
import { PassThrough, Readable, Writable, type Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HeaderRecord } from '../../runtime/headers.ts';
import { RequestSocket } from './request-socket.ts';
import { validateHeader } from './validate.ts';
import { throwUncaught } from './uncaught.ts';

/** A header value as the application gave it (Node keeps it so, and `getHeader()` returns it so). */
export type OutgoingValue = number | string | readonly string[];

export interface MeshRequestTarget {
  readonly protocol: 'http:' | 'https:';
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly method: string;
  /** The application's headers in its order, names as it wrote them. */
  readonly headers: ReadonlyArray<readonly [name: string, value: OutgoingValue]>;
  /** Node's `auth` option (`user:password`): a Basic Authorization header unless one is set. */
  readonly auth?: string;
  readonly timeout?: number;
  readonly signal?: AbortSignal;
  /** Node's `setHost` option: false when the application asked for no default Host header. */
  readonly setHost?: boolean;
  /** Node's `joinDuplicateHeaders` option: repeated response headers are all joined, none dropped. */
  readonly joinDuplicateHeaders?: boolean;
}

/** The response handed to 'response' listeners: an IncomingMessage look-alike. */
export class MeshIncomingMessage extends Readable {
  statusCode = 0;
  statusMessage = '';
  headers: Record<string, string | string[]> = {};
  trailers: Record<string, string> = {};
  /** undici's raw name/value list (or parsed headers) for each, turned into strings only if read. */
  #rawHeaderSource: RawSource = EMPTY_SOURCE;
  #rawHeaders: string[] | undefined = undefined;
  #rawTrailerSource: RawSource = EMPTY_SOURCE;
  #rawTrailers: string[] | undefined = undefined;
  httpVersion = '1.1';
  httpVersionMajor = 1;
  httpVersionMinor = 1;
  complete = false;
  aborted = false;
  /** As a client-side IncomingMessage: no URL and no method. */
  url = '';
  method: string | null = null;
  readonly req: MeshClientRequest;
  #controller: Dispatcher.DispatchController | undefined;

  constructor(req: MeshClientRequest, controller: Dispatcher.DispatchController) {
    super();
    this.req = req;
    this.#controller = controller;
  }
  /** Names as the upstream sent them (unless the mesh changed the response), values in order. */
  get rawHeaders(): string[] {
    return (this.#rawHeaders ??= rawHeaderStrings(this.#rawHeaderSource));
  }
  set rawHeaders(value: string[]) {
    this.#rawHeaders = value;
  }
  get rawTrailers(): string[] {
    return (this.#rawTrailers ??= rawHeaderStrings(this.#rawTrailerSource));
  }
  set rawTrailers(value: string[]) {
    this.#rawTrailers = value;
  }
  /** @internal the response's headers as undici gave them: `raw` when it kept the list, else the parsed ones. */
  setHeaders(raw: unknown, parsed: HeaderRecord, joinAll: boolean): void {
    this.#rawHeaderSource = { raw, parsed };
    this.headers = nodeHeaders(parsed, joinAll);
  }
  /** @internal */
  setTrailers(raw: unknown, parsed: HeaderRecord | null | undefined, joinAll: boolean): void {
    this.#rawTrailerSource = { raw, parsed: parsed ?? {} };
    this.trailers = nodeHeaders(parsed ?? {}, joinAll) as Record<string, string>;
  }
  /** As Node's: every header's values in an array, duplicates kept. */
  get headersDistinct(): Record<string, string[]> {
    return distinct(this.rawHeaders);
  }
  get trailersDistinct(): Record<string, string[]> {
    return distinct(this.rawTrailers);
  }
  /** The request's socket (see RequestSocket), as `IncomingMessage.socket`. */
  get socket(): RequestSocket | null {
    return this.req.socket;
  }
  get connection(): RequestSocket | null {
    return this.req.socket;
  }
  override _read(): void {
    this.#controller?.resume();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.complete) {
      // As Node's IncomingMessage: a response that ends before it is complete was aborted.
      if (!this.aborted) {
        this.aborted = true;
        this.emit('aborted');
      }
      this.#controller?.abort(err ?? new Error('response destroyed'));
    }
    this.#controller = undefined;
    // As Node's IncomingMessage: the error is emitted only to a listener (a request aborted
    // while its response is unread must not throw an unhandled 'error').
    cb(this.listenerCount('error') === 0 ? null : err);
  }
  /** As Node's: the callback listens for the response's own 'timeout', which comes with the request's. */
  setTimeout(ms: number, cb?: () => void): this {
    if (cb !== undefined) this.on('timeout', cb);
    this.req.setTimeout(ms);
    return this;
  }
}

export class MeshClientRequest extends Writable {
  readonly method: string;
  readonly path: string;
  readonly host: string;
  readonly protocol: string;
  /** Node's `timeout` option, as Node's request reports it. */
  timeout: number | undefined;
  /** False: the mesh's pooled connection is no socket an application could retry on (the mesh retries itself). */
  reusedSocket = false;
  aborted = false;
  maxHeadersCount: number | null = null;
  /** The response once it came, as Node's `req.res`. */
  res: MeshIncomingMessage | null = null;
  /** As OutgoingMessage's: by lower-case name, the name as set and the value as given, in the order set. */
  readonly #out = new Map<string, [name: string, value: OutgoingValue]>();
  /** The Host entry is Node's default one: reported, not sent (the mesh sends the service's authority either way). */
  #defaultHost = false;
  /** write(), end() or flushHeaders() was called: as in Node, the headers can no longer change. */
  #committed = false;
  /** The request was handed to the dispatcher (its headers went with it). */
  #dispatched = false;
  readonly #target: MeshRequestTarget;
  readonly #dispatcher: Dispatcher;
  readonly #limit: number;
  #chunks: Buffer[] = [];
  #size = 0;
  #stream: PassThrough | undefined;
  #controller: Dispatcher.DispatchController | undefined;
  #res: MeshIncomingMessage | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timeoutMs = 0;
  #abortReason: Error | undefined;
  #closeEmitted = false;
  #continueSent = false;
  #forgetSignal: (() => void) | undefined;
  /** Set on the tick after the request is made, when Node's client would have given it a socket. */
  #socketAssigned = false;
  #socket: RequestSocket | undefined;
  /** end() before the socket: the body is finished once the request has it, as Node's client flushes it then. */
  #finalPending: (() => void) | undefined;
  /** The request ended on its own (response complete, upgraded or failed): destroy() only marks it, as Node does. */
  #ended = false;

  constructor(target: MeshRequestTarget, dispatcher: Dispatcher, replayLimit: number, cb?: (res: MeshIncomingMessage) => void) {
    // Not auto-destroyed on 'finish': the request lives until its response ends, like ClientRequest.
    super({ decodeStrings: true, autoDestroy: false, emitClose: false });
    this.#target = target;
    this.#dispatcher = dispatcher;
    this.#limit = replayLimit;
    this.method = target.method;
    this.path = target.path;
    this.host = target.host;
    this.protocol = target.protocol;
    this.timeout = target.timeout;
    // Node's order: the application's headers, then its default Host, then Authorization from `auth`.
    for (const [name, value] of target.headers) this.#out.set(name.toLowerCase(), [name, value]);
    if (target.setHost !== false && !this.#out.has('host')) {
      this.#out.set('host', ['Host', hostHeader(target.protocol, target.host, target.port)]);
      this.#defaultHost = true;
    }
    if (target.auth !== undefined && !this.#out.has('authorization')) this.#out.set('authorization', ['Authorization', `Basic ${Buffer.from(target.auth).toString('base64')}`]);
    if (cb !== undefined) this.once('response', cb);
    if (target.timeout !== undefined && target.timeout > 0) this.setTimeout(target.timeout);
    // Before anything else is queued: 'socket' is the request's first event ('continue' comes after it).
    process.nextTick(MeshClientRequest.#socketTick, this);
    this.#answerExpect();
    const signal = target.signal;
    if (signal !== undefined) {
      // An aborted signal destroys the request at once, as in Node: nothing is sent, no 'finish' comes.
      if (signal.aborted) this.destroy(abortError(signal.reason));
      else {
        // Removed once the request closes: an application may share one long-lived signal across many requests.
        const onAbort = (): void => void this.destroy(abortError(signal.reason));
        signal.addEventListener('abort', onAbort, { once: true });
        this.#forgetSignal = () => signal.removeEventListener('abort', onAbort);
      }
    }
  }

  // ---- socket (see RequestSocket) ----
  /** null until the request has its socket, as in Node; made only for whoever asks for it. */
  get socket(): RequestSocket | null {
    if (!this.#socketAssigned) return null;
    return (this.#socket ??= new RequestSocket(() => this.#connectionLost()));
  }
  get connection(): RequestSocket | null {
    return this.socket;
  }
  /** Node's client emits 'socket' on the tick after `http.request()`; libraries start their timeouts there. */
  static #socketTick(req: MeshClientRequest): void {
    req.#assignSocket();
  }
  #assignSocket(): void {
    if (this.destroyed) return;
    this.#socketAssigned = true;
    if (this.listenerCount('socket') > 0) this.emit('socket', this.socket);
    const final = this.#finalPending;
    this.#finalPending = undefined;
    final?.();
  }
  /** The socket was destroyed (by a library's timeout, say): the request loses its connection, as in Node. */
  #connectionLost(): void {
    if (!this.destroyed) this.destroy();
  }

  // ---- header API (as OutgoingMessage) ----
  get headersSent(): boolean {
    return this.#committed;
  }
  #refuseSent(what: string): void {
    if (this.#committed) throw Object.assign(new Error(`Cannot ${what} headers after they are sent to the client`), { code: 'ERR_HTTP_HEADERS_SENT' });
  }
  setHeader(name: string, value: OutgoingValue): this {
    this.#refuseSent('set');
    validateHeader(name, value);
    const lower = name.toLowerCase();
    this.#out.set(lower, [name, value]);
    if (lower === 'host') this.#defaultHost = false;
    this.#answerExpect();
    return this;
  }
  /** As Node's: a value added to the header's values (an array once there are several). */
  appendHeader(name: string, value: OutgoingValue): this {
    this.#refuseSent('append');
    validateHeader(name, value);
    const lower = name.toLowerCase();
    const prev = this.#out.get(lower);
    if (prev === undefined || (lower === 'host' && this.#defaultHost)) return this.setHeader(name, value);
    const add = Array.isArray(value) ? value : [value];
    prev[1] = Array.isArray(prev[1]) ? [...(prev[1] as readonly string[]), ...add] : [prev[1] as string, ...add];
    return this;
  }
  /** As Node's: every header of a `Headers` or a `Map`, the Set-Cookie values gathered in one array. */
  setHeaders(headers: Headers | Map<string, OutgoingValue>): this {
    this.#refuseSent('set');
    if (headers === null || headers === undefined) return this;
    if (!(headers instanceof Map) && !(headers instanceof Headers)) {
      throw Object.assign(new TypeError('The "headers" argument must be an instance of Headers or Map.'), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    const cookies: string[] = [];
    for (const [name, value] of headers as Iterable<[string, OutgoingValue]>) {
      if (name === 'set-cookie') cookies.push(...(Array.isArray(value) ? (value as readonly string[]) : [String(value)]));
      else this.setHeader(name, value);
    }
    if (cookies.length > 0) this.setHeader('set-cookie', cookies);
    return this;
  }

  /**
   * `Expect: 100-continue` is answered by the mesh, as Envoy does by default:
   * 'continue' is emitted at once and the header is not sent upstream (undici,
   * which carries the request, does not speak it), so a client that waits for
   * 'continue' before writing its body does not wait forever.
   */
  #answerExpect(): void {
    if (this.#continueSent || !expectsContinue(this.#out.get('expect')?.[1])) return;
    this.#continueSent = true;
    process.nextTick(() => {
      this.emit('continue');
      this.emit('information', { statusCode: 100, statusMessage: 'Continue', httpVersion: '1.1', httpVersionMajor: 1, httpVersionMinor: 1, headers: {}, rawHeaders: [] });
    });
  }
  // Node's client sets a default Host header, which libraries read back (request signers, say); the
  // mesh sends the service's authority as Host either way, so it is only reported, never copied.
  getHeader(name: string): OutgoingValue | undefined {
    return this.#out.get(name.toLowerCase())?.[1];
  }
  hasHeader(name: string): boolean {
    return this.#out.has(name.toLowerCase());
  }
  removeHeader(name: string): void {
    this.#refuseSent('remove');
    const lower = name.toLowerCase();
    this.#out.delete(lower);
    if (lower === 'host') this.#defaultHost = false;
  }
  /** As Node's: a prototype-less object, lower-case names, values as given. */
  getHeaders(): Record<string, OutgoingValue> {
    const out = Object.create(null) as Record<string, OutgoingValue>;
    for (const [lower, [, value]] of this.#out) out[lower] = value;
    return out;
  }
  getHeaderNames(): string[] {
    return [...this.#out.keys()];
  }
  /** The names as the application wrote them (they are sent in lower case, see the docs). */
  getRawHeaderNames(): string[] {
    return [...this.#out.values()].map(([name]) => name);
  }
  /**
   * Request trailers are not sent: undici, which carries the request, sends
   * none (Node itself drops them unless the body is chunked). Checked as Node
   * checks them, so a caller's mistakes still throw.
   */
  addTrailers(headers: Record<string, OutgoingValue> | ReadonlyArray<readonly [string, string]>): void {
    const pairs = Array.isArray(headers) ? headers : Object.entries(headers);
    for (const [name, value] of pairs as [string, OutgoingValue][]) validateHeader(name, value);
  }
  /** As OutgoingMessage's (deprecated) `finished`: end() was called. */
  get finished(): boolean {
    return this.writableEnded;
  }
  /** The application wants the request on the wire before its body is done: it is streamed from now on (replayable within the limit). */
  flushHeaders(): void {
    this.#committed = true;
    if (!this.#dispatched && this.#stream === undefined) this.#startStreaming();
  }
  setNoDelay(): void {}
  setSocketKeepAlive(): void {}

  /** Emits 'timeout' when neither side is active for `ms` (the app decides what to do, as in Node). */
  setTimeout(ms: number, cb?: () => void): this {
    if (cb !== undefined) this.once('timeout', cb);
    this.#timeoutMs = ms;
    this.#armTimer();
    return this;
  }
  #armTimer(): void {
    clearTimeout(this.#timer);
    if (this.#timeoutMs > 0 && !this.destroyed) {
      this.#timer = setTimeout(() => this.#timedOut(), this.#timeoutMs);
      this.#timer.unref?.();
    }
  }
  /** As Node's socket timeout: the request's 'timeout', then the response's while it is being read. */
  #timedOut(): void {
    this.emit('timeout');
    const res = this.#res;
    if (res !== undefined && !res.complete && !res.destroyed) res.emit('timeout');
  }
  /** Body written: activity on the connection, as a socket write refreshes its idle timer. */
  #active(): void {
    if (this.#timeoutMs > 0 && this.#res?.complete !== true) this.#armTimer();
    this.#socket?.touch();
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    // As Node: before the request has its socket, 'close' comes first; after, 'abort' does.
    if (this.#socketAssigned) {
      process.nextTick(() => this.emit('abort'));
      this.destroy();
    } else {
      this.destroy();
      process.nextTick(() => this.emit('abort'));
    }
  }

  // ---- body ----
  // As Node's client: the first write() or end() sends the headers (headersSent, setHeader() refused from then on).
  override write(chunk: unknown, encoding?: BufferEncoding | ((err?: Error | null) => void), cb?: (err?: Error | null) => void): boolean {
    if (chunk !== null && !this.destroyed && !this.writableEnded) this.#committed = true;
    return super.write(chunk, encoding as BufferEncoding, cb);
  }
  override end(chunk?: unknown, encoding?: BufferEncoding | (() => void), cb?: () => void): this {
    if (!this.destroyed && !this.writableEnded) this.#committed = true;
    return super.end(chunk, encoding as BufferEncoding, cb);
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#active();
    if (this.#stream !== undefined) {
      if (this.#stream.write(chunk)) cb();
      else this.#stream.once('drain', () => cb());
      return;
    }
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    // Too large to remember here: stream it (the call still replays what fits its own limit), and
    // let write() say so when it is more than the stream holds, as Node's does before its socket drains.
    if (this.#size > this.#limit) {
      const stream = this.#startStreaming();
      if (stream.writableNeedDrain) {
        stream.once('drain', () => cb());
        return;
      }
    }
    // Written and not ended in the same tick: the body is a stream (a pipe, a long upload, a
    // bidirectional exchange). Node's client sends it as it comes, so the mesh does too.
    else if (this.#chunks.length === 1) process.nextTick(MeshClientRequest.#streamIfOpen, this);
    cb();
  }
  static #streamIfOpen(req: MeshClientRequest): void {
    if (!req.writableEnded && req.#stream === undefined && !req.#dispatched && !req.destroyed) req.#startStreaming();
  }
  #startStreaming(): PassThrough {
    const stream = new PassThrough();
    this.#stream = stream;
    for (const c of this.#chunks) stream.write(c);
    this.#chunks = [];
    this.#send(stream);
    return stream;
  }
  override _final(cb: (err?: Error | null) => void): void {
    if (!this.#socketAssigned) {
      this.#finalPending = () => this._final(cb);
      return;
    }
    if (this.#stream !== undefined) this.#stream.end();
    else this.#send(this.#chunks.length === 0 ? null : this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks));
    cb();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    clearTimeout(this.#timer);
    if (this.#ended) {
      cb(null);
      return;
    }
    const res = this.#res;
    // As Node's client: a request destroyed before its response fails with "socket hang up",
    // unless it was abort()ed before it had a socket; during the response, the response is aborted.
    const error = err ?? (res === undefined && !(this.aborted && !this.#socketAssigned) ? connectionReset('socket hang up') : null);
    const reason = error ?? abortError(undefined);
    this.#abortReason = reason;
    this.#controller?.abort(reason);
    this.#stream?.destroy();
    const socket = this.#socket;
    if (socket !== undefined && !socket.destroyed) socket.destroy();
    cb(error);
    // Node's order: the request's 'error', the response's 'aborted', the request's 'close', then the response's "aborted" error and 'close'.
    if (res !== undefined && !res.complete && !res.destroyed) process.nextTick(abortResponse, res);
    process.nextTick(() => this.#emitClose());
  }

  #emitClose(): void {
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.#forgetSignal?.();
    this.#forgetSignal = undefined;
    // As a keep-alive socket back in its agent: its idle timeout no longer applies to this request.
    if (this.#socket !== undefined && !this.#socket.destroyed) this.#socket.setTimeout(0);
    // As Node's client: a request is destroyed once it is over, whichever way it ended.
    if (!this.destroyed) {
      this.#ended = true;
      this.destroy();
    }
    this.emit('close');
  }

  #send(body: Buffer | PassThrough | null): void {
    if (this.#dispatched) return;
    this.#dispatched = true;
    this.#committed = true;
    const t = this.#target;
    const origin = `${t.protocol}//${t.host.includes(':') ? `[${t.host}]` : t.host}${isDefaultPort(t.protocol, t.port) ? '' : `:${t.port}`}`;
    const all: HeaderRecord = {};
    for (const [lower, [, value]] of this.#out) if (lower !== 'host' || !this.#defaultHost) all[lower] = Array.isArray(value) ? value.map(String) : String(value);
    // An upgrade (WebSocket clients such as `ws` ask this way) is undici's `upgrade` option, not headers.
    const upgrade = upgradeProtocol(all);
    const headers = upstreamHeaders(all, upgrade !== undefined);
    const opts: Dispatcher.DispatchOptions =
      upgrade === undefined
        ? { origin, path: t.path, method: t.method as Dispatcher.HttpMethod, headers, body }
        : { origin, path: t.path, method: t.method as Dispatcher.HttpMethod, headers, body, upgrade };
    // On the next tick, as Node's client: no event of the request ('response', 'error') may come
    // from inside the application's end() or write(), even when the mesh answers at once.
    process.nextTick(() => {
      if (this.destroyed) return;
      try {
        this.#dispatcher.dispatch(opts, this.#handler());
      } catch (err) {
        this.destroy(err as Error);
      }
    });
  }

  /**
   * Emits an event from inside the dispatcher's callbacks. A listener of the
   * application that throws is its own uncaught exception, as it is when
   * Node's parser emits the event; it does not fail the request upstream.
   */
  #emitFromUpstream(event: string, ...args: unknown[]): void {
    try {
      this.emit(event, ...args);
    } catch (err) {
      throwUncaught(err);
    }
  }

  /** An interim (1xx) response, as Node reports it: 'information', and 'continue' for a 100. */
  #information(statusCode: number, statusMessage: string, source: RawSource): void {
    const rawHeaders = rawHeaderStrings(source);
    if (statusCode === 100) {
      if (this.#continueSent) return; // already answered by the mesh (see #answerExpect)
      this.#emitFromUpstream('continue');
    }
    this.#emitFromUpstream('information', {
      statusCode,
      statusMessage,
      httpVersion: '1.1',
      httpVersionMajor: 1,
      httpVersionMinor: 1,
      headers: nodeHeaders(source.parsed, false),
      rawHeaders,
    });
  }

  #handler(): Dispatcher.DispatchHandler {
    return {
      onRequestStart: (controller) => {
        this.#controller = controller;
        if (this.#abortReason !== undefined) controller.abort(this.#abortReason);
      },
      onResponseStart: (controller, statusCode, headers, statusMessage) => {
        this.#armTimer();
        if (statusCode < 200) {
          this.#information(statusCode, statusMessage ?? '', { raw: controller.rawHeaders, parsed: headers as HeaderRecord });
          return;
        }
        const res = new MeshIncomingMessage(this, controller);
        res.statusCode = statusCode;
        res.statusMessage = statusMessage ?? '';
        res.setHeaders(controller.rawHeaders, headers as HeaderRecord, this.#target.joinDuplicateHeaders === true);
        this.#res = res;
        this.res = res;
        if (this.listenerCount('response') === 0) res.resume(); // as Node does: nobody reads, so discard
        this.#emitFromUpstream('response', res);
      },
      onRequestUpgrade: (controller, statusCode, headers, socket) => {
        // As Node's ClientRequest: 'upgrade' with the response and the socket, else the socket is destroyed; then 'close'.
        clearTimeout(this.#timer);
        const res = new MeshIncomingMessage(this, controller);
        res.statusCode = statusCode;
        res.setHeaders(controller.rawHeaders, headers as HeaderRecord, this.#target.joinDuplicateHeaders === true);
        res.complete = true;
        this.res = res;
        if (this.listenerCount('upgrade') === 0) socket.destroy();
        else this.#emitFromUpstream('upgrade', res, socket, upgradeHead(socket));
        this.#emitClose();
      },
      onResponseData: (controller, chunk) => {
        this.#armTimer();
        this.#socket?.touch();
        const res = this.#res;
        if (res === undefined) return;
        let more = true;
        try {
          more = res.push(chunk);
        } catch (err) {
          throwUncaught(err); // a 'data' listener of the application threw
        }
        if (!more) controller.pause();
      },
      onResponseEnd: (controller, trailers) => {
        clearTimeout(this.#timer);
        const res = this.#res;
        if (res === undefined) return;
        res.setTrailers(controller.rawTrailers, trailers as HeaderRecord | null, this.#target.joinDuplicateHeaders === true);
        res.complete = true;
        res.push(null);
        // As Node: a request whose connection goes back to the pool closes on the response's 'end';
        // one whose connection does not (a HEAD, a `Connection: close` answer) after the response's 'close'.
        res.once(this.method === 'HEAD' || closesConnection(res.headers.connection) ? 'close' : 'end', () => this.#emitClose());
      },
      onResponseError: (_controller, err) => {
        clearTimeout(this.#timer);
        const res = this.#res;
        if (res === undefined) {
          if (!this.destroyed) this.destroy(err);
          return;
        }
        // A request the application destroyed ends its response itself (see _destroy).
        if (this.destroyed) return;
        if (!res.complete && !res.destroyed) {
          // As Node when the connection fails during the response: the response is aborted with ECONNRESET "aborted".
          res.destroy(connectionReset('aborted', err));
          this.#emitClose();
        } else if (res.closed) this.#emitClose();
        // The application destroyed the response: as in Node, the request closes after it.
        else res.once('close', () => this.#emitClose());
      },
    };
  }
}

function expectsContinue(v: OutgoingValue | undefined): boolean {
  return typeof v === 'string' && v.trim().toLowerCase() === '100-continue';
}

function closesConnection(v: string | string[] | undefined): boolean {
  return v !== undefined && (Array.isArray(v) ? v.join(',') : v).toLowerCase().split(',').some((t) => t.trim() === 'close');
}

/** The request is gone under its response: the response is aborted, as when Node's client loses the connection. */
function abortResponse(res: MeshIncomingMessage): void {
  if (!res.complete && !res.destroyed) res.destroy(connectionReset('aborted'));
}

/**
 * The bytes that came after the 101 in the same read, which Node hands to
 * 'upgrade' as `head`: undici puts them back on the socket, so they are taken
 * from there (none when the socket already gave them away).
 */
function upgradeHead(socket: Duplex): Buffer {
  if (socket.readableLength === 0 || socket.readableFlowing === true) return Buffer.alloc(0);
  const head = socket.read() as Buffer | string | null;
  return head === null ? Buffer.alloc(0) : typeof head === 'string' ? Buffer.from(head) : head;
}

/** The protocol asked for when the request is an upgrade (`Connection: upgrade` and `Upgrade: <protocol>`). */
function upgradeProtocol(headers: HeaderRecord): string | undefined {
  const upgrade = headers.upgrade;
  const connection = headers.connection;
  if (upgrade === undefined || connection === undefined) return undefined;
  const tokens = (Array.isArray(connection) ? connection.join(',') : connection).toLowerCase().split(',');
  if (!tokens.some((t) => t.trim() === 'upgrade')) return undefined;
  return Array.isArray(upgrade) ? upgrade.join(', ') : upgrade;
}

/**
 * The headers to send: without the hop-by-hop ones Node's client accepts and
 * undici refuses, because undici frames the body and manages the connection
 * itself (`transfer-encoding`, `keep-alive`), as a proxy drops them; without
 * `expect: 100-continue` (answered here); for an upgrade, without `upgrade`
 * and `connection` (undici writes them from its `upgrade` option). Copied only
 * when something is dropped.
 */
function upstreamHeaders(headers: HeaderRecord, upgrade: boolean): HeaderRecord {
  const drop = (name: string): boolean =>
    name === 'transfer-encoding' || name === 'keep-alive' || (name === 'expect' && expectsContinue(headers.expect)) || (upgrade && (name === 'upgrade' || name === 'connection'));
  const names = Object.keys(headers);
  if (!names.some(drop)) return headers;
  const out: HeaderRecord = {};
  for (const name of names) if (!drop(name)) out[name] = headers[name]!;
  return out;
}

/** The Host header Node's client would send: the host, bracketed when IPv6, and the port unless it is the default. */
function hostHeader(protocol: string, host: string, port: number): string {
  const name = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return isDefaultPort(protocol, port) ? name : `${name}:${port}`;
}

function isDefaultPort(protocol: string, port: number): boolean {
  return (protocol === 'http:' && port === 80) || (protocol === 'https:' && port === 443);
}

/** Headers Node keeps the first value of when a response repeats them (its IncomingMessage rules). */
const FIRST_WINS = new Set([
  'age', 'authorization', 'content-length', 'content-type', 'etag', 'expires', 'from', 'host', 'if-modified-since',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'referer', 'retry-after', 'server', 'user-agent',
]);

/** Where a raw header list comes from: undici's raw list when it kept one, else its parsed headers. */
interface RawSource {
  readonly raw: unknown;
  readonly parsed: HeaderRecord;
}
const EMPTY_SOURCE: RawSource = { raw: undefined, parsed: {} };

/**
 * Node's `headers` from undici's parsed ones (lower-case names, repeats in
 * arrays): repeats dropped, kept in an array (set-cookie, always an array) or
 * joined (cookie with '; ', others ', '); with `joinAll` (Node's
 * joinDuplicateHeaders) none is dropped.
 */
function nodeHeaders(parsed: HeaderRecord, joinAll: boolean): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in parsed) {
    const v = parsed[name]!;
    if (name === 'set-cookie') out[name] = Array.isArray(v) ? v : [v];
    else if (!Array.isArray(v)) out[name] = v;
    else if (joinAll || !FIRST_WINS.has(name)) out[name] = v.join(name === 'cookie' ? '; ' : ', ');
    else out[name] = v[0]!;
  }
  return out;
}

/** `headersDistinct`: lowercased names, every value. */
function distinct(raw: readonly string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) (out[raw[i]!.toLowerCase()] ??= []).push(raw[i + 1]!);
  return out;
}

/** The raw name/value list (names as the upstream sent them), from undici's raw list or else its parsed headers. */
function rawHeaderStrings(source: RawSource): string[] {
  const raw = source.raw;
  if (Array.isArray(raw)) return raw.map((b: Buffer | string) => (typeof b === 'string' ? b : b.toString('latin1')));
  const out: string[] = [];
  const record = (raw !== null && typeof raw === 'object' ? raw : source.parsed) as HeaderRecord;
  for (const name of Object.keys(record)) {
    const v = record[name];
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) out.push(name, String(one));
  }
  return out;
}

/** Node's error for a connection lost under a request ("socket hang up") or a response ("aborted"). */
function connectionReset(message: string, cause?: Error): Error {
  return Object.assign(new Error(message, cause === undefined ? undefined : { cause }), { code: 'ECONNRESET' });
}

/** Node's AbortError ("The operation was aborted", ABORT_ERR), with the signal's reason as its cause. */
function abortError(reason: unknown): Error {
  const err = new Error('The operation was aborted', reason === undefined ? undefined : { cause: reason });
  return Object.assign(err, { name: 'AbortError', code: 'ABORT_ERR' });
}
