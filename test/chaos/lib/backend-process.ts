/**
 * An HTTP backend in a process of its own, so a test can SIGKILL it (crash),
 * SIGSTOP it (hang: the kernel still accepts connections, nothing answers)
 * and start it again on the same port:
 *
 *   node backend-process.ts <name> [port] [host]
 *
 * Answers every request 200 with its name as the body and in `x-backend`.
 * Prints `{"port":N}` once listening; exits when stdin closes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const [name = 'backend', port = '0', host = '127.0.0.1'] = process.argv.slice(2);
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
    res.end(name);
  });
});
server.keepAliveTimeout = 5000;
server.listen(Number(port), host, () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
process.stdin.resume();
process.stdin.on('close', () => process.exit(0));
