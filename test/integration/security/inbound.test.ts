/**
 * The inbound checks in order on a real server: permissive mTLS listener →
 * path normalisation → JWT → authorization, with the application seeing the
 * path that was authorized.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileAuthorization } from '../../../src/security/authz.ts';
import { checkInbound, sendRefusal } from '../../../src/security/inbound-guard.ts';
import { JwtAuthenticator } from '../../../src/security/jwt.ts';
import { attachMeshTls } from '../../../src/security/permissive-listener.ts';
import type { MeshTls } from '../../../src/security/permissive-listener.ts';
import { buildPki } from '../../fixtures/security/corpus.ts';
import type { Pki } from '../../fixtures/security/corpus.ts';
import { staticSource } from '../../fixtures/security/sources.ts';

const ISSUER = 'https://issuer.example';
let pki: Pki;
let server: Server;
let mesh: MeshTls;
let port: number;
let signJwt: (sub: string) => Promise<string>;
const seen: string[] = [];

beforeAll(async () => {
  pki = await buildPki();
  const keys = await generateKeyPair('ES256');
  const jwks = { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256' }] };
  signJwt = (sub) => new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer(ISSUER).setAudience('reviews').setSubject(sub).setExpirationTime('1h').sign(keys.privateKey);
  const authenticator = new JwtAuthenticator([{ name: 'users', target: 'reviews', jwt: { issuer: ISSUER, jwks, audiences: ['reviews'] } }]);
  const authorizer = compileAuthorization(
    [
      { name: 'no-admin', target: 'reviews', action: 'deny', dryRun: false, from: [], to: [{ methods: [], paths: ['/admin', '/admin/*'] }] },
      { name: 'ratings-or-users', target: 'reviews', action: 'allow', dryRun: false, from: [{ service: 'ratings' }, { requestPrincipal: `${ISSUER}/*` }], to: [] },
    ],
    { trustDomain: 'demo.local' },
  );
  server = createServer((req, res) => {
    void Promise.resolve(checkInbound(req, { service: 'reviews', authorizer, authenticator })).then((v) => {
      if (!v.ok) {
        sendRefusal(res, v);
        return;
      }
      seen.push(req.url!);
      res.end(`ok ${req.url}`);
    });
  });
  mesh = attachMeshTls(server, { mode: 'permissive', svids: staticSource(pki.good, pki.root.pem) });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as AddressInfo).port;
});
afterAll(() => {
  mesh.detach();
  server.closeAllConnections();
  server.close();
});

/** One raw HTTP/1.1 request (the path goes on the wire exactly as given); resolves with "status body". */
function send(path: string, opts: { mtls?: boolean; headers?: Record<string, string> } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const head = `GET ${path} HTTP/1.1\r\nhost: reviews\r\nconnection: close\r\n${Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
    const socket = opts.mtls === true
      ? tlsConnect({ host: '127.0.0.1', port, key: pki.ratings.keyPem, cert: pki.ratings.certPem, ca: pki.root.pem, rejectUnauthorized: false }, () => socket.write(head))
      : netConnect({ host: '127.0.0.1', port }, () => socket.write(head));
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = data.slice(9, 12);
      resolve(`${status} ${data.slice(data.indexOf('\r\n\r\n') + 4).trim()}`);
    });
  });
}

describe('inbound: normalise → authenticate → authorize', () => {
  it('lets the allowed peer in, and the application sees the normalised path', async () => {
    expect(await send('/reviews/1', { mtls: true })).toBe('200 ok /reviews/1');
    expect(await send('/a/./b//%63?x=%2F', { mtls: true })).toBe('200 ok /a/b/c?x=%2F');
    expect(seen).toContain('/a/b/c?x=%2F');
  });

  it('denies encodings of the DENY path (deny wins), refuses ambiguous ones', async () => {
    for (const path of ['/admin/x', '/public/../admin/x', '/public/%2e%2e/admin/x', '/%61dmin/x', '/admin;x=1/secret', '/admin']) {
      expect(await send(path, { mtls: true }), path).toBe('403 RBAC: access denied');
    }
    expect(await send('/admin%2fx', { mtls: true })).toBe('400 bad request path (escaped-slash)');
    expect(await send('/public/..;/admin/x', { mtls: true })).toBe('400 bad request path (ambiguous-dot-segment)');
    expect(seen.some((s) => s.includes('admin'))).toBe(false);
  });

  it('authenticates plaintext callers by JWT only: good token 200, bad token 401, none 403', async () => {
    expect(await send('/reviews/1', { headers: { authorization: `Bearer ${await signJwt('alice')}` } })).toBe('200 ok /reviews/1');
    const bad = (await signJwt('alice')).slice(0, -3) + 'AAA';
    expect(await send('/reviews/1', { headers: { authorization: `Bearer ${bad}` } })).toBe('401 invalid token (signature)');
    expect(await send('/reviews/1')).toBe('403 RBAC: access denied');
    // A valid token does not open a denied path either.
    expect(await send('/admin/x', { headers: { authorization: `Bearer ${await signJwt('alice')}` } })).toBe('403 RBAC: access denied');
  });
});
