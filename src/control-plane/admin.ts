/**
 * A small JSON admin API on node:http. Routes are `METHOD /exact/path`
 * entries; a handler returns the body to send as JSON (or a `Reply` for a
 * status other than 200). Anything heavier (a dashboard, streaming views)
 * adds routes here rather than growing a framework.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { EnmeshError } from '../errors.ts';

export type AdminHandler = (req: IncomingMessage, url: URL) => unknown;

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

export class AdminServer {
  readonly #routes = new Map<string, Map<string, AdminHandler>>();
  readonly #server: Server;
  #port = 0;

  constructor() {
    this.#server = createServer((req, res) => {
      void this.#dispatch(req, res);
    });
    // Admin clients are few; do not let idle keep-alive sockets hold shutdown.
    this.#server.keepAliveTimeout = 1000;
  }

  /** Adds (or replaces) the handler of `method path`. */
  route(method: string, path: string, handler: AdminHandler): this {
    let byMethod = this.#routes.get(path);
    if (byMethod === undefined) this.#routes.set(path, (byMethod = new Map()));
    byMethod.set(method.toUpperCase(), handler);
    return this;
  }

  get port(): number {
    return this.#port;
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

  async #dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin.local');
    const byMethod = this.#routes.get(url.pathname.length > 1 ? url.pathname.replace(/\/+$/, '') : url.pathname);
    let reply: Reply;
    if (byMethod === undefined) {
      reply = new Reply(404, { error: `no such endpoint: ${url.pathname}` });
    } else {
      const handler = byMethod.get(req.method ?? 'GET') ?? (req.method === 'HEAD' ? byMethod.get('GET') : undefined);
      if (handler === undefined) {
        reply = new Reply(405, { error: `method ${req.method} not allowed on ${url.pathname}` }, { allow: [...byMethod.keys()].join(', ') });
      } else {
        try {
          const body = await handler(req, url);
          reply = body instanceof Reply ? body : new Reply(200, body);
        } catch (err) {
          reply = new Reply(500, { error: err instanceof Error ? err.message : String(err) });
        }
      }
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
