/**
 * gRPC servers under init() with `mtls: permissive`: the port the
 * application bound with insecure credentials serves plaintext and mTLS
 * side by side (the first byte decides), `mesh.peer(call)` is the caller's
 * SVID over mTLS and undefined over plaintext, the certificate rotates under
 * the listening server, and after a switch to `strict` the same port refuses
 * plaintext and counts it.
 */
import { connect as tlsConnect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import type { SvidManager } from '../../../src/security/svid-manager.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';
import { callRatings, freePort, ratingsClientAs, ratingsService, svidFor } from './fixtures/grpc-ratings.ts';

let file: MeshFile;
let cp: ControlPlane;
let mesh: Mesh;
let server: grpc.Server;
let port: number;
let reviews: SvidManager;
const RATINGS = 'spiffe://demo.local/service/ratings';
const REVIEWS = 'spiffe://demo.local/service/reviews';

const yaml = (mode: string): string => `
mesh: { trustDomain: demo.local, mtls: ${mode} }
services:
  ratings: { protocol: grpc, port: 50051, endpoints: [{ address: 127.0.0.1:${port} }] }
`;

/** The serial number of the certificate the server presents to a new mTLS connection. */
function servedSerial(svids: SvidManager): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, secureContext: svids.secureContext(), rejectUnauthorized: false, ALPNProtocols: ['h2'] }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      expect(s.alpnProtocol).toBe('h2');
      s.destroy();
      resolve(serial);
    });
    s.on('error', reject);
  });
}

beforeAll(async () => {
  port = await freePort();
  file = await createMeshFile(yaml('permissive'));
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: { svidTtlMs: 3600_000 } });
  mesh = await init({ service: { name: 'ratings', port }, config: file.path, security: { token: await cp.ca!.mintToken('ratings'), caUrl: `http://127.0.0.1:${cp.adminPort}` } });
  await mesh.ready;
  reviews = await svidFor(cp, 'demo.local', 'reviews');
  server = new grpc.Server();
  server.addService(ratingsService, {
    Get: (c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, { caller: mesh.peer(c)?.spiffeId ?? null }),
    Delete: (_c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, {}),
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
});

afterAll(async () => {
  server?.forceShutdown();
  reviews?.close();
  await mesh?.close();
  await cp?.close();
  await file?.remove();
});

describe('gRPC inbound under mTLS permissive', () => {
  it('a plaintext client is served, with no peer identity', async () => {
    const plain = ratingsClientAs(port, undefined, RATINGS);
    try {
      expect(await callRatings(plain, 'Get')).toEqual({ code: 0, details: '', body: { caller: null } });
    } finally {
      plain.close();
    }
  });

  it('an mTLS client on the same port is served, and mesh.peer(call) is its SVID', async () => {
    const tls = ratingsClientAs(port, reviews, RATINGS);
    try {
      expect(await callRatings(tls, 'Get')).toEqual({ code: 0, details: '', body: { caller: REVIEWS } });
    } finally {
      tls.close();
    }
  });

  it('the inbound metrics tell the two apart', async () => {
    const text = await mesh.metrics();
    const lines = text.split('\n').filter((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="destination"') && l.includes('request_protocol="grpc"'));
    const mtls = lines.find((l) => l.includes('connection_security_policy="mutual_tls"'));
    expect(mtls, lines.join("\n")).toContain(`source_principal="${REVIEWS}"`);
    expect(lines.find((l) => l.includes('connection_security_policy="none"')), lines.join("\n")).toBeDefined();
  });

  it('a renewed certificate is served to new connections without rebinding', async () => {
    const own = mesh.security().svids!;
    const before = own.current()!.serial;
    expect(await servedSerial(reviews)).toBe(before);
    await own.renewNow();
    const after = own.current()!.serial;
    expect(after).not.toBe(before);
    expect(await servedSerial(reviews)).toBe(after);
    const tls = ratingsClientAs(port, reviews, RATINGS);
    try {
      expect((await callRatings(tls, 'Get')).body).toEqual({ caller: REVIEWS });
    } finally {
      tls.close();
    }
  });

  it('a TLS client without a certificate is refused and counted', async () => {
    const refusals = mesh.security().svids!.verifier.refusals;
    const before = refusals['no-certificate'];
    const outcome = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['h2'] });
      s.on('error', () => undefined);
      s.on('close', () => resolve('closed'));
      setTimeout(() => resolve('open'), 10_000).unref();
    });
    expect(outcome).toBe('closed');
    expect(refusals['no-certificate']).toBeGreaterThan(before);
  });
});

describe('gRPC inbound after a switch to strict', () => {
  beforeAll(async () => {
    await file.apply(mesh, yaml('strict'));
  });

  it('plaintext is refused on the same listening port and counted; mTLS still works', async () => {
    const refusals = mesh.security().svids!.verifier.refusals;
    const before = refusals.plaintext;
    const plain = ratingsClientAs(port, undefined, RATINGS);
    try {
      expect((await callRatings(plain, 'Get', new grpc.Metadata(), 3000)).code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      plain.close();
    }
    expect(refusals.plaintext).toBeGreaterThan(before);
    const tls = ratingsClientAs(port, reviews, RATINGS);
    try {
      expect((await callRatings(tls, 'Get')).body).toEqual({ caller: REVIEWS });
    } finally {
      tls.close();
    }
    // Copied into the metric once a second.
    const deadline = Date.now() + 10_000;
    let text = await mesh.metrics();
    while (!/enmesh_mtls_refusals_total\{reason="plaintext"\} [1-9]/.test(text) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      text = await mesh.metrics();
    }
    expect(text).toMatch(/enmesh_mtls_refusals_total\{reason="plaintext"\} [1-9]/);
  });
});
