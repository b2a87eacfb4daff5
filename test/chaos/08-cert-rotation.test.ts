/**
 * Scenario 8, certificate rotation under load, then the CA down past expiry.
 * Built from the security building blocks (the control plane's CA over HTTP,
 * SvidManager, the strict mTLS listener and the mesh connector), as
 * test/integration/security/ca-rotation.test.ts: two services renew short-lived
 * SVIDs at half-life while one calls the other, every call on a new connection
 * (the server answers `connection: close`), so every call is a handshake.
 *
 * Pass: 0 handshake failures and 0 failed calls across every rotation; with
 * the CA down past expiry, calls fail closed with ENMESH_ERR_SVID_UNAVAILABLE
 * and a message saying why. Default: 4 s SVIDs (a rotation about every 2 s)
 * for 30 s; ENMESH_CHAOS_FULL=1: 120 s SVIDs (every ~60 s) for 10 minutes.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import { startControlPlane } from '../../src/control-plane/server.ts';
import type { ControlPlane } from '../../src/control-plane/server.ts';
import { silentLogger } from '../../src/control-plane/log.ts';
import { httpCaClient } from '../../src/security/ca-client.ts';
import { meshConnector } from '../../src/security/mtls-client.ts';
import { attachMeshTls } from '../../src/security/permissive-listener.ts';
import type { MeshTls } from '../../src/security/permissive-listener.ts';
import { peerOf } from '../../src/security/peer-store.ts';
import { SvidManager } from '../../src/security/svid-manager.ts';
import { createMeshFile } from '../helpers/mesh-file.ts';
import type { MeshFile } from '../helpers/mesh-file.ts';
import { report, scaled } from './lib/figures.ts';

const TTL_MS = scaled(4000, 120_000);
const RUN_MS = scaled(30_000, 600_000);
const RPS = 50;

let file: MeshFile;
let cp: ControlPlane | undefined;
let server: Server;
let tls: MeshTls;
let serverSvids: SvidManager;
let clientSvids: SvidManager;
let port: number;

async function token(service: string, caDir: string): Promise<string> {
  let out = '';
  let err = '';
  const code = await main(['token', 'create', '--service', service, '--ca-dir', caDir, '--config', file.path, '--ttl', '2h'], {
    stdout: (t: string) => void (out += t),
    stderr: (t: string) => void (err += t),
    waitForSignal: () => new Promise<string>(() => undefined),
  });
  if (code !== 0) throw new Error(`token create failed: ${err}`);
  return out.trim();
}

beforeAll(async () => {
  file = await createMeshFile(`mesh: { trustDomain: chaos.local, mtls: strict }\nservices:\n  reviews: { protocol: http, port: 9080 }\n  ratings: { protocol: http, port: 9080 }\n`);
  const caDir = `${file.path}.ca`;
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: { dir: caDir, svidTtlMs: TTL_MS } });
  const url = `http://127.0.0.1:${cp.adminPort}`;
  const make = async (service: string): Promise<SvidManager> =>
    new SvidManager({
      trustDomain: 'chaos.local',
      service,
      signer: httpCaClient({ url, token: await token(service, caDir), timeoutMs: 1000 }),
      retry: { baseMs: 100, maxMs: 500 },
      bundleRefreshMs: 0,
    });
  serverSvids = await make('reviews');
  clientSvids = await make('ratings');
  await Promise.all([serverSvids.start(), clientSvids.start()]);
  server = createServer((req, res) => {
    res.setHeader('connection', 'close');
    res.end(peerOf(req)?.spiffeId ?? 'plaintext');
  });
  tls = attachMeshTls(server, { mode: 'strict', svids: serverSvids });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  serverSvids?.close();
  clientSvids?.close();
  server?.closeAllConnections();
  server?.close();
  await cp?.close();
  await file?.remove();
});

it(`rotates certificates every ~${TTL_MS / 2000} s for ${RUN_MS / 1000} s under load with 0 handshake failures, then fails closed`, async () => {
  let handshakes = 0;
  let handshakeErrors = 0;
  const errors: string[] = [];
  tls.tlsServer.on('secureConnection', () => handshakes++);
  tls.tlsServer.on('tlsClientError', (e: Error) => {
    handshakeErrors++;
    if (errors.length < 5) errors.push(e.message);
  });
  let rotations = 0;
  serverSvids.on('rotated', () => rotations++);
  clientSvids.on('rotated', () => rotations++);
  const agent = new Agent({ connect: meshConnector({ svids: clientSvids, expectedPeer: () => 'spiffe://chaos.local/service/reviews' }) });
  let ok = 0;
  let failed = 0;
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  try {
    for (let i = 0; performance.now() - started < RUN_MS; i++) {
      const wait = started + (i * 1000) / RPS - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const p = request(`http://127.0.0.1:${port}/`, { dispatcher: agent })
        .then(async (r) => {
          const body = await r.body.text();
          if (r.statusCode === 200 && body === 'spiffe://chaos.local/service/ratings') ok++;
          else failed++;
        })
        .catch((e: Error & { code?: string }) => {
          failed++;
          if (errors.length < 5) errors.push(`${e.code ?? ''} ${e.message}`);
        })
        .finally(() => pending.delete(p));
      pending.add(p);
    }
    await Promise.all(pending);
  } finally {
    await agent.close();
  }
  const refusals = Object.values(serverSvids.verifier.refusals).reduce((a, b) => a + b, 0);

  // The CA goes away and stays away past the certificates' expiry: no renewal, then fail closed.
  const caDownAt = Date.now();
  await cp!.close();
  cp = undefined;
  if (clientSvids.ready) await once(clientSvids, 'expired');
  const expiredAfterMs = Date.now() - caDownAt;
  const closedAgent = new Agent({ connect: meshConnector({ svids: clientSvids }) });
  let failClosed: (Error & { code?: string }) | undefined;
  try {
    await request(`http://127.0.0.1:${port}/`, { dispatcher: closedAgent });
  } catch (e) {
    failClosed = e as Error & { code?: string };
  } finally {
    await closedAgent.close();
  }

  report('8', {
    ttlMs: TTL_MS,
    runMs: RUN_MS,
    requests: ok + failed,
    failed,
    handshakes,
    handshakeFailures: handshakeErrors,
    peerRefusals: refusals,
    rotations,
    renewalFailuresWhileCaDown: clientSvids.failures,
    failClosedAfterCaDownMs: expiredAfterMs,
    failClosedCode: failClosed?.code ?? 'none',
  });
  console.log(`CHAOS scenario=8 fail-closed error: ${failClosed?.message ?? 'none'}`);
  expect(errors).toEqual([]);
  expect(failed).toBe(0);
  expect(handshakeErrors).toBe(0);
  expect(refusals).toBe(0);
  expect(ok).toBeGreaterThan((RPS * RUN_MS) / 1000 * 0.8);
  // Every call was its own handshake, across both sides' rotations (each renews at 40..60 % of its life).
  expect(handshakes).toBe(ok);
  expect(rotations).toBeGreaterThanOrEqual(2 * Math.floor(RUN_MS / (TTL_MS * 0.6)) - 2);
  // Fail closed: no call goes out without a valid certificate of our own, and the error says why.
  expect(clientSvids.ready).toBe(false);
  expect(clientSvids.failures).toBeGreaterThan(0);
  expect(failClosed?.code).toBe('ENMESH_ERR_SVID_UNAVAILABLE');
  expect(failClosed?.message).toMatch(/expired|no valid|certificate/i);
});
