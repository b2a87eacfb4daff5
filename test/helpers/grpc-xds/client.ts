/**
 * A grpc-js-xds client, run as a child process (grpc-js-xds keeps one global
 * xDS client per process, so each test gets a fresh process):
 *
 *   GRPC_XDS_BOOTSTRAP_CONFIG='{"xds_servers":[...],"node":{...}}' \
 *     node client.ts --target xds:///ratings --calls 500 [--interval-ms 10] [--header k=v ...]
 *
 * Makes the calls one after another and prints one JSON line per call:
 * `{"i":0,"backend":"v1","attempt":1,"code":0,"t":1712345678901}` (on failure
 * `backend` is null and `details` says why), then `{"done":true,"ok":n,"failed":m}`.
 * The first call waits until xDS has configured the channel. SIGTERM stops it.
 */
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { ratingsClient } from './ratings-proto.ts';
import type { GetReply } from './ratings-proto.ts';

const { values } = parseArgs({
  options: {
    target: { type: 'string', default: 'xds:///ratings' },
    calls: { type: 'string', default: '10' },
    'interval-ms': { type: 'string', default: '0' },
    'deadline-ms': { type: 'string', default: '5000' },
    header: { type: 'string', multiple: true, default: [] },
  },
});

grpcXds.register();
const Ratings = ratingsClient();
const client = new Ratings(values.target, grpc.credentials.createInsecure()) as unknown as grpc.Client & {
  Get(
    req: { key: string },
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, reply?: GetReply) => void,
  ): void;
};

const calls = Number(values.calls);
const intervalMs = Number(values['interval-ms']);
const deadlineMs = Number(values['deadline-ms']);
let stopped = false;
process.once('SIGTERM', () => {
  stopped = true;
});

function callOnce(i: number, first: boolean): Promise<{ ok: boolean }> {
  const md = new grpc.Metadata();
  for (const h of values.header) {
    const eq = h.indexOf('=');
    md.set(h.slice(0, eq), h.slice(eq + 1));
  }
  if (first) md.setOptions({ waitForReady: true });
  return new Promise((resolve) => {
    client.Get({ key: `${process.pid}-${i}` }, md, { deadline: Date.now() + (first ? 15_000 : deadlineMs) }, (err, reply) => {
      const line =
        err === null
          ? { i, backend: reply?.backend ?? null, attempt: reply?.attempt ?? 0, code: 0, t: Date.now() }
          : { i, backend: null, attempt: 0, code: err.code, details: err.details, t: Date.now() };
      process.stdout.write(`${JSON.stringify(line)}\n`);
      resolve({ ok: err === null });
    });
  });
}

let ok = 0;
let failed = 0;
for (let i = 0; i < calls && !stopped; i++) {
  const r = await callOnce(i, i === 0);
  if (r.ok) ok += 1;
  else failed += 1;
  if (intervalMs > 0) await new Promise((res) => setTimeout(res, intervalMs));
}
process.stdout.write(`${JSON.stringify({ done: true, ok, failed })}\n`);
client.close();
process.exit(0);
