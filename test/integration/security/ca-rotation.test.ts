/**
 * The control plane's CA over HTTP, end to end: `enmesh token create`, CSR
 * signing and refusals, and an SVID manager renewing a short-lived SVID
 * (2 s TTL) under live mTLS traffic, through a CA outage, to fail-closed.
 */
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { httpCaClient } from '../../../src/security/ca-client.ts';
import { meshConnector } from '../../../src/security/mtls-client.ts';
import { attachMeshTls } from '../../../src/security/permissive-listener.ts';
import { peerOf } from '../../../src/security/peer-store.ts';
import { SvidManager } from '../../../src/security/svid-manager.ts';
import type { Svid } from '../../../src/security/svid-manager.ts';
import { pemToDers } from '../../../src/security/x509.ts';
import { makeCsr } from '../../fixtures/security/pki.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';

const MESH = `mesh: { trustDomain: demo.local, mtls: strict }
services:
  reviews: { protocol: http, port: 9080 }
  ratings: { protocol: http, port: 9080 }
`;

let file: MeshFile;
let cp: ControlPlane;
let caDir: string;
let adminUrl: string;

function captureIo(): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout: (t: string) => void (io.out += t),
    stderr: (t: string) => void (io.err += t),
    waitForSignal: () => new Promise<string>(() => undefined),
  };
  return io;
}

async function token(service: string, extra: string[] = []): Promise<string> {
  const io = captureIo();
  const code = await main(['token', 'create', '--service', service, '--ca-dir', caDir, '--config', file.path, ...extra], io);
  expect(code, io.err).toBe(0);
  return io.out.trim();
}

beforeAll(async () => {
  file = await createMeshFile(MESH);
  caDir = `${file.path}.ca`;
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: { dir: caDir, svidTtlMs: 2000 } });
  adminUrl = `http://127.0.0.1:${cp.adminPort}`;
});
afterAll(async () => {
  await cp?.close();
  await file?.remove();
});

describe('CA endpoint', () => {
  it('signs a CSR for the service named by a CLI-minted token; refuses everything else', async () => {
    const reviewsToken = await token('reviews', ['--ttl', '1h']);
    const ca = httpCaClient({ url: adminUrl, token: reviewsToken });
    try {
      const signed = await ca.sign((await makeCsr()).pem);
      expect(pemToDers(signed.certChainPem)).toHaveLength(1);
      expect(await ca.fetchBundle()).toBe(signed.bundlePem);

      const post = async (body: unknown, auth?: string, type = 'application/json'): Promise<{ status: number; reason: unknown }> => {
        const res = await request(`${adminUrl}/api/v1/ca/sign`, {
          method: 'POST',
          headers: { 'content-type': type, ...(auth === undefined ? {} : { authorization: auth }) },
          body: typeof body === 'string' ? body : JSON.stringify(body),
        });
        const json = (await res.body.json()) as { reason?: unknown };
        return { status: res.statusCode, reason: json.reason };
      };
      const csr = (await makeCsr()).pem;
      expect(await post({ csr })).toEqual({ status: 401, reason: 'token-missing' });
      expect(await post({ csr }, `Bearer ${reviewsToken.slice(0, -4)}AAAA`)).toEqual({ status: 401, reason: 'token-invalid' });
      expect(await post({ csr }, `Bearer ${await token('ratings')}`)).toEqual({ status: 403, reason: 'csr-identity-mismatch' });
      const twoSans = (await makeCsr({ sans: [{ uri: 'spiffe://demo.local/service/reviews' }, { uri: 'spiffe://demo.local/service/ratings' }] })).pem;
      expect(await post({ csr: twoSans }, `Bearer ${reviewsToken}`)).toEqual({ status: 403, reason: 'csr-san-multiple' });
      expect(await post('{not json', `Bearer ${reviewsToken}`)).toEqual({ status: 400, reason: 'body-invalid' });
      expect(await post({ csr: 'x'.repeat(40_000) }, `Bearer ${reviewsToken}`)).toEqual({ status: 400, reason: 'body-invalid' });
      expect(await post({ csr }, `Bearer ${reviewsToken}`, 'text/plain')).toEqual({ status: 415, reason: 'body-type' });
      expect(cp.ca!.stats().refused).toMatchObject({ 'token-missing': 1, 'token-invalid': 1, 'csr-identity-mismatch': 1, 'csr-san-multiple': 1 });
    } finally {
      await ca.close();
    }
  });

  it('makes the CLI refuse without a key or trust domain (usage errors)', async () => {
    const io = captureIo();
    expect(await main(['token', 'create', '--service', 'reviews'], io)).toBe(2);
    expect(io.err).toMatch(/--key <file> or --ca-dir/);
    expect(await main(['token', 'create', '--service', 'reviews', '--ca-dir', caDir], captureIo())).toBe(2);
    expect(await main(['token', 'create', '--ca-dir', caDir, '--config', file.path], captureIo())).toBe(2);
    const bad = captureIo();
    expect(await main(['token', 'create', '--service', 'reviews', '--key', `${caDir}/nope.pem`, '--trust-domain', 'demo.local'], bad)).toBe(1);
    expect(bad.err).toMatch(/cannot read the token signing key/);
  });
});

describe('SVID rotation under traffic (2 s TTL)', () => {
  let server: HttpServer;
  let serverSvids: SvidManager;
  let clientSvids: SvidManager;
  let port: number;

  beforeAll(async () => {
    const make = async (service: string): Promise<SvidManager> =>
      new SvidManager({
        trustDomain: 'demo.local',
        service,
        signer: httpCaClient({ url: adminUrl, token: await token(service), timeoutMs: 1000 }),
        retry: { baseMs: 100, maxMs: 300 },
        bundleRefreshMs: 0,
      });
    serverSvids = await make('reviews');
    clientSvids = await make('ratings');
    await Promise.all([serverSvids.start(), clientSvids.start()]);
    server = createHttpServer((req, res) => res.end(peerOf(req)?.spiffeId ?? 'plaintext'));
    attachMeshTls(server, { mode: 'strict', svids: serverSvids });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    serverSvids?.close();
    clientSvids?.close();
    server?.close();
    server?.closeAllConnections();
  });

  const serverSerial = (): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, secureContext: clientSvids.secureContext(), rejectUnauthorized: false }, () => {
        const serial = s.getPeerCertificate().serialNumber;
        s.destroy();
        resolve(serial);
      });
      s.on('error', reject);
    });

  it('renews 3 times at about half-life; a kept-alive connection survives, new ones get the new certificate', async () => {
    const agent = new Agent({ connections: 1, keepAliveTimeout: 30_000, connect: meshConnector({ svids: clientSvids, expectedPeer: () => 'spiffe://demo.local/service/reviews' }) });
    const sockets = new Set<Socket>();
    const onRequest = (req: IncomingMessage): void => void sockets.add(req.socket);
    server.on('request', onRequest);
    try {
      const get = async (): Promise<string> => (await (await request(`http://127.0.0.1:${port}/`, { dispatcher: agent })).body.text());
      expect(await get()).toBe('spiffe://demo.local/service/ratings');
      const serials = [await serverSerial()];
      let previous = serverSvids.current()!;
      for (let i = 0; i < 3; i++) {
        const [svid] = (await once(serverSvids, 'rotated')) as [Svid];
        // Renewed well before the previous certificate ran out (at 40..60 % of its life).
        expect(Date.now()).toBeLessThan(previous.notAfter - 500);
        previous = svid;
        serials.push(svid.serial);
        // Keep the connection busy between rotations: it must not be dropped.
        expect(await get()).toBe('spiffe://demo.local/service/ratings');
        expect(await serverSerial()).toBe(svid.serial.toUpperCase());
      }
      expect(new Set(serials.map((s) => s.toUpperCase())).size).toBe(4);
      expect(sockets.size).toBe(1);
      expect(serverSvids.verifier.refusals['tls-unauthorized']).toBe(0);
    } finally {
      server.off('request', onRequest);
      await agent.close();
    }
  });

  it('keeps serving while the CA is down, then fails closed when the certificate expires', async () => {
    const failed = once(clientSvids, 'renewalFailed');
    await cp.close();
    await failed;
    expect(clientSvids.ready).toBe(true);
    expect(() => clientSvids.secureContext()).not.toThrow();
    const expired = once(clientSvids, 'expired');
    await expired;
    expect(clientSvids.ready).toBe(false);
    // Outbound refuses to connect with no valid certificate of its own.
    const agent = new Agent({ connect: meshConnector({ svids: clientSvids }) });
    try {
      await expect(request(`http://127.0.0.1:${port}/`, { dispatcher: agent })).rejects.toMatchObject({ code: 'ENMESH_ERR_SVID_UNAVAILABLE' });
    } finally {
      await agent.close();
    }
  });
});
