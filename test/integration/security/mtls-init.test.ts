/**
 * mTLS turned on by init(): the process gets its SVID from the control
 * plane's CA with a workload token, dials mesh endpoints with mTLS (fetch,
 * undici, node:http) and serves its own port with it; `mesh.peer(req)` is
 * the verified caller, and the inbound metrics carry it (the outbound ones
 * the server's presented identity). Strict mode refuses
 * plaintext and counts it; another server in the process is left alone.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { request } from 'undici';
import { WebSocket as WsClient, WebSocketServer } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { startControlPlane, type ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let file: MeshFile;
let cp: ControlPlane;
let mesh: Mesh;
let server: http.Server;
let other: http.Server;
let port: number;
let otherPort: number;
const peers: (string | undefined)[] = [];

const yaml = (mode: string): string => `
mesh: { trustDomain: demo.local, mtls: ${mode} }
services:
  reviews:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:${port} }]
`;

async function listen(s: http.Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as AddressInfo).port;
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const peer = mesh.peer(req);
    peers.push(peer?.spiffeId);
    res.end(peer?.spiffeId ?? 'plaintext');
  });
  other = http.createServer((_req, res) => res.end('other'));
  port = await listen(server);
  otherPort = await listen(other);
  file = await createMeshFile(yaml('strict'));
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca: { svidTtlMs: 3600_000 } });
  const token = await cp.ca!.mintToken('reviews');
  mesh = await init({
    service: { name: 'reviews', port },
    config: file.path,
    security: { token, caUrl: `http://127.0.0.1:${cp.adminPort}` },
  });
  await mesh.ready;
});

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  other?.close();
  await mesh?.close();
  await cp?.close();
  await file?.remove();
});

/** Sends a plaintext request straight to the port; resolves with the status line or 'closed'. */
function plaintext(p: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(p, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
    let text = '';
    socket.on('data', (c) => (text += c));
    socket.on('close', () => resolve(text === '' ? 'closed' : text.slice(0, 12)));
    socket.on('error', () => undefined);
  });
}

describe('init() with a workload token', () => {
  it('holds an SVID from the CA and reports its lifetime', async () => {
    const svids = mesh.security().svids!;
    expect(svids.ready).toBe(true);
    expect(svids.spiffeId).toBe('spiffe://demo.local/service/reviews');
    const text = await mesh.metrics();
    const m = /enmesh_cert_expiry_seconds\{principal="spiffe:\/\/demo\.local\/service\/reviews"\} (\d+)/.exec(text);
    expect(m, text).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(3000);
  });

  it('fetch, undici and node:http reach the service over mTLS, and the server sees the verified caller', async () => {
    peers.length = 0;
    const viaFetch = await (await fetch('http://reviews:9080/a')).text();
    const viaUndici = await (await request('http://reviews:9080/b')).body.text();
    const viaHttp = await new Promise<string>((resolve, reject) => {
      http
        .get('http://reviews:9080/c', (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c));
          res.on('end', () => resolve(body));
        })
        .on('error', reject);
    });
    expect([viaFetch, viaUndici, viaHttp]).toEqual(Array(3).fill('spiffe://demo.local/service/reviews'));
    expect(peers).toEqual(Array(3).fill('spiffe://demo.local/service/reviews'));
    // Even the endpoint's own address, called directly, is dialled with mTLS (it is a mesh endpoint).
    expect(await (await fetch(`http://127.0.0.1:${port}/d`)).text()).toBe('spiffe://demo.local/service/reviews');
  });

  it('a WebSocket to the service goes over mTLS, and the upgrade listener sees the verified caller', async () => {
    const wss = new WebSocketServer({ server });
    wss.on('connection', (socket, req) => socket.send(mesh.peer(req)?.spiffeId ?? 'plaintext'));
    try {
      const ws = new WsClient('ws://reviews:9080/live');
      const [first] = (await new Promise((resolve, reject) => {
        ws.once('message', (d) => resolve([String(d)]));
        ws.once('error', reject);
      })) as [string];
      ws.terminate();
      expect(first).toBe('spiffe://demo.local/service/reviews');
    } finally {
      for (const c of wss.clients) c.terminate();
      wss.close();
    }
  });

  it('labels inbound requests with the caller principal and mutual_tls', async () => {
    await fetch('http://reviews:9080/metrics-check').then((r) => r.text());
    const text = await mesh.metrics();
    const line = text.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="destination"') && l.includes('connection_security_policy="mutual_tls"'));
    expect(line, text).toBeDefined();
    expect(line).toContain('source_principal="spiffe://demo.local/service/reviews"');
    expect(line).toContain('source_workload="reviews"');
 
    // The caller's side: destination_principal is the identity the server presented on the mTLS connection.
    const source = text.split('\n').find((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="source"') && l.includes('destination_service="reviews"'));
    expect(source, text).toBeDefined();
    expect(source).toContain('destination_principal="spiffe://demo.local/service/reviews"');
  });

  it('strict: plaintext to the service port is refused and counted; another server in the process is untouched', async () => {
    expect(await plaintext(port)).toBe('closed');
    expect(await plaintext(otherPort)).toBe('HTTP/1.1 200');
    const text = await mesh.metrics();
    expect(text).toMatch(/enmesh_mtls_refusals_total\{reason="plaintext"\} [1-9]/);
  });

  it('refuses a TLS client without an SVID', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      });
      let got = '';
      s.on('data', (c) => (got += c));
      s.on('close', () => resolve(got === '' ? 'closed' : got.slice(0, 12)));
      s.on('error', () => undefined);
    });
    expect(outcome).toBe('closed');
    expect(await mesh.metrics()).toMatch(/enmesh_mtls_refusals_total\{reason="no-certificate"\} [1-9]/);
  });

  it('permissive: plaintext is served without a peer; unlabelled endpoints are dialled in plaintext', async () => {
    await file.apply(mesh, yaml('permissive'));
    expect(await plaintext(port)).toBe('HTTP/1.1 200');
    // The endpoint has no tlsMode label: the client speaks plaintext, the server accepts it.
    expect(await (await fetch('http://reviews:9080/p')).text()).toBe('plaintext');
    await file.apply(mesh, yaml('permissive').replace(`127.0.0.1:${port} }`, `127.0.0.1:${port}, labels: { security.enmesh.io/tlsMode: mtls } }`));
    expect(await (await fetch('http://reviews:9080/q')).text()).toBe('spiffe://demo.local/service/reviews');
  });

  it('disabled: plaintext both ways', async () => {
    await file.apply(mesh, yaml('disabled'));
    expect(await (await fetch('http://reviews:9080/r')).text()).toBe('plaintext');
    expect(await plaintext(port)).toBe('HTTP/1.1 200');
  });
});
