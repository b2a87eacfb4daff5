/**
 * Access logs: one JSON line per request, with the fields (and names) of
 * Istio's JSON access log, written to pino's sonic-boom destination in
 * non-blocking mode — lines are buffered and written by the event loop's
 * async fs calls, never by a synchronous write on the request path.
 * (The line is the entry alone: pino's logger would add a level field, and
 * cannot leave it out, so lines go to its destination directly.)
 *
 * Off unless configured. Ask {@link AccessLog.wants} first and build the
 * entry only when it says yes: a filtered-out or unsampled request then
 * costs a comparison and (when sampling) one random number.
 */
import { createRequire } from 'node:module';
import type pinoModule from 'pino';
import { EnmeshError } from '../errors.ts';

export interface AccessLogOptions {
  /** A file path (created with its directory), or a file descriptor. Default 1 (stdout). */
  readonly destination?: string | number;
  /**
   * Which requests are logged: `all` (default); `errors`: status 0 or >= 400,
   * any response flag, or a gRPC status other than OK; or a predicate
   * (`grpcStatus` is -1 for plain HTTP).
   */
  readonly filter?: 'all' | 'errors' | ((status: number, flags: string, grpcStatus: number) => boolean);
  /** Share of the requests passing the filter that are logged, 0..1. Default 1. */
  readonly sampleRate?: number;
  /** Bytes buffered before a write, 0..16383 (one write carries at most 16 KiB). Default 4096. */
  readonly bufferBytes?: number;
  /** Unwritten bytes beyond which new lines are dropped (counted), not queued. Default 16 MiB. */
  readonly maxBufferBytes?: number;
  /** Buffered lines are written at least this often. Default 1000 ms. */
  readonly flushIntervalMs?: number;
  /** Called for every line dropped because the destination could not keep up. */
  readonly onDrop?: () => void;
  /** In [0, 1), like Math.random (tests). */
  readonly random?: () => number;
}

/** One request. Times are epoch milliseconds; durations milliseconds. */
export interface AccessLogEntry {
  readonly direction: 'inbound' | 'outbound';
  readonly startTime: number;
  readonly method: string;
  readonly authority: string;
  readonly path: string;
  readonly protocol: string;
  /** 0 when no response was received. */
  readonly status: number;
  /** Envoy response flags; '' when none. */
  readonly flags: string;
  readonly durationMs: number;
  readonly bytesReceived: number;
  readonly bytesSent: number;
  /** `host:port` of the endpoint that answered (outbound). */
  readonly upstreamHost?: string;
  readonly upstreamCluster?: string;
  readonly routeName?: string;
  /** Attempts made (1 without retries). */
  readonly attempts?: number;
  readonly grpcStatus?: number;
  readonly traceId?: string;
  readonly requestId?: string;
  /** The peer's verified identity (SPIFFE id): the caller inbound, the callee outbound. */
  readonly peerPrincipal?: string;
  readonly downstreamAddress?: string;
  readonly userAgent?: string;
}

/** The JSON line, with Istio's access log field names. */
interface AccessLogLine {
  start_time: string;
  direction: string;
  method: string;
  authority: string;
  path: string;
  protocol: string;
  response_code: number;
  response_flags: string;
  duration: number;
  bytes_received: number;
  bytes_sent: number;
  upstream_host?: string;
  upstream_cluster?: string;
  route_name?: string;
  upstream_request_attempt_count?: number;
  grpc_status?: number;
  trace_id?: string;
  request_id?: string;
  peer_principal?: string;
  downstream_remote_address?: string;
  user_agent?: string;
}

type Destination = ReturnType<typeof pinoModule.destination>;

/** sonic-boom's largest single write (its default `maxWrite`); the buffer must stay below it. */
const MAX_WRITE = 16 * 1024;

/** pino is loaded on the first access log made: processes without one do not pay for it. */
let pino: typeof pinoModule | undefined;
function loadPino(): typeof pinoModule {
  return (pino ??= createRequire(import.meta.url)('pino') as typeof pinoModule);
}

export class AccessLog {
  readonly #dest: Destination;
  readonly #filter: (status: number, flags: string, grpcStatus: number) => boolean;
  readonly #rate: number;
  readonly #random: () => number;
  #dropped = 0;
  #written = 0;
  #closed: Promise<void> | undefined;

  constructor(options: AccessLogOptions = {}) {
    const rate = options.sampleRate ?? 1;
    if (!(rate >= 0 && rate <= 1)) throw new EnmeshError('ENMESH_ERR_INIT', `access log: sampleRate must be between 0 and 1, got ${String(options.sampleRate)}`);
    this.#rate = rate;
    // sonic-boom refuses a buffer as large as its largest write, with a message that names neither.
    const buffer = options.bufferBytes ?? 4096;
    if (!(Number.isInteger(buffer) && buffer >= 0 && buffer < MAX_WRITE)) {
      throw new EnmeshError('ENMESH_ERR_INIT', `access log: bufferBytes must be an integer from 0 to ${MAX_WRITE - 1}, got ${String(options.bufferBytes)}`);
    }
    this.#random = options.random ?? Math.random;
    const f = options.filter ?? 'all';
    this.#filter = typeof f === 'function' ? f : f === 'errors' ? isError : () => true;
    const target = options.destination ?? 1;
    this.#dest = loadPino().destination({
      ...(typeof target === 'number' ? { fd: target } : { dest: target, mkdir: true }),
      sync: false,
      minLength: buffer,
      maxLength: options.maxBufferBytes ?? 16 * 1024 * 1024,
      periodicFlush: options.flushIntervalMs ?? 1000,
    });
    const onDrop = options.onDrop;
    this.#dest.on('drop', () => {
      this.#dropped++;
      onDrop?.();
    });
    let warned = false;
    this.#dest.on('error', (err: Error) => {
      if (warned) return;
      warned = true;
      process.emitWarning(`enmesh: access log destination failed: ${err.message}`, { code: 'ENMESH_ACCESS_LOG' });
    });
  }

  /** Whether a request with this outcome is to be logged (filter, then sampling). */
  wants(status: number, flags: string, grpcStatus = -1): boolean {
    if (!this.#filter(status, flags, grpcStatus)) return false;
    return this.#rate >= 1 || this.#random() < this.#rate;
  }

  /** Queues one line. Call only after {@link wants} said yes. */
  write(e: AccessLogEntry): void {
    if (this.#closed !== undefined) return;
    const line: AccessLogLine = {
      start_time: new Date(e.startTime).toISOString(),
      direction: e.direction,
      method: e.method,
      authority: e.authority,
      path: e.path,
      protocol: e.protocol,
      response_code: e.status,
      response_flags: e.flags === '' ? '-' : e.flags,
      duration: Math.round(e.durationMs * 1000) / 1000,
      bytes_received: e.bytesReceived,
      bytes_sent: e.bytesSent,
    };
    if (e.upstreamHost !== undefined) line.upstream_host = e.upstreamHost;
    if (e.upstreamCluster !== undefined) line.upstream_cluster = e.upstreamCluster;
    if (e.routeName !== undefined) line.route_name = e.routeName;
    if (e.attempts !== undefined) line.upstream_request_attempt_count = e.attempts;
    if (e.grpcStatus !== undefined && e.grpcStatus >= 0) line.grpc_status = e.grpcStatus;
    if (e.traceId !== undefined) line.trace_id = e.traceId;
    if (e.requestId !== undefined) line.request_id = e.requestId;
    if (e.peerPrincipal !== undefined) line.peer_principal = e.peerPrincipal;
    if (e.downstreamAddress !== undefined) line.downstream_remote_address = e.downstreamAddress;
    if (e.userAgent !== undefined) line.user_agent = e.userAgent;
    this.#written++;
    this.#dest.write(`${JSON.stringify(line)}\n`);
  }

  /** Lines queued so far (including any dropped later by the destination). */
  get written(): number {
    return this.#written;
  }

  /** Lines dropped because the destination fell too far behind. */
  get dropped(): number {
    return this.#dropped;
  }

  /** Writes what is buffered and closes the destination (a file; stdout/stderr stay open). Idempotent. */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      const dest = this.#dest;
      dest.once('close', () => resolve());
      dest.end();
    });
    return this.#closed;
  }
}

function isError(status: number, flags: string, grpcStatus: number): boolean {
  return status === 0 || status >= 400 || (flags !== '' && flags !== '-') || grpcStatus > 0;
}

/** An access log per options, or undefined when the options do not ask for one. */
export function createAccessLog(options: AccessLogOptions | false | undefined): AccessLog | undefined {
  return options === undefined || options === false ? undefined : new AccessLog(options);
}
