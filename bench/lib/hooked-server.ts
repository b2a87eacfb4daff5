/**
 * The benchmark upstream with enmesh's server side on: the same 1 KB answer
 * as server.ts, in a process started with init() as service `bench`, so
 * every request goes through the inbound path (deadline scope, inbound
 * checks, metrics). argv[2] is the mesh file.
 */
import http from 'node:http';
import { init } from 'enmesh';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: hooked-server.ts <mesh.yaml>');
await init({ config: file, service: { name: 'bench' }, watch: false });

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
