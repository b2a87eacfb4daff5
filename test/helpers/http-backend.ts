/** Real HTTP backends on 127.0.0.1:0 for integration tests, with scriptable failures. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export interface Backend {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  readonly seen: SeenRequest[];
  /** Answer the next `n` requests with this status. */
  failNext(n: number, status?: number, headers?: Record<string, string>): void;
  /** Answer every request with this status (0 = back to normal). */
  failAll(status: number): void;
  /** Delay each answer by `ms`. */
  delay(ms: number): void;
  reset(): void;
  close(): Promise<void>;
}

/** Original (unhooked) createServer is fine: the mesh hooks only emit on the prototype. */
export async function startBackend(name: string): Promise<Backend> {
  let failCount = 0;
  let failStatus = 503;
  let failHeaders: Record<string, string> = {};
  let failAlways = 0;
  let delayMs = 0;
  const seen: SeenRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString() });
      const answer = (): void => {
        if (failAlways > 0) {
          res.writeHead(failAlways, { 'content-type': 'text/plain', 'x-backend': name });
          res.end(`${name} failing`);
          return;
        }
        if (failCount > 0) {
          failCount--;
          res.writeHead(failStatus, { 'content-type': 'text/plain', 'x-backend': name, ...failHeaders });
          res.end(`${name} failed`);
          return;
        }
        res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name, server: 'test-backend' });
        res.end(name);
      };
      if (delayMs > 0) setTimeout(answer, delayMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    seen,
    failNext(n, status = 503, headers = {}) {
      failCount = n;
      failStatus = status;
      failHeaders = headers;
    },
    failAll(status) {
      failAlways = status;
    },
    delay(ms) {
      delayMs = ms;
    },
    reset() {
      failCount = 0;
      failAlways = 0;
      delayMs = 0;
      seen.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
