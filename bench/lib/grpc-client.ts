/**
 * A gRPC benchmark client process: `xds:///ratings` unary calls, in
 * closed-loop rounds the parent asks for over IPC.
 *
 *   grpc-client.ts plain  <xds host:port>   grpc-js-xds on its own (bootstrap from the environment)
 *   grpc-client.ts enmesh <xds host:port>   the same calls in a process started with enmesh's init()
 *
 * Messages: {round: {requests, concurrency}} → RoundResult; {stop: true} → exit.
 */
import * as grpc from '@grpc/grpc-js';
import { ratingsClient } from '../../examples/bookinfo/ratings-proto.ts';
import { closedLoop } from './measure.ts';

const [mode, xds] = process.argv.slice(2);
if ((mode !== 'plain' && mode !== 'enmesh') || xds === undefined) throw new Error('usage: grpc-client.ts plain|enmesh <host:port>');

if (mode === 'plain') {
  process.env.GRPC_XDS_BOOTSTRAP_CONFIG = JSON.stringify({
    xds_servers: [{ server_uri: xds, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: `bench-plain~${process.pid}`, locality: { zone: '' } },
  });
  const xdsLib = await import('@grpc/grpc-js-xds');
  xdsLib.register();
} else {
  const { init } = await import('enmesh');
  await init({ controlPlane: xds, service: { name: 'bench-client' }, hooks: { undici: false, http: false } });
}

const client = ratingsClient('xds:///ratings');
const call = (first: boolean): Promise<void> =>
  new Promise((resolve, reject) => {
    const md = new grpc.Metadata();
    if (first) md.setOptions({ waitForReady: true });
    client.Get({ productId: 'p1', user: 'u' }, md, { deadline: Date.now() + (first ? 20_000 : 5000) }, (err) => (err === null ? resolve() : reject(err)));
  });
await call(true);
const send = (): Promise<void> => call(false);

process.on('message', (msg: { round?: { requests: number; concurrency: number }; stop?: boolean }) => {
  if (msg.stop === true) process.exit(0);
  if (msg.round !== undefined) void closedLoop(msg.round.requests, msg.round.concurrency, send).then((r) => process.send?.(r));
});
process.send?.({ ready: true });
