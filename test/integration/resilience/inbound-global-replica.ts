/**
 * A second replica of `ratings` for the server-side global rate-limit test:
 * init() with Redis, a server on a free port that answers every request it
 * is handed. Prints `{"port":…}` once a global limit is decided in Redis.
 *
 * argv: meshYamlPath redisUrl
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { init } from '../../../src/index.ts';

const [config, redis] = process.argv.slice(2);
const mesh = await init({ service: { name: 'ratings' }, config: config!, redis: redis!, watch: false });
const server = http.createServer((_req, res) => res.end('ok'));
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
// A global limit decides locally until its Redis client has connected.
const waiting = (): boolean => {
  const rl = (mesh.policies() as { inbound?: { rateLimit?: { scope?: string; connected?: boolean } } }).inbound?.rateLimit;
  return rl?.scope === 'global' && rl.connected !== true;
};
const deadline = Date.now() + 10_000;
while (waiting()) {
  if (Date.now() > deadline) throw new Error('the replica could not connect to Redis');
  await new Promise((r) => setTimeout(r, 20));
}
process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
  void mesh.close().then(() => process.exit(0));
});
