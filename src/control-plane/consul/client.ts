/**
 * Connection settings for Consul and the one request shape every watcher
 * uses: a read with `index` / `wait` that returns the body together with the
 * `X-Consul-Index` and `X-Consul-KnownLeader` headers.
 *
 * The `consul` package does the HTTP; it hands back the raw response only
 * when the request's context asks for it (`includeResponse`, as its own
 * `watch()` does), and it aborts a request when that context emits
 * `cancel`, which is how a watcher stops a held blocking query on close.
 */
import { EventEmitter } from 'node:events';
import Consul from 'consul';
import { EnmeshError } from '../../errors.ts';

export interface ConsulSettings {
  /** `http(s)://host:port` of a Consul agent. */
  readonly address: string;
  /** ACL token (`X-Consul-Token`). */
  readonly token?: string;
  /** Datacenters to read; each maps to a locality zone. Default: the agent's own. */
  readonly datacenters?: readonly string[];
  /** Read consistency: `default` (needs a leader), `stale` (any server), `consistent`. Default `default`. */
  readonly consistency?: 'default' | 'stale' | 'consistent';
  /** Longest a blocking query is held by Consul. Default 30 s. */
  readonly waitMs?: number;
}

export type ConsulClient = InstanceType<typeof Consul>;

/** A Consul client for `settings.address`; refuses an address that is not an http(s) URL. */
export function createConsulClient(settings: ConsulSettings, what = '--consul'): ConsulClient {
  let url: URL;
  try {
    url = new URL(settings.address);
  } catch {
    throw invalidAddress(settings.address, what);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') throw invalidAddress(settings.address, what);
  const base = `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}/v1`;
  // `baseUrl` is honoured by the client (it is how the HTTP layer is configured) though its types omit it.
  const options = { baseUrl: base, ...(settings.token ? { defaults: { token: settings.token } } : {}) };
  return new Consul(options as ConstructorParameters<typeof Consul>[0]);
}

function invalidAddress(address: string, what: string): EnmeshError {
  return new EnmeshError('ENMESH_ERR_INIT', `${what}: "${address}" is not a Consul address; expected http://host:port (for example http://127.0.0.1:8500)`);
}

/** What one (blocking) read returned. */
export interface QueryResult<T> {
  readonly index: number;
  readonly knownLeader: boolean;
  /** Undefined for a 404 (e.g. a KV key that does not exist). */
  readonly body: T | undefined;
}

/** Aborts the request it is passed to when `cancel()` is called. */
export class QueryContext extends EventEmitter {
  readonly includeResponse = true;
  cancel(): void {
    this.emit('cancel');
  }
}

interface RawResponse {
  readonly headers: Record<string, string | string[] | undefined>;
}

/**
 * Runs `call` (a consul client method) with the blocking-query options added
 * and reads the query headers off its response.
 */
export async function blockingRead<T>(
  call: (opts: Record<string, unknown>) => Promise<unknown>,
  opts: Record<string, unknown>,
  index: number,
  settings: ConsulSettings,
  ctx: QueryContext,
): Promise<QueryResult<T>> {
  const waitMs = settings.waitMs ?? 30_000;
  const consistency = settings.consistency ?? 'default';
  const out = (await call({
    ...opts,
    ...(index > 0 ? { index: String(index), wait: `${Math.max(1, Math.round(waitMs / 1000))}s` } : {}),
    ...(consistency === 'stale' ? { stale: true } : consistency === 'consistent' ? { consistent: true } : {}),
    // Consul may add up to wait/16 of jitter; past that and a margin the server is hung, not holding.
    timeout: waitMs + Math.ceil(waitMs / 16) + Math.max(1000, Math.ceil(waitMs / 10)),
    ctx,
  })) as [RawResponse, T?] | undefined;
  const [res, body] = out ?? [undefined, undefined];
  const header = (name: string): string | undefined => {
    const v = res?.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const raw = Number(header('x-consul-index'));
  return { index: Number.isFinite(raw) ? raw : 0, knownLeader: header('x-consul-knownleader') !== 'false', body };
}

/** `HTTP 500: No cluster leader`, or the transport error's message. */
export function describeConsulError(err: unknown): string {
  const e = err as { message?: string; response?: { statusCode?: number } };
  const status = e.response?.statusCode;
  const message = e.message ?? String(err);
  return status === undefined ? message : `HTTP ${status}: ${message}`;
}
