/**
 * P5's upstreams, one process each (the parent picks with argv[2]):
 *
 *   tls-servers.ts raw     plain node:https, mutual TLS (client certificate required),
 *                          key material from the parent over IPC
 *   tls-servers.ts enmesh  plain node:http, in a process started with init() as
 *                          service `bench` with mTLS strict: SVID from the control
 *                          plane's CA, the mesh's TLS listener on its port
 *
 * Both answer the same fixed 1 KB body. Protocol over IPC: the child reports
 * {port}; the parent sends {tls} (raw) or {init} (enmesh); the child answers {ready}.
 */
import http from 'node:http';
import https from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import { answer1k as handler, listenAndReport } from './answer.ts';

type Msg = { tls?: SecureContextOptions; init?: { config: string; token: string; caUrl: string } };
const mode = process.argv[2];
if (mode === 'raw') {
  process.once('message', (msg: Msg) => {
    listenAndReport(https.createServer({ ...msg.tls!, requestCert: true, rejectUnauthorized: true }, handler), { ready: true });
  });
  process.send?.({ waiting: true });
} else if (mode === 'enmesh') {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    const port = (server.address() as { port: number }).port;
    process.once('message', (msg: Msg) => {
      void (async () => {
        const { init } = await import('enmesh');
        const mesh = await init({ config: msg.init!.config, service: { name: 'bench', port }, watch: false, security: { token: msg.init!.token, caUrl: msg.init!.caUrl } });
        await mesh.ready;
        process.send?.({ ready: true });
      })();
    });
    process.send?.({ port });
  });
} else {
  throw new Error('usage: tls-servers.ts raw|enmesh');
}
process.on('disconnect', () => process.exit(0));
