/**
 * Benchmark upstream: a plain node:http server answering a fixed 1 KB body.
 * Runs in its own process (started by lib/upstream.ts) so its CPU is not
 * counted against the client being measured.
 */
import http from 'node:http';

const body = Buffer.alloc(1024, 'x');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ port: (server.address() as { port: number }).port });
});
process.on('disconnect', () => process.exit(0));
