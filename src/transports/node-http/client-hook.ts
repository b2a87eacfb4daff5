/**
 * Hooks `http.request/get` and `https.request/get` (and so the default-agent
 * clients built on them): a request whose authority is a mesh service gets a
 * MeshClientRequest; every other request goes to Node's original function
 * untouched. `install()`/`uninstall()` are symmetric and idempotent.
 */
import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import { Agent, type Dispatcher } from 'undici';
import type { MeshRuntime } from '../../runtime/mesh-runtime.ts';
import type { ServiceRuntime } from '../../runtime/compiled-mesh.ts';
import { toHeaderRecord } from '../../runtime/headers.ts';
import { MeshClientRequest, type MeshIncomingMessage, type OutgoingValue } from './client-request.ts';
import { validateHeader, validateRequestLine } from './validate.ts';
import type { Interceptor } from '../undici/interceptor.ts';

type RequestFn = typeof http.request;
type Callback = (res: MeshIncomingMessage) => void;

interface Originals {
  httpRequest: RequestFn;
  httpGet: typeof http.get;
  httpsRequest: typeof https.request;
  httpsGet: typeof https.get;
}

export interface NodeHttpHook {
  uninstall(): void;
}

/** TLS options that select a dedicated dispatcher (undici takes them per connection pool, not per request). */
const TLS_KEYS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'rejectUnauthorized', 'servername'] as const;

export function installNodeHttpHook(runtime: MeshRuntime, dispatcher: Dispatcher, interceptor: Interceptor): NodeHttpHook {
  const originals: Originals = { httpRequest: http.request, httpGet: http.get, httpsRequest: https.request, httpsGet: https.get };
  const tlsDispatchers = new Map<string, Dispatcher>();

  function dispatcherFor(options: Record<string, unknown>, defaultProtocol: string): Dispatcher {
    if (defaultProtocol !== 'https:') return dispatcher;
    let key = '';
    for (const k of TLS_KEYS) if (options[k] !== undefined) key += `${k}=${String(options[k])};`;
    if (key === '') return dispatcher;
    let d = tlsDispatchers.get(key);
    if (d === undefined) {
      const connect: Record<string, unknown> = {};
      for (const k of TLS_KEYS) if (options[k] !== undefined) connect[k] = options[k];
      d = new Agent({ connect }).compose(interceptor);
      tlsDispatchers.set(key, d);
    }
    return d;
  }

  function makeRequest(original: RequestFn, defaultProtocol: 'http:' | 'https:'): RequestFn {
    return function meshRequest(this: unknown, ...args: unknown[]) {
      const compiled = runtime.compiled;
      if (compiled !== undefined) {
        const parsed = parseArgs(args, defaultProtocol);
        if (parsed !== undefined) {
          const svc = lookup(compiled.byAuthority, parsed.hostname, parsed.port, parsed.protocol);
          if (svc !== undefined) return meshClientRequest(svc, parsed, dispatcherFor(parsed.options, parsed.protocol)) as never;
        }
      }
      return (original as (...a: unknown[]) => http.ClientRequest).apply(this, args);
    } as RequestFn;
  }

  function meshClientRequest(_svc: ServiceRuntime, p: ParsedArgs, d: Dispatcher): MeshClientRequest {
    const o = p.options;
    // As Node: `options.path || '/'` (an empty path is the root).
    const path = typeof o.path === 'string' && o.path !== '' ? o.path : '/';
    const method = typeof o.method === 'string' ? o.method.toUpperCase() : 'GET';
    // Refused as Node's client refuses them: thrown from http.request(), before anything is sent.
    validateRequestLine(method, path);
    const headers: [string, OutgoingValue][] = [];
    const given = o.headers;
    if (given !== null && typeof given === 'object' && !Array.isArray(given) && typeof (given as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      // Checked as given (Node refuses an undefined value too), and kept so: names as written, values as given.
      for (const name of Object.keys(given)) {
        const value = (given as Record<string, unknown>)[name];
        validateHeader(name, value);
        if (value !== null) headers.push([name, value as OutgoingValue]);
      }
    } else {
      // Raw pairs (or an iterable of them): folded by name.
      const record = toHeaderRecord(given);
      for (const name of Object.keys(record)) {
        validateHeader(name, record[name]);
        headers.push([name, record[name]!]);
      }
    }
    const req = new MeshClientRequest(
      {
        protocol: p.protocol,
        host: p.hostname,
        port: p.port,
        path,
        method,
        headers,
        ...(typeof o.auth === 'string' ? { auth: o.auth } : {}),
        timeout: typeof o.timeout === 'number' ? o.timeout : undefined,
        signal: o.signal instanceof AbortSignal ? o.signal : undefined,
        setHost: o.setHost !== false,
        joinDuplicateHeaders: o.joinDuplicateHeaders === true,
      },
      d,
      runtime.replayLimit,
      p.callback,
    );
    return req;
  }

  const httpRequest = makeRequest(originals.httpRequest, 'http:');
  const httpsRequest = makeRequest(originals.httpsRequest as RequestFn, 'https:');
  // get() must call our request(): Node's own get() calls the module-internal request.
  const httpGet = function get(this: unknown, ...args: unknown[]) {
    const req = (httpRequest as (...a: unknown[]) => http.ClientRequest).apply(this, args);
    req.end();
    return req;
  } as typeof http.get;
  const httpsGet = function get(this: unknown, ...args: unknown[]) {
    const req = (httpsRequest as (...a: unknown[]) => http.ClientRequest).apply(this, args);
    req.end();
    return req;
  } as typeof https.get;

  http.request = httpRequest;
  http.get = httpGet;
  https.request = httpsRequest as typeof https.request;
  https.get = httpsGet;
  // Named ESM imports (`import { request } from 'node:http'`) see the change too.
  syncBuiltinESMExports();

  let installed = true;
  return {
    uninstall() {
      if (!installed) return;
      installed = false;
      // Only restore what is still ours: someone may have wrapped us since.
      if (http.request === httpRequest) http.request = originals.httpRequest;
      if (http.get === httpGet) http.get = originals.httpGet;
      if (https.request === httpsRequest) https.request = originals.httpsRequest;
      if (https.get === httpsGet) https.get = originals.httpsGet;
      syncBuiltinESMExports();
      for (const d of tlsDispatchers.values()) void d.close();
      tlsDispatchers.clear();
    },
  };
}

interface ParsedArgs {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number;
  options: Record<string, unknown>;
  callback: Callback | undefined;
}

/**
 * Node's argument forms: (url[, options][, cb]) or (options[, cb]). Returns
 * undefined for forms passed through: a Unix socket path names no network
 * authority. A custom `agent` or `createConnection` is a connection detail the
 * mesh replaces for its services, as it picks the endpoint and the connection
 * (the `ws` WebSocket client always passes a `createConnection` of its own).
 */
function parseArgs(args: unknown[], defaultProtocol: 'http:' | 'https:'): ParsedArgs | undefined {
  let options: Record<string, unknown> = {};
  let i = 0;
  const first = args[0];
  if (typeof first === 'string' || first instanceof URL) {
    const url = typeof first === 'string' ? new URL(first) : first;
    options = {
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
    };
    if (url.username !== '' || url.password !== '') options.auth = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
    i = 1;
    if (args[1] !== null && typeof args[1] === 'object') {
      options = { ...options, ...(args[1] as Record<string, unknown>) };
      i = 2;
    }
  } else if (first !== null && typeof first === 'object') {
    options = first as Record<string, unknown>;
    i = 1;
  }
  const callback = typeof args[i] === 'function' ? (args[i] as Callback) : undefined;
  if (options.socketPath !== undefined) return undefined;
  const protocol = options.protocol === 'https:' ? 'https:' : options.protocol === 'http:' ? 'http:' : defaultProtocol;
  if (protocol !== defaultProtocol) return undefined; // Node would throw; let it.
  let hostname = typeof options.hostname === 'string' ? options.hostname : typeof options.host === 'string' ? stripPort(options.host) : 'localhost';
  if (hostname.startsWith('[') && hostname.endsWith(']')) hostname = hostname.slice(1, -1);
  const rawPort = options.port ?? (typeof options.host === 'string' ? portOf(options.host) : undefined);
  const port = rawPort === undefined || rawPort === null || rawPort === '' ? (protocol === 'https:' ? 443 : 80) : Number(rawPort);
  return { protocol, hostname: hostname.toLowerCase(), port, options, callback };
}

function stripPort(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const i = host.indexOf(':');
  return i === -1 ? host : host.slice(0, i);
}

function portOf(host: string): string | undefined {
  const m = /:(\d+)$/.exec(host);
  return m?.[1];
}

function lookup(byAuthority: ReadonlyMap<string, ServiceRuntime>, host: string, port: number, protocol: string): ServiceRuntime | undefined {
  const defaultPort = protocol === 'https:' ? 443 : 80;
  // `http://reviews/` (default port) means the service on its own port.
  return port === defaultPort ? (byAuthority.get(host) ?? byAuthority.get(`${host}:${port}`)) : byAuthority.get(`${host}:${port}`);
}
