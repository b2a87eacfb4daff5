/**
 * grpc-js-xds's own xDS-enabled server (`XdsServer`, in a child process,
 * bootstrap from `grpcXdsBootstrap`) served by the control plane: it asks for
 * the Listener of the address it binds and serves only once that arrives;
 * with `mtls: strict` the Listener's DownstreamTlsContext makes it serve mTLS
 * with the SVID files this test keeps, and its RBAC filters decide on the
 * caller's identity. Callers are grpc-js-xds clients (child processes) with
 * SVIDs of their own, for `xds:///ratings`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientView } from '../../../src/control-plane/client-registry.ts';
import { httpCaClient, type HttpCaClient } from '../../../src/security/ca-client.ts';
import { SvidManager, type GrpcXdsFiles } from '../../../src/security/svid-manager.ts';
import { grpcXdsBootstrap } from '../../../src/xds/grpc-bootstrap.ts';
import { serverListenerName } from '../../../src/xds/resource-names.ts';
import { LISTENER } from '../../../src/xds/type-urls.ts';
import { freePort } from '../../helpers/free-port.ts';
import { meshFixture } from '../../helpers/grpc-xds/fixture.ts';
import { ratingsClient } from '../../helpers/grpc-xds/ratings-proto.ts';
import { spawnXdsClient } from '../../helpers/grpc-xds/spawn-client.ts';
import type { CallLine, XdsClientRun } from '../../helpers/grpc-xds/spawn-client.ts';
import { clientView, startHarness } from './harness.ts';
import type { Harness } from './harness.ts';

const SERVER = fileURLToPath(new URL('../../helpers/grpc-xds/server.ts', import.meta.url));
const ENMESH_SERVER = fileURLToPath(new URL('../../helpers/grpc-xds/enmesh-xds-server.ts', import.meta.url));

interface Identity {
  readonly svids: SvidManager;
  readonly ca: HttpCaClient;
  readonly files: GrpcXdsFiles;
}

interface ServerProcess {
  readonly child: ChildProcess;
  /** Resolves once it printed its line: it serves. */
  readonly serving: Promise<void>;
  readonly served: boolean;
  stderr(): string;
}

let h: Harness;
let dir: string;
let port: number;
let address: string;
let server: ServerProcess;
const servers: ServerProcess[] = [];
const identities = new Map<string, Identity>();
const runs: XdsClientRun[] = [];

const mesh = (endpoints: string, callers: string): string => meshFixture('ratings-xds-server.yaml', { endpoints, callers });

async function identity(service: string): Promise<Identity> {
  const ca = httpCaClient({ url: `http://127.0.0.1:${h.cp.adminPort}`, token: await h.cp.ca!.mintToken(service) });
  const svids = new SvidManager({ trustDomain: 'demo.local', service, signer: ca, bundleRefreshMs: 0 });
  await svids.start();
  const id = { svids, ca, files: await svids.writeGrpcXdsFiles(join(dir, service)) };
  identities.set(service, id);
  return id;
}

/** server.ts as an XdsServer of ratings on `at`, in a child process whose bootstrap comes from grpcXdsBootstrap. */
function startXdsServer(at: string, nodeId: string, rbac = true): ServerProcess {
  const bootstrap = grpcXdsBootstrap({
    servers: [`127.0.0.1:${h.cp.xdsPort}`],
    nodeId,
    zone: 'z',
    certificateProviders: identities.get('ratings')!.files.certificateProviders,
  });
  const env: NodeJS.ProcessEnv = { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap) };
  if (rbac) env.GRPC_XDS_EXPERIMENTAL_RBAC = 'true';
  else delete env.GRPC_XDS_EXPERIMENTAL_RBAC;
  const child = spawn(process.execPath, [SERVER, '--name', 'xds-ratings', '--xds-address', at], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const s = { child, served: false, stderr: () => err, serving: Promise.resolve() };
  s.serving = new Promise<void>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('"port"')) {
        s.served = true;
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`XdsServer exited with ${code}: ${err.slice(-2000)}`)));
  });
  s.serving.catch(() => {});
  servers.push(s);
  return s;
}

function caller(service: string, nodeId: string, calls: number, method: 'Get' | 'List' = 'Get'): XdsClientRun {
  const run = spawnXdsClient({ xdsPort: h.cp.xdsPort, nodeId, calls, method, certificateProviders: identities.get(service)!.files.certificateProviders });
  runs.push(run);
  return run;
}

/** Polls the control plane's view of a client until `ok` holds. */
async function viewWhen(nodeId: string, ok: (v: ClientView) => boolean, timeoutMs: number, what: string): Promise<ClientView> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await clientView(h, nodeId);
      if (ok(v)) return v;
      last = v.types[LISTENER];
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms; last LDS view: ${JSON.stringify(last)}; server stderr: ${server.stderr().slice(-1000)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const codes = (lines: readonly CallLine[]): number[] => lines.map((l) => l.code);

/** One Get from a plaintext client straight to `at`: its status code. */
async function plaintextCall(at: string): Promise<number> {
  const plain = new (ratingsClient())(at, grpc.credentials.createInsecure());
  try {
    return await new Promise<number>((resolve) => {
      (plain as unknown as { Get(r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void): void }).Get({ key: 'k' }, { deadline: Date.now() + 3000 }, (e) =>
        resolve(e === null ? grpc.status.OK : e.code),
      );
    });
  } finally {
    plain.close();
  }
}

function connectRefused(to: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(to, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

beforeAll(async () => {
  port = await freePort();
  address = `127.0.0.1:${port}`;
  dir = await mkdtemp(join(tmpdir(), 'enmesh-xds-server-'));
  // The server's address is no endpoint yet: its listener does not exist.
  h = await startHarness(mesh('[]', '[{ service: reviews }]'), { startupHoldMs: 0, ca: { svidTtlMs: 3600_000 } });
  await Promise.all([identity('ratings'), identity('reviews'), identity('batch')]);
  server = startXdsServer(address, 'ratings-server');
}, 30_000);

afterAll(async () => {
  for (const r of runs) r.stop();
  await Promise.allSettled(runs.map((r) => r.done));
  await Promise.all(
    servers.map(async (s) => {
      if (s.child.exitCode !== null || s.child.signalCode !== null) return;
      const exited = new Promise((r) => s.child.once('exit', r));
      s.child.kill('SIGTERM');
      await exited;
    }),
  );
  for (const id of identities.values()) {
    id.files.stop();
    id.svids.close();
    await id.ca.close();
  }
  await h?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('grpc-js-xds XdsServer served by the control plane', () => {
  it('keeps its port closed while its address is no endpoint, and serves once its listener arrives', async () => {
    const name = serverListenerName(address);
    // It asked for its listener (grpc-xds profile) and was told it does not exist.
    const before = await viewWhen('ratings-server', (v) => (v.types[LISTENER]?.acks ?? 0) > 0, 15_000, 'the XdsServer did not ask for its listener');
    expect(before.profile).toBe('grpc-xds');
    expect(before.types[LISTENER]!.subscribed).toEqual([name]);
    expect(before.types[LISTENER]!.sentResources).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(server.served).toBe(false);
    expect(await connectRefused(port)).toBe(true);

    await h.apply(mesh(`["${address}"]`, '[{ service: reviews }]'));
    await server.serving;
    const after = await viewWhen('ratings-server', (v) => v.types[LISTENER]!.ackedVersion === v.types[LISTENER]!.sentVersion, 5000, 'the listener was not ACKed');
    expect(after.types[LISTENER]!.sentResources).toEqual([name]);
    expect(after.types[LISTENER]!.nacks).toBe(0);
  });

  it('applies the service’s RBAC over mTLS: the allowed caller gets OK, another caller and another method PERMISSION_DENIED', async () => {
    const reviews = caller('reviews', 'reviews-get', 5);
    const reviewsList = caller('reviews', 'reviews-list', 3, 'List');
    const batch = caller('batch', 'batch-get', 5);
    const [ok, list, denied] = await Promise.all([reviews.done, reviewsList.done, batch.done]);
    expect(ok.map((l) => [l.code, l.backend])).toEqual(Array(5).fill([grpc.status.OK, 'xds-ratings']));
    expect(codes(list)).toEqual(Array(3).fill(grpc.status.PERMISSION_DENIED));
    expect(codes(denied)).toEqual(Array(5).fill(grpc.status.PERMISSION_DENIED));
    expect(new Set(denied.map((l) => l.details))).toEqual(new Set(['Unauthorized RPC rejected']));
  });

  it('takes a policy change while serving: the caller refused before is let in', async () => {
    const version = (await clientView(h, 'ratings-server')).types[LISTENER]!.ackedVersion;
    await h.apply(mesh(`["${address}"]`, '[{ service: reviews }, { service: batch }]'));
    await viewWhen('ratings-server', (v) => v.types[LISTENER]!.ackedVersion !== version, 5000, 'the new listener was not ACKed');
    const lines = await caller('batch', 'batch-again', 5).done;
    expect(lines.map((l) => [l.code, l.backend])).toEqual(Array(5).fill([grpc.status.OK, 'xds-ratings']));
  });

  it('refuses a plaintext caller', async () => {
    expect(await plaintextCall(address)).toBe(grpc.status.UNAVAILABLE);
  });

  it('an XdsServer in a process that ran init() takes its listener, certificate and RBAC from the same control plane', { timeout: 60_000 }, async () => {
    await h.apply(mesh(`["${address}"]`, '[{ service: reviews }]'));
    const port3 = await freePort();
    const child = spawn(
      process.execPath,
      [ENMESH_SERVER, '--control-plane', `127.0.0.1:${h.cp.xdsPort}`, '--ca-url', `http://127.0.0.1:${h.cp.adminPort}`, '--token', await h.cp.ca!.mintToken('ratings'), '--port', String(port3)],
      { env: { ...process.env, GRPC_XDS_EXPERIMENTAL_RBAC: 'true' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    const s: ServerProcess = { child, served: false, stderr: () => err, serving: Promise.resolve() };
    servers.push(s);
    // It registers itself (init with a port), so its address becomes an endpoint of ratings and gets a listener.
    await new Promise<void>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        if (d.includes('"port"')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`XdsServer with init() exited with ${code}: ${err.slice(-2000)}`)));
    });
    // Both servers are endpoints now; round robin reaches each, mTLS both ways, RBAC on the verified caller.
    const ok = await caller('reviews', 'reviews-two-servers', 12).done;
    expect(codes(ok)).toEqual(Array(12).fill(grpc.status.OK));
    expect(new Set(ok.map((l) => l.backend))).toEqual(new Set(['xds-ratings', 'xds-ratings-enmesh']));
    const denied = await caller('batch', 'batch-two-servers', 6).done;
    expect(codes(denied)).toEqual(Array(6).fill(grpc.status.PERMISSION_DENIED));
    expect(await plaintextCall(`127.0.0.1:${port3}`)).toBe(grpc.status.UNAVAILABLE);
  });

  it('a server that cannot apply RBAC refuses its listener (NACK) and keeps its port closed', async () => {
    const port2 = await freePort();
    const address2 = `127.0.0.1:${port2}`;
    const unchecked = startXdsServer(address2, 'ratings-server-no-rbac', false);
    await h.apply(mesh(`["${address}", "${address2}"]`, '[{ service: reviews }]'));
    const view = await viewWhen('ratings-server-no-rbac', (v) => (v.types[LISTENER]?.nacks ?? 0) > 0, 15_000, 'the listener was not NACKed');
    expect(view.types[LISTENER]!.lastNack!.error).toMatch(/rbac\.allow filter validation failed/);
    expect(unchecked.served).toBe(false);
    expect(await connectRefused(port2)).toBe(true);
  });
});
