/**
 * Real TLS handshakes on 127.0.0.1: the negative identity corpus is refused
 * in both directions (a client presenting it to our inbound listener, a
 * server presenting it to our outbound connector), each with its reason;
 * permissive and strict modes on one port.
 */
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, createSecureContext, createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REVIEWS, buildPki } from '../../fixtures/security/corpus.ts';
import type { Pki } from '../../fixtures/security/corpus.ts';
import { staticSource } from '../../fixtures/security/sources.ts';
import type { StaticSource } from '../../fixtures/security/sources.ts';
import { meshConnector, meshTlsClientOptions } from '../../../src/security/mtls-client.ts';
import { attachMeshTls } from '../../../src/security/permissive-listener.ts';
import type { MeshTls } from '../../../src/security/permissive-listener.ts';
import { peerOf } from '../../../src/security/peer-store.ts';
import type { PeerRefusalReason } from '../../../src/security/peer-verify.ts';

let pki: Pki;
let client: StaticSource;

beforeAll(async () => {
  pki = await buildPki();
  client = staticSource(pki.ratings, pki.root.pem);
}, 30_000);

function echoPeer(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('content-type', 'text/plain');
  res.end(peerOf(req)?.spiffeId ?? 'plaintext');
}

async function listen(server: HttpServer | TlsServer): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/** Sends one HTTP request over an mTLS connection made with `key`/`cert`; resolves with the body, or `refused` if the server hangs up. */
function mtlsGet(port: number, key: string, cert: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, key, cert, ca: pki.root.pem, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    let data = '';
    socket.on('secureConnect', () => socket.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'));
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(data.length === 0 ? 'refused' : data.slice(data.indexOf('\r\n\r\n') + 4)));
  });
}

function plainGet(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    let data = '';
    socket.on('connect', () => socket.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'));
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(data.length === 0 ? 'refused' : data.slice(data.indexOf('\r\n\r\n') + 4)));
  });
}

describe('inbound: a client presenting the negative corpus', () => {
  let server: HttpServer;
  let mesh: MeshTls;
  let port: number;
  const refused: PeerRefusalReason[] = [];

  beforeAll(async () => {
    server = createHttpServer(echoPeer);
    mesh = attachMeshTls(server, { mode: 'strict', svids: staticSource(pki.good, pki.root.pem), onRefused: (r) => refused.push(r) });
    port = await listen(server);
  });
  afterAll(async () => {
    mesh.detach();
    server.close();
    server.closeAllConnections();
  });

  it('serves a client with a valid SVID and knows who it is', async () => {
    expect(await mtlsGet(port, pki.ratings.keyPem, pki.ratings.certPem)).toBe('spiffe://demo.local/service/ratings');
  });

  it('refuses every corpus certificate in the handshake, with its reason', async () => {
    const got: { name: string; result: string; reason: string | undefined }[] = [];
    for (const e of pki.corpus) {
      const before = refused.length;
      const result = await mtlsGet(port, e.leaf.keyPem, e.chainPem);
      got.push({ name: e.name, result, reason: refused[before] });
    }
    expect(got).toEqual(pki.corpus.map((e) => ({ name: e.name, result: 'refused', reason: e.reason })));
    for (const e of pki.corpus) expect(mesh.verifier.refusals[e.reason]).toBeGreaterThan(0);
  });

  it('refuses a TLS client without a certificate, and plaintext in strict mode', async () => {
    const before = mesh.verifier.refusals['no-certificate'];
    const body = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: pki.root.pem, rejectUnauthorized: false });
      let data = '';
      s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'));
      s.on('data', (d: Buffer) => (data += d.toString()));
      s.on('error', () => undefined);
      s.on('close', () => resolve(data || 'refused'));
    });
    expect(body).toBe('refused');
    expect(mesh.verifier.refusals['no-certificate']).toBe(before + 1);
    expect(await plainGet(port)).toBe('refused');
    expect(mesh.verifier.refusals.plaintext).toBe(1);
  });
});

describe('outbound: a server presenting the negative corpus', () => {
  let server: TlsServer;
  let port: number;

  beforeAll(async () => {
    // One server, one certificate per SNI name: e<i>.corpus.test serves corpus entry i.
    const contexts = new Map(pki.corpus.map((e, i) => [`e${i}.corpus.test`, createSecureContext({ key: e.leaf.keyPem, cert: e.chainPem })]));
    contexts.set('good.test', createSecureContext({ key: pki.good.keyPem, cert: pki.good.certPem }));
    server = createTlsServer({
      key: pki.good.keyPem,
      cert: pki.good.certPem,
      SNICallback: (name, cb) => cb(null, contexts.get(name)),
      requestCert: true,
      rejectUnauthorized: false,
    }, (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok'));
    server.on('tlsClientError', () => undefined);
    port = await listen(server);
  });
  afterAll(() => {
    server.close();
  });

  function dial(servername: string, expected?: string): Promise<{ ok: true; socket: TLSSocket } | { ok: false; reason: string }> {
    const connect = meshConnector({ svids: client, expectedPeer: () => expected });
    return new Promise((resolve) => {
      connect({ hostname: '127.0.0.1', host: '127.0.0.1', port: String(port), protocol: 'https:', servername }, (err, socket) => {
        if (err !== null) resolve({ ok: false, reason: (err as Error & { reason?: string }).reason ?? err.message });
        else resolve({ ok: true, socket: socket as TLSSocket });
      });
    });
  }

  it('connects to a valid server SVID and records who it is', async () => {
    const r = await dial('good.test', REVIEWS);
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(peerOf(r.socket)?.spiffeId).toBe(REVIEWS);
      r.socket.destroy();
    }
  });

  it('refuses every corpus certificate before sending a byte, with its reason', async () => {
    const got: { name: string; reason: string }[] = [];
    for (const [i, e] of pki.corpus.entries()) {
      const r = await dial(`e${i}.corpus.test`);
      if (r.ok) r.socket.destroy();
      got.push({ name: e.name, reason: r.ok ? 'ACCEPTED' : r.reason });
    }
    expect(got).toEqual(pki.corpus.map((e) => ({ name: e.name, reason: e.reason })));
  });

  it('refuses a valid SVID of another service than the one meant', async () => {
    expect(await dial('good.test', 'spiffe://demo.local/service/ratings')).toEqual({ ok: false, reason: 'unexpected-identity' });
  });

  it('works as the connect function of an undici Agent', async () => {
    const agent = new Agent({ connect: meshConnector({ svids: client, expectedPeer: () => REVIEWS }) });
    try {
      const res = await request(`https://127.0.0.1:${port}/`, { dispatcher: agent });
      expect(await res.body.text()).toBe('ok');
    } finally {
      await agent.close();
    }
  });

  it('gives https.request options whose checkServerIdentity refuses a wrong identity', async () => {
    const get = (servername: string, expected: string): Promise<string> =>
      new Promise((resolve) => {
        const req = httpsRequest({ host: '127.0.0.1', port, servername, ...meshTlsClientOptions(client, expected), agent: false }, (res) => {
          res.resume();
          resolve(String(res.statusCode));
        });
        req.on('error', (err: Error & { reason?: string; code?: string }) => resolve(err.reason ?? err.code ?? err.message));
        req.end();
      });
    expect(await get('good.test', REVIEWS)).toBe('200');
    expect(await get('good.test', 'spiffe://demo.local/service/ratings')).toBe('unexpected-identity');
    // OpenSSL refuses an unknown CA before checkServerIdentity runs.
    const unknown = pki.corpus.findIndex((e) => e.name === 'unknown CA');
    expect(await get(`e${unknown}.corpus.test`, REVIEWS)).toMatch(/UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
  });
});

describe('permissive mode', () => {
  it('serves mTLS and plaintext on the same port; only mTLS requests have a peer', async () => {
    const server = createHttpServer(echoPeer);
    const mesh = attachMeshTls(server, { mode: 'permissive', svids: staticSource(pki.good, pki.root.pem) });
    const port = await listen(server);
    try {
      expect(await plainGet(port)).toBe('plaintext');
      expect(await mtlsGet(port, pki.ratings.keyPem, pki.ratings.certPem)).toBe('spiffe://demo.local/service/ratings');
      // A corpus certificate is still refused: permissive is about plaintext, not about bad certificates.
      expect(await mtlsGet(port, pki.corpus[0]!.leaf.keyPem, pki.corpus[0]!.chainPem)).toBe('refused');
      // Keep-alive and bodies over the sniffed plaintext socket.
      const agent = new Agent({ connections: 1 });
      try {
        for (let i = 0; i < 3; i++) {
          const res = await request(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'x'.repeat(100_000), dispatcher: agent });
          expect(await res.body.text()).toBe('plaintext');
        }
      } finally {
        await agent.close();
      }
      // Through undici with the mesh connector, several requests on one connection.
      const tlsAgent = new Agent({ connections: 1, connect: meshConnector({ svids: client }) });
      const sockets = new Set<Socket>();
      server.on('request', (req: IncomingMessage) => sockets.add(req.socket));
      try {
        for (let i = 0; i < 3; i++) {
          const res = await request(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'y'.repeat(50_000), dispatcher: tlsAgent });
          expect(await res.body.text()).toBe('spiffe://demo.local/service/ratings');
        }
        expect(sockets.size).toBe(1);
      } finally {
        await tlsAgent.close();
      }
      expect(mesh.verifier.refusals.plaintext).toBe(0);
    } finally {
      mesh.detach();
      server.close();
      server.closeAllConnections();
    }
  });

  it('refuses mTLS while this workload has no valid certificate (fail closed), plaintext still served', async () => {
    const server = createHttpServer(echoPeer);
    const source = { ...staticSource(pki.good, pki.root.pem), ready: false };
    const mesh = attachMeshTls(server, { mode: 'permissive', svids: source });
    const port = await listen(server);
    try {
      expect(await mtlsGet(port, pki.ratings.keyPem, pki.ratings.certPem)).toBe('refused');
      expect(mesh.verifier.refusals['svid-unavailable']).toBe(1);
      expect(await plainGet(port)).toBe('plaintext');
    } finally {
      mesh.detach();
      server.close();
      server.closeAllConnections();
    }
  });
});
