/** The benchmark upstreams' shared answer: a fixed 1 KB body, and the port reported to the parent over IPC. */
import type { RequestListener, Server } from 'node:http';
import type { Server as HttpsServer } from 'node:https';

const body = Buffer.alloc(1024, 'x');

export const answer1k: RequestListener = (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
};

/** Listens on a free loopback port with long keep-alive, sends `{ port, ...extra }` to the parent, and exits with it. */
export function listenAndReport(server: Server | HttpsServer, extra: Record<string, unknown> = {}): void {
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    process.send?.({ port: (server.address() as { port: number }).port, ...extra });
  });
  process.on('disconnect', () => process.exit(0));
}
