/**
 * A grpc-js-xds client, run as a child process (grpc-js-xds keeps one global
 * xDS client per process, so each test gets a fresh process):
 *
 *   GRPC_XDS_BOOTSTRAP_CONFIG='{"xds_servers":[...],"node":{...}}' \
 *     node client.ts --target xds:///ratings --calls 500 [--interval-ms 10] [--header k=v ...]
 *       [--method Get|List] [--concurrency 1] [--stagger-ms 0] [--deadline-ms 5000] [--xds-creds]
 *
 * `--xds-creds`: the channel's credentials are `XdsChannelCredentials` over
 * insecure ones, so it applies the TLS context of each cluster (mTLS from the
 * bootstrap's certificate providers in `mesh.mtls: strict`).
 *
 * Prints one JSON line per call, in the order calls finish:
 * `{"i":0,"backend":"v1","attempt":1,"code":0,"t":1712345678901,"ms":3}` (`t`
 * when it finished, `ms` how long it took; on failure `backend` is null and
 * `details` says why), then `{"done":true,"ok":n,"failed":m}`.
 * The first call runs alone and waits until xDS has configured the channel;
 * the rest run `concurrency` at a time, the k-th of those lanes starting k ×
 * `stagger-ms` later (calls started in the same tick all pass grpc-js's
 * in-flight counters before any is counted). SIGTERM stops it.
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
    method: { type: 'string', default: 'Get' },
    concurrency: { type: 'string', default: '1' },
    'stagger-ms': { type: 'string', default: '0' },
    'xds-creds': { type: 'boolean', default: false },
  },
});

grpcXds.register();
const Ratings = ratingsClient();
const insecure = grpc.credentials.createInsecure();
const client = new Ratings(values.target, values['xds-creds'] ? new grpcXds.XdsChannelCredentials(insecure) : insecure) as unknown as grpc.Client & {
  [method: string]: (
    req: { key: string },
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, reply?: GetReply) => void,
  ) => void;
};

const calls = Number(values.calls);
const intervalMs = Number(values['interval-ms']);
const deadlineMs = Number(values['deadline-ms']);
const method = values.method;
const concurrency = Math.max(1, Number(values.concurrency));
const staggerMs = Number(values['stagger-ms']);
if (method !== 'Get' && method !== 'List') throw new Error(`--method must be Get or List, got ${method}`);
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
  const started = Date.now();
  return new Promise((resolve) => {
    client[method]!({ key: `${process.pid}-${i}` }, md, { deadline: started + (first ? 15_000 : deadlineMs) }, (err, reply) => {
      const t = Date.now();
      const line =
        err === null
          ? { i, backend: reply?.backend ?? null, attempt: reply?.attempt ?? 0, code: 0, t, ms: t - started }
          : { i, backend: null, attempt: 0, code: err.code, details: err.details, t, ms: t - started };
      process.stdout.write(`${JSON.stringify(line)}\n`);
      resolve({ ok: err === null });
    });
  });
}

let ok = 0;
let failed = 0;
let next = 0;
async function worker(lane: number): Promise<void> {
  if (lane > 0 && staggerMs > 0) await new Promise((res) => setTimeout(res, lane * staggerMs));
  while (next < calls && !stopped) {
    const i = next++;
    const r = await callOnce(i, false);
    if (r.ok) ok += 1;
    else failed += 1;
    if (intervalMs > 0) await new Promise((res) => setTimeout(res, intervalMs));
  }
}
if (calls > 0) {
  next = 1;
  const r = await callOnce(0, true);
  if (r.ok) ok += 1;
  else failed += 1;
}
await Promise.all(Array.from({ length: concurrency }, (_, lane) => worker(lane)));
process.stdout.write(`${JSON.stringify({ done: true, ok, failed })}\n`);
client.close();
process.exit(0);
