/**
 * A process that registers an instance the way the SDK does (node metadata
 * `enmesh.registration` on its first ADS request) and then just stays
 * connected, so a test can kill it:
 *
 *   node registrant.ts --port <xds port> --node-id n --service ratings --host 127.0.0.9 --instance-port 7000
 *
 * Prints `{"ready":true}` once the control plane answered.
 */
import { parseArgs } from 'node:util';
import { buildNode } from '../../../src/xds/client/node.ts';
import { LISTENER } from '../../../src/xds/type-urls.ts';
import { RawAds } from './raw-ads.ts';

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'node-id': { type: 'string', default: 'registrant' },
    service: { type: 'string', default: 'ratings' },
    host: { type: 'string', default: '127.0.0.1' },
    'instance-port': { type: 'string' },
    version: { type: 'string', default: 'v3' },
  },
});

const ads = new RawAds(Number(values.port), 'sotw');
const node = buildNode(
  { id: values['node-id'], locality: { zone: 'z' } },
  { service: values.service, host: values.host, port: Number(values['instance-port']), labels: { version: values.version } },
  false,
);
ads.send({ node, type_url: LISTENER, resource_names: [] });
await ads.next(() => true, 10_000);
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
// Stay connected until killed.
setInterval(() => {}, 60_000);
