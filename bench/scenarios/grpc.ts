/**
 * P6: gRPC unary calls. Both sides are `xds:///ratings` clients of the same
 * control plane and config, each in a process of its own (grpc-js-xds keeps
 * one xDS client per process): a plain @grpc/grpc-js-xds client, and the same
 * client code in a process started with enmesh's init() (enmesh's bootstrap,
 * its gRPC hooks and telemetry). Rounds alternate between the two processes,
 * both pinned to core 0; the upstream (plain grpc-js) is on core 1.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startControlPlane } from '../../src/control-plane/server.ts';
import type { Logger } from '../../src/control-plane/log.ts';
import type { RoundResult } from '../lib/measure.ts';
import { pin, startUpstream } from '../lib/upstream.ts';
import { sideRow, throughputRatio, addedCpuUs } from '../lib/interleave.ts';

const here = dirname(fileURLToPath(import.meta.url));

export interface GrpcResult {
  readonly plain: RoundResult[];
  readonly mesh: RoundResult[];
  /** enmesh ÷ plain grpc-js-xds requests per second (goal ≥ 1.00). */
  readonly ratio: number;
  readonly addedCpuUs: number;
}

async function startClient(mode: 'plain' | 'enmesh', xds: string): Promise<ChildProcess> {
  const child = fork(join(here, '..', 'lib', 'grpc-client.ts'), [mode, xds], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [msg] = (await once(child, 'message')) as [{ ready?: boolean }];
  if (msg.ready !== true) throw new Error(`${mode} gRPC client did not start`);
  pin(child.pid!, 0);
  return child;
}

async function round(child: ChildProcess, requests: number, concurrency: number): Promise<RoundResult> {
  child.send({ round: { requests, concurrency } });
  const [r] = (await once(child, 'message')) as [RoundResult];
  return r;
}

export async function grpcScenario(opts: { rounds: number; requests: number; concurrency: number }): Promise<GrpcResult> {
  const upstream = await startUpstream(1, 'grpc-server.ts');
  const dir = await mkdtemp(join(tmpdir(), 'enmesh-bench-grpc-'));
  const file = join(dir, 'mesh.yaml');
  await writeFile(file, `services:\n  ratings:\n    protocol: grpc\n    port: 50051\n    endpoints: [{ address: 127.0.0.1:${upstream.port} }]\n`);
  const quiet: Logger = { info() {}, warn() {}, error() {} };
  const cp = await startControlPlane({ config: file, xdsPort: 0, adminPort: 0, startupHoldMs: 0, ca: false, log: quiet });
  const xds = `127.0.0.1:${cp.xdsPort}`;
  const plainChild = await startClient('plain', xds);
  const meshChild = await startClient('enmesh', xds);
  try {
    for (let i = 0; i < 2; i++) {
      await round(plainChild, opts.requests, opts.concurrency);
      await round(meshChild, opts.requests, opts.concurrency);
    }
    const plain: RoundResult[] = [];
    const mesh: RoundResult[] = [];
    for (let r = 0; r < opts.rounds; r++) {
      if (r % 2 === 0) {
        plain.push(await round(plainChild, opts.requests, opts.concurrency));
        mesh.push(await round(meshChild, opts.requests, opts.concurrency));
      } else {
        mesh.push(await round(meshChild, opts.requests, opts.concurrency));
        plain.push(await round(plainChild, opts.requests, opts.concurrency));
      }
    }
    return { plain, mesh, ratio: throughputRatio(mesh, plain), addedCpuUs: addedCpuUs(mesh, plain) };
  } finally {
    for (const c of [plainChild, meshChild]) {
      c.send({ stop: true });
      if (c.exitCode === null) await once(c, 'exit');
    }
    await cp.close();
    await upstream.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export function grpcTable(g: GrpcResult): string {
  return [
    sideRow('plain grpc-js-xds client', g.plain),
    sideRow('same client, enmesh init()', g.mesh),
    `  → ratio ${g.ratio.toFixed(3)} (goal ≥ 1.00), added CPU ${g.addedCpuUs.toFixed(2)} µs/call`,
  ].join('\n');
}
