/**
 * P5: mutual TLS. Raw: undici.request with an Agent presenting a client
 * certificate to a node:https server that requires one (same key types, same
 * CA kind; SPIFFE certificates carry no DNS name, so the raw client skips
 * hostname checks, as a SPIFFE-aware raw client would replace them). enmesh:
 * the full client stack with mTLS strict — SVIDs issued by the control
 * plane's CA to both sides, the server's SPIFFE identity verified on every
 * new connection, the caller's on the server. Both keep 50 connections
 * alive, so the figure is the per-request cost, not the handshake's.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { init } from 'enmesh';
import { startControlPlane } from '../../src/control-plane/server.ts';
import type { Logger } from '../../src/control-plane/log.ts';
import type { RoundResult } from '../lib/measure.ts';
import { pin } from '../lib/upstream.ts';
import { createBenchPki } from '../lib/mtls-setup.ts';
import { addedCpuUs, interleaved, sideRow, throughputRatio, type RoundPlan, type Send } from '../lib/interleave.ts';

const here = dirname(fileURLToPath(import.meta.url));

export interface MtlsResult {
  readonly raw: RoundResult[];
  readonly mesh: RoundResult[];
  /** enmesh mTLS ÷ raw mutual TLS requests per second (goal ≥ 0.90). */
  readonly ratio: number;
  readonly addedCpuUs: number;
}

async function child(mode: 'raw' | 'enmesh'): Promise<{ proc: ChildProcess; first: { port?: number } }> {
  const proc = fork(join(here, '..', 'lib', 'tls-servers.ts'), [mode], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [first] = (await once(proc, 'message')) as [{ port?: number }];
  pin(proc.pid!, 1);
  return { proc, first };
}

const stop = async (p: ChildProcess): Promise<void> => {
  p.disconnect();
  if (p.exitCode === null) await once(p, 'exit');
};

export async function mtlsScenario(plan: RoundPlan): Promise<MtlsResult> {
  const dir = await mkdtemp(join(tmpdir(), 'enmesh-bench-mtls-'));
  const pki = await createBenchPki('bench.local', ['client', 'upstream']);
  const raw = await child('raw');
  raw.proc.send({ tls: pki.get('upstream')!.raw });
  const [rawReady] = (await once(raw.proc, 'message')) as [{ port: number }];

  const served = await child('enmesh');
  const file = join(dir, 'mesh.yaml');
  await writeFile(
    file,
    `mesh: { trustDomain: bench.local, mtls: strict }
services:
  bench:
    protocol: http
    port: 8080
    endpoints: [{ address: 127.0.0.1:${served.first.port} }]
    subsets: { v1: {} }
    connectionPool: { maxRequests: 10000, maxPendingRequests: 10000 }
    outlierDetection: { consecutive5xx: 5, interval: 10s, baseEjectionTime: 30s, maxEjectionPercent: 50 }
    circuitBreaker: { errorThresholdPercent: 50, volumeThreshold: 20, window: 10s, resetTimeout: 10s }
    routes:
      - name: api
        match: { path: { prefix: /api } }
        backends: [{ subset: v1 }]
        timeout: 5s
        retries: { attempts: 2, on: [5xx, reset, connect-failure] }
  client:
    protocol: http
    port: 8081
    endpoints: [{ address: 127.0.0.1:9 }]
`,
  );
  const quiet: Logger = { info() {}, warn() {}, error() {} };
  const cp = await startControlPlane({ config: file, xdsPort: 0, adminPort: 0, startupHoldMs: 0, log: quiet, ca: { svidTtlMs: 3600_000 } });
  const caUrl = `http://127.0.0.1:${cp.adminPort}`;
  served.proc.send({ init: { config: file, token: await cp.ca!.mintToken('bench'), caUrl } });
  await once(served.proc, 'message');
  const mesh = await init({
    config: file,
    service: { name: 'client' },
    watch: false,
    hooks: { undici: false, http: false, grpc: false },
    security: { token: await cp.ca!.mintToken('client'), caUrl },
  });
  await mesh.ready;

  const rawAgent = new Agent({ connections: plan.concurrency, connect: { ...pki.get('client')!.raw, checkServerIdentity: () => undefined } });
  const meshDispatcher = new Agent({ connections: plan.concurrency }).compose(mesh.interceptor());
  const send = (url: string, dispatcher: Agent | typeof meshDispatcher): Send => async () => {
    const res = await request(url, { dispatcher });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  };
  try {
    const [r, m] = (await interleaved(
      [
        { name: 'raw', send: send(`https://127.0.0.1:${rawReady.port}/api/items`, rawAgent) },
        { name: 'mesh', send: send('http://bench:8080/api/items', meshDispatcher) },
      ],
      plan,
    )) as [RoundResult[], RoundResult[]];
    return { raw: r, mesh: m, ratio: throughputRatio(m, r), addedCpuUs: addedCpuUs(m, r) };
  } finally {
    await rawAgent.close();
    await mesh.close();
    await cp.close();
    await stop(raw.proc);
    await stop(served.proc);
    pki.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export function mtlsTable(t: MtlsResult): string {
  return [
    sideRow('raw undici.request, mutual TLS', t.raw),
    sideRow('enmesh, mTLS strict (SVIDs)', t.mesh),
    `  → ratio ${t.ratio.toFixed(3)} (goal ≥ 0.90), added CPU ${t.addedCpuUs.toFixed(2)} µs/request`,
  ].join('\n');
}
