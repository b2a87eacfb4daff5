/**
 * The little server kit every example service uses: listens on ENMESH_PORT,
 * keeps its own request statistics (served at /_stats for the demo's table),
 * and answers /healthz. The mesh itself comes from `--import enmesh/register`.
 */
import http from 'node:http';

export interface Stats {
  service: string;
  version: string;
  requests: number;
  errors: number;
  /** Latencies (ms) of the last requests, a bounded ring. */
  latencies: number[];
}

export type Handler = (req: http.IncomingMessage, url: URL) => Promise<{ status?: number; body: unknown }>;

const RING = 2048;

export function startService(handler: Handler): http.Server {
  const service = process.env.ENMESH_SERVICE ?? 'unknown';
  const port = Number(process.env.ENMESH_PORT ?? 0);
  const version = /(?:^|,)version=([^,]+)/.exec(process.env.ENMESH_LABELS ?? '')?.[1] ?? 'v1';
  const stats: Stats = { service, version, requests: 0, errors: 0, latencies: [] };
  let slot = 0;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    if (url.pathname === '/healthz') {
      res.end('ok');
      return;
    }
    if (url.pathname === '/_stats') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(stats));
      return;
    }
    const started = performance.now();
    handler(req, url)
      .then(({ status = 200, body }) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-served-by': `${service}-${version}` });
        res.end(JSON.stringify(body));
        return status;
      })
      .catch((err: Error) => {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: err.message }));
        return 500;
      })
      .then((status) => {
        stats.requests++;
        if (status >= 500) stats.errors++;
        stats.latencies[slot] = performance.now() - started;
        slot = (slot + 1) % RING;
      });
  });
  server.listen(port, '127.0.0.1', () => {
    process.stdout.write(`${service} ${version} listening on 127.0.0.1:${(server.address() as { port: number }).port}\n`);
  });
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  return server;
}
