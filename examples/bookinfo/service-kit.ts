/**
 * The little kit every example service uses: who this instance is (from the
 * same ENMESH_* variables the mesh reads), its own request statistics (served
 * at /_stats for the demo's table, beside /healthz), and a clean stop. The
 * mesh itself comes from `--import enmesh/register`: nothing here calls it.
 */
import http from 'node:http';

export interface Identity {
  readonly service: string;
  readonly version: string;
  /** The port this instance serves its protocol on (ENMESH_PORT). */
  readonly port: number;
}

export function identity(): Identity {
  return {
    service: process.env.ENMESH_SERVICE ?? 'unknown',
    version: /(?:^|,)version=([^,]+)/.exec(process.env.ENMESH_LABELS ?? '')?.[1] ?? 'v1',
    port: Number(process.env.ENMESH_PORT ?? 0),
  };
}

/** Latencies kept for percentiles: a bounded ring, so a long run costs no more memory. */
const RING = 2048;

/** Requests served by this instance, as the demo's table reads them from /_stats. */
export class Stats {
  readonly service: string;
  readonly version: string;
  readonly protocol: 'http' | 'grpc';
  requests = 0;
  errors = 0;
  /** Latencies (ms) of the last requests: request n (counting from 0) is at index n % 2048. */
  readonly latencies: number[] = [];
  #slot = 0;

  constructor(me: Identity, protocol: 'http' | 'grpc') {
    this.service = me.service;
    this.version = me.version;
    this.protocol = protocol;
  }

  /** One request answered; `startedAt` from performance.now(). */
  record(startedAt: number, failed: boolean): void {
    this.requests++;
    if (failed) this.errors++;
    this.latencies[this.#slot] = performance.now() - startedAt;
    this.#slot = (this.#slot + 1) % RING;
  }
}

/** Answers /healthz and /_stats; false for any other path. */
function serveAdmin(stats: Stats, path: string, res: http.ServerResponse): boolean {
  if (path === '/healthz') {
    res.end('ok');
    return true;
  }
  if (path === '/_stats') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(stats));
    return true;
  }
  return false;
}

export type Handler = (req: http.IncomingMessage, url: URL) => Promise<{ status?: number; body: unknown }>;

/** An HTTP service on ENMESH_PORT: JSON answers from `handler`, plus /healthz and /_stats. */
export function startService(handler: Handler): http.Server {
  const me = identity();
  const stats = new Stats(me, 'http');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    if (serveAdmin(stats, url.pathname, res)) return;
    const started = performance.now();
    handler(req, url)
      .then(({ status = 200, body }) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-served-by': `${me.service}-${me.version}` });
        res.end(JSON.stringify(body));
        return status;
      })
      .catch((err: Error) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: err.message }));
        return 500;
      })
      .then((status) => stats.record(started, status >= 500));
  });
  server.listen(me.port, '127.0.0.1', () => {
    process.stdout.write(`${me.service} ${me.version} listening on 127.0.0.1:${(server.address() as { port: number }).port}\n`);
  });
  stopOn(() => {
    server.close();
    server.closeAllConnections();
  });
  return server;
}

/** /healthz and /_stats on a port of their own, for a service whose protocol is not HTTP. */
export function startStatsServer(stats: Stats, port: number): http.Server {
  const server = http.createServer((req, res) => {
    if (serveAdmin(stats, new URL(req.url ?? '/', 'http://local').pathname, res)) return;
    res.statusCode = 404;
    res.end();
  });
  server.listen(port, '127.0.0.1');
  stopOn(() => {
    server.close();
    server.closeAllConnections();
  });
  return server;
}

const stops: (() => void)[] = [];

/**
 * Runs `fn` and exits on SIGTERM, SIGINT, or when the parent that started this
 * process over IPC goes away (so a demo that dies never leaves services behind).
 */
export function stopOn(fn: () => void): void {
  if (stops.push(fn) > 1) return;
  const stop = (): void => {
    for (const f of stops) f();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('disconnect', stop);
}
