/**
 * A small JSON admin API on node:http. Routes are `METHOD /path` entries whose
 * segments may be parameters (`/api/v1/services/{service}`); a handler returns
 * the body to send as JSON (or a `Reply` for a status other than 200), or
 * `HANDLED` when it wrote the response itself (event streams, static files).
 * Anything heavier (a dashboard, streaming views) adds routes here rather than
 * growing a framework.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { EnmeshError } from '../errors.ts';

export interface AdminContext {
  /** Values of the `{name}` segments of the route's path, URI-decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** The raw response, for handlers that answer with `HANDLED`. */
  readonly res: ServerResponse;
}

export type AdminHandler = (req: IncomingMessage, url: URL, ctx: AdminContext) => unknown;

/** Returned by a handler that has written (or keeps writing) the response itself. */
export const HANDLED: unique symbol = Symbol('enmesh.admin.handled');

/** A response with an explicit status (and optional headers). */
export class Reply {
  readonly status: number;
  readonly body: unknown;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, body: unknown, headers: Readonly<Record<string, string>> = {}) {
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/** Thrown by a handler (or a helper it calls) to answer with `reply` instead of a 500. */
export class ReplyError extends Error {
  readonly reply: Reply;

  constructor(reply: Reply) {
    const body = reply.body as { error?: unknown } | undefined;
    super(typeof body?.error === 'string' ? body.error : `admin reply ${reply.status}`);
    this.name = 'ReplyError';
    this.reply = reply;
  }
}

/**
 * Consulted before the handler of every request; a Reply answers instead of
 * the handler (authentication of mutating calls, see admin-auth.ts).
 */
export type AdminGuard = (req: IncomingMessage, path: string) => Reply | undefined;

export interface RouteInfo {
  readonly method: string;
  /** The path as registered, parameters as `{name}`. */
  readonly path: string;
}

interface PatternRoute {
  readonly path: string;
  readonly segments: readonly string[];
  readonly byMethod: Map<string, AdminHandler>;
}

/** Default largest JSON request body: mesh.yaml's own limit plus room for the envelope. */
export const MAX_JSON_BODY_BYTES = 1024 * 1024 + 64 * 1024;

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

export class AdminServer {
  readonly #routes = new Map<string, Map<string, AdminHandler>>();
  readonly #patterns: PatternRoute[] = [];
  readonly #guards: AdminGuard[] = [];
  readonly #server: Server;
  #port = 0;

  constructor() {
    this.#server = createServer((req, res) => {
      void this.#dispatch(req, res);
    });
    // Admin clients are few; do not let idle keep-alive sockets hold shutdown.
    this.#server.keepAliveTimeout = 1000;
  }

  /** Adds (or replaces) the handler of `method path`; `{name}` segments match any one segment. */
  route(method: string, path: string, handler: AdminHandler): this {
    let byMethod: Map<string, AdminHandler> | undefined;
    if (path.includes('{')) {
      byMethod = this.#patterns.find((p) => p.path === path)?.byMethod;
      if (byMethod === undefined) {
        byMethod = new Map();
        this.#patterns.push({ path, segments: path.split('/'), byMethod });
      }
    } else {
      byMethod = this.#routes.get(path);
      if (byMethod === undefined) this.#routes.set(path, (byMethod = new Map()));
    }
    byMethod.set(method.toUpperCase(), handler);
    return this;
  }

  /** Adds a guard run before every handler (in the order added). */
  guard(guard: AdminGuard): this {
    this.#guards.push(guard);
    return this;
  }

  /** Every registered route (for the OpenAPI document and its test). */
  routes(): RouteInfo[] {
    const out: RouteInfo[] = [];
    for (const [path, byMethod] of this.#routes) for (const method of byMethod.keys()) out.push({ method, path });
    for (const p of this.#patterns) for (const method of p.byMethod.keys()) out.push({ method, path: p.path });
    return out;
  }

  get port(): number {
    return this.#port;
  }

  /** The underlying server (e.g. to count open connections). */
  get server(): Server {
    return this.#server;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => {
        reject(new EnmeshError('ENMESH_ERR_CONTROL_PLANE', `cannot listen for the admin API on ${host}:${port}: ${err.message}`, { cause: err }));
      };
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        const addr = this.#server.address();
        this.#port = typeof addr === 'object' && addr !== null ? addr.port : port;
        resolve(this.#port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.#server.listening) {
        resolve();
        return;
      }
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #find(path: string): { byMethod: Map<string, AdminHandler>; params: Readonly<Record<string, string>> } | undefined {
    const exact = this.#routes.get(path);
    if (exact !== undefined) return { byMethod: exact, params: NO_PARAMS };
    if (this.#patterns.length === 0) return undefined;
    const parts = path.split('/');
    for (const p of this.#patterns) {
      if (p.segments.length !== parts.length) continue;
      const params: Record<string, string> = {};
      let ok = true;
      for (let i = 0; i < parts.length && ok; i++) {
        const seg = p.segments[i]!;
        if (seg.startsWith('{') && seg.endsWith('}')) {
          let value: string;
          try {
            value = decodeURIComponent(parts[i]!);
          } catch {
            ok = false;
            break;
          }
          if (value === '') ok = false;
          else params[seg.slice(1, -1)] = value;
        } else if (seg !== parts[i]) {
          ok = false;
        }
      }
      if (ok) return { byMethod: p.byMethod, params };
    }
    return undefined;
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin.local');
    const path = url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname;
    const found = this.#find(path);
    let reply: Reply;
    if (found === undefined) {
      reply = new Reply(404, { error: `no such endpoint: ${url.pathname}` });
    } else {
      const { byMethod, params } = found;
      const handler = byMethod.get(req.method ?? 'GET') ?? (req.method === 'HEAD' ? byMethod.get('GET') : undefined);
      if (handler === undefined) {
        reply = new Reply(405, { error: `method ${req.method} not allowed on ${url.pathname}` }, { allow: [...byMethod.keys()].join(', ') });
      } else {
        let refused: Reply | undefined;
        for (const g of this.#guards) if ((refused = g(req, path)) !== undefined) break;
        if (refused !== undefined) {
          reply = refused;
        } else {
          try {
            const body = await handler(req, url, { params, res });
            if (body === HANDLED) return;
            reply = body instanceof Reply ? body : new Reply(200, body);
          } catch (err) {
            reply = err instanceof ReplyError ? err.reply : new Reply(500, { error: err instanceof Error ? err.message : String(err) });
          }
        }
      }
    }
    if (res.headersSent) {
      res.end();
      return;
    }
    const text = typeof reply.body === 'string' ? reply.body : `${JSON.stringify(reply.body, null, 2)}\n`;
    res.writeHead(reply.status, {
      'content-type': typeof reply.body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...reply.headers,
    });
    res.end(req.method === 'HEAD' ? undefined : text);
  }
}

/** A request body went over the reader's limit. */
export class BodyTooLargeError extends Error {
  constructor(limit: number) {
    super(`request body is over the ${limit}-byte limit`);
  }
}

/**
 * The request body as UTF-8 text, at most `limit` bytes. Past the limit it
 * rejects with {@link BodyTooLargeError} at once and drains the rest without
 * keeping it, so a reply can still be written.
 */
export function readBodyText(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Reads a JSON object body of at most `limit` bytes. Answers (by throwing a
 * ReplyError) 413 when larger, 400 when not a JSON object. The content type
 * is not insisted on (`curl -d` sends a form type): the body must parse.
 */
export async function readJsonBody(req: IncomingMessage, limit = MAX_JSON_BODY_BYTES): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    throw new ReplyError(new Reply(413, { error: `request body of ${declared} bytes is over the ${limit}-byte limit` }));
  }
  let text: string;
  try {
    text = await readBodyText(req, limit);
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw new ReplyError(new Reply(413, { error: `request body is over the ${limit}-byte limit` }));
    throw err;
  }
  if (text.trim() === '') throw new ReplyError(new Reply(400, { error: 'expected a JSON object body, got an empty body' }));
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ReplyError(new Reply(400, { error: `request body is not valid JSON: ${(err as Error).message}` }));
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ReplyError(new Reply(400, { error: `expected a JSON object body, got ${Array.isArray(value) ? 'an array' : JSON.stringify(value)}` }));
  }
  return value as Record<string, unknown>;
}
