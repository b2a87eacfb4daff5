/**
 * Serving a registry to Prometheus: a request handler to mount in an existing
 * node:http server, or a small server of its own. Scrapes are answered from
 * memory; nothing here runs per mesh request.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { EnmeshError } from '../errors.ts';

/**
 * Set on servers enmesh runs for itself (metrics, admin), so the inbound hook
 * can leave their requests out of the mesh's own metrics and traces.
 */
export const INTERNAL_SERVER = Symbol.for('enmesh.internal-server');

/** Paths answered by {@link startMetricsServer}: Prometheus' default and Istio's merged-metrics path. */
export const METRICS_PATHS: readonly string[] = Object.freeze(['/metrics', '/stats/prometheus']);

export type MetricsRequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Answers any request with the registry's metrics in Prometheus text format. */
export function metricsHandler(registry: Registry): MetricsRequestHandler {
  return (req, res) => {
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`metrics collection failed: ${err instanceof Error ? err.message : String(err)}\n`);
      },
    );
  };
}

export interface MetricsServerOptions {
  readonly registry: Registry;
  /** Default 15090 (where Istio's proxies serve Prometheus metrics); 0 picks a free port. */
  readonly port?: number;
  /** Default 127.0.0.1. Use 0.0.0.0 to let a Prometheus on another host scrape. */
  readonly host?: string;
}

export interface MetricsServer {
  readonly port: number;
  readonly host: string;
  /** `http://host:port/metrics` */
  readonly url: string;
  close(): Promise<void>;
}

export function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const handle = metricsHandler(options.registry);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if ((req.method === 'GET' || req.method === 'HEAD') && METRICS_PATHS.includes(path)) {
      handle(req, res);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(`not found: ${path} (metrics are at ${METRICS_PATHS.join(' and ')})\n`);
  });
  (server as unknown as Record<symbol, boolean>)[INTERNAL_SERVER] = true;
  // Scrapers keep connections alive between scrapes; do not let them hold close().
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    const port = options.port ?? 15090;
    server.once('error', (err) => {
      reject(new EnmeshError('ENMESH_ERR_INIT', `cannot serve metrics on ${host}:${port}: ${err.message}`, { cause: err }));
    });
    server.listen(port, host, () => {
      const addr = server.address();
      const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
      const urlHost = host.includes(':') ? `[${host}]` : host;
      let closing: Promise<void> | undefined;
      resolve({
        port: bound,
        host,
        url: `http://${urlHost}:${bound}/metrics`,
        close() {
          closing ??= new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          });
          return closing;
        },
      });
    });
  });
}
