/**
 * grpc-js-xds's `XdsServer` in a process that ran enmesh's `init()` first
 * (control-plane mode, mTLS identity from the control plane's CA): the
 * bootstrap, certificate files and registration are enmesh's, the server is
 * grpc-js-xds's own. Prints `{"name":…,"port":N}` once it serves.
 *
 *   node enmesh-xds-server.ts --control-plane 127.0.0.1:N --ca-url http://127.0.0.1:M --token T --port P
 */
import { parseArgs } from 'node:util';
import { init } from '../../../src/index.ts';
import { startRatingsBackend } from './server.ts';

const { values } = parseArgs({ options: { 'control-plane': { type: 'string' }, 'ca-url': { type: 'string' }, token: { type: 'string' }, port: { type: 'string' } } });
const port = Number(values.port);
delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
const mesh = await init({
  service: { name: 'ratings', port },
  controlPlane: `xds://${values['control-plane']}`,
  security: { token: values.token!, caUrl: values['ca-url']! },
});
await mesh.ready;
const backend = await startRatingsBackend('xds-ratings-enmesh', { xdsAddress: `127.0.0.1:${port}` });
process.stdout.write(`${JSON.stringify({ name: backend.name, port: backend.port })}\n`);
process.once('SIGTERM', () => void backend.close().then(() => mesh.close()).then(() => process.exit(0)));
