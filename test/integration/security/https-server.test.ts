/**
 * An application's own https.Server on the service port under init() with
 * mTLS: it presents the workload's SVID instead of its own certificate (so
 * mesh clients, which accept nothing else, reach it), verifies callers'
 * SVIDs (`mesh.peer(req)`, and authorization policies on it), rotates
 * without a restart, serves clients without a certificate only under
 * `permissive`, and gets its own certificate back when mTLS is disabled.
 * Another https server in the process keeps its certificate throughout.
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import type { SvidManager } from '../../../src/security/svid-manager.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { selfSignedCert, type TestCert } from '../../helpers/tls.ts';
import { freePort, svidFor } from './fixtures/grpc-ratings.ts';

let file: MeshFile;
let cp: ControlPlane;
let mesh: Mesh;
let own: TestCert;
let server: https.Server;
let other: https.Server;
let port: number;
let otherPort: number;
let details: SvidManager;
const REVIEWS = 'spiffe://demo.local/service/reviews';
const DETAILS = 'spiffe://demo.local/service/details';

const yaml = (mode: string): string => `
mesh: { trustDomain: demo.local, mtls: ${mode} }
services:
  reviews:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:${port}, labels: { security.enmesh.io/tlsMode: mtls } }]
policies:
  authorization:
    - name: no-details-on-admin
      target: reviews
      action: deny
      from: [{ service: details }]
      to: [{ paths: [/admin] }]
`;

interface Seen {
  /** The certificate the server presented. */
  readonly served: X509Certificate;
  /** `200 <peer or "no-peer">`, or `closed` when the server hung up. */
  readonly answer: string;
}

/** One HTTP/1.1 request over TLS with `extra` options (a client certificate or none), reporting what the server presented and answered. */
function call(to: number, extra: ConnectionOptions, path = '/who'): Promise<Seen> {
  return new Promise((resolve, reject) => {
    let served: X509Certificate | undefined;
    let got = '';
    const s = tlsConnect({ host: '127.0.0.1', port: to, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'], ...extra }, () => {
      served = new X509Certificate(s.getPeerCertificate().raw);
      s.write(`GET ${path} HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n`);
    });
    s.on('data', (c: Buffer) => (got += c.toString()));
    s.on('error', () => undefined);
    s.on('close', () => {
      if (served === undefined) return reject(new Error('no handshake'));
      const status = /^HTTP\/1\.1 (\d+)/.exec(got)?.[1];
      resolve({ served, answer: status === undefined ? 'closed' : `${status} ${got.slice(got.indexOf('\r\n\r\n') + 4)}` });
    });
  });
}

const withSvid = (svids: SvidManager): ConnectionOptions => ({ secureContext: svids.secureContext() });

beforeAll(async () => {
  own = await selfSignedCert('reviews.example');
  port = await freePort();
  const handler = (req: IncomingMessage, res: ServerResponse): void => void res.end(mesh.peer(req)?.spiffeId ?? 'no-peer');
  server = https.createServer({ key: own.key, cert: own.cert }, handler);
  other = https.createServer({ key: own.key, cert: own.cert }, handler);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  otherPort = (other.address() as AddressInfo).port;
  file = await createMeshFile(yaml('permissive'));
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: { svidTtlMs: 3600_000 } });
  mesh = await init({ service: { name: 'reviews', port }, config: file.path, security: { token: await cp.ca!.mintToken('reviews'), caUrl: `http://127.0.0.1:${cp.adminPort}` } });
  await mesh.ready;
  details = await svidFor(cp, 'demo.local', 'details');
});

afterAll(async () => {
  for (const s of [server, other]) {
    s?.closeAllConnections();
    s?.close();
  }
  details?.close();
  await mesh?.close();
  await cp?.close();
  await file?.remove();
});

describe('https.Server on the service port, mtls: permissive', () => {
  it('an SDK client calling the service by name reaches it over mTLS; the server sees the verified caller', async () => {
    const res = await fetch('http://reviews:9080/who');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(REVIEWS);
  });

  it('presents the SVID, and records the SVID of another workload as mesh.peer(req)', async () => {
    const seen = await call(port, withSvid(details));
    expect(seen.served.subjectAltName).toBe(`URI:${REVIEWS}`);
    expect(seen.served.serialNumber).toBe(mesh.security().svids!.current()!.serial);
    expect(seen.answer).toBe(`200 ${DETAILS}`);
  });

  it("authorization policies see the verified caller: details is denied /admin, others are not", async () => {
    expect((await call(port, withSvid(details), '/admin')).answer).toMatch(/^403 RBAC: access denied/);
    expect((await call(port, {}, '/admin')).answer).toBe('200 no-peer');
    expect(await (await fetch('http://reviews:9080/admin')).text()).toBe(REVIEWS);
  });

  it('serves a client without a certificate, with no peer identity', async () => {
    expect((await call(port, {})).answer).toBe('200 no-peer');
  });

  it('refuses a client certificate that is not an SVID, and counts it', async () => {
    const refusals = mesh.security().svids!.verifier.refusals;
    const total = (): number => Object.values(refusals).reduce((a, b) => a + b, 0);
    const before = total();
    const seen = await call(port, { key: own.key, cert: own.cert });
    expect(seen.answer).toBe('closed');
    expect(total()).toBeGreaterThan(before);
  });

  it('serves a renewed certificate to new connections without a restart', async () => {
    const svids = mesh.security().svids!;
    const before = svids.current()!.serial;
    await svids.renewNow();
    const after = svids.current()!.serial;
    expect(after).not.toBe(before);
    const seen = await call(port, withSvid(details));
    expect(seen.served.serialNumber).toBe(after);
    expect(seen.answer).toBe(`200 ${DETAILS}`);
  });

  it('leaves an https server on another port alone', async () => {
    const seen = await call(otherPort, withSvid(details));
    expect(seen.served.serialNumber).toBe(new X509Certificate(own.cert).serialNumber);
    expect(seen.answer).toBe('200 no-peer');
  });
});

describe('https.Server on the service port, mtls: strict', () => {
  beforeAll(async () => {
    await file.apply(mesh, yaml('strict'));
  });

  it('refuses a client without a certificate and counts it; SVID callers still get in', async () => {
    const refusals = mesh.security().svids!.verifier.refusals;
    const before = refusals['no-certificate'];
    expect((await call(port, {})).answer).toBe('closed');
    expect(refusals['no-certificate']).toBeGreaterThan(before);
    expect((await call(port, withSvid(details))).answer).toBe(`200 ${DETAILS}`);
    expect(await (await fetch('http://reviews:9080/who')).text()).toBe(REVIEWS);
  });
});

describe('https.Server on the service port, mtls: disabled', () => {
  beforeAll(async () => {
    await file.apply(mesh, yaml('disabled'));
  });

  it("serves the application's own certificate again", async () => {
    const seen = await call(port, {});
    expect(seen.served.serialNumber).toBe(new X509Certificate(own.cert).serialNumber);
    expect(seen.answer).toBe('200 no-peer');
  });
});
