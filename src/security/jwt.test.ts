import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FlattenedSign, SignJWT, UnsecuredJWT, base64url, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuthenticationPolicyModel } from '../model/types.ts';
import { compileAuthorization } from './authz.ts';
import { JwtAuthenticator, authenticatorsByTarget } from './jwt.ts';
import type { JwtResult } from './jwt.ts';

const ISSUER = 'https://issuer.example';
type Keys = Awaited<ReturnType<typeof generateKeyPair>>;

let rsa: Keys;
let rsa2: Keys;
let attacker: Keys;
let ec: Keys;
let jwks: { keys: JWK[] };
let server: Server;
let mode: 'ok' | 'down' | 'hang' = 'ok';
let fetches = 0;
let jwksUri: string;

async function publicJwk(keys: Keys, kid: string, alg: string): Promise<JWK> {
  return { ...(await exportJWK(keys.publicKey)), kid, alg, use: 'sig' };
}

beforeAll(async () => {
  rsa = await generateKeyPair('RS256', { extractable: true });
  rsa2 = await generateKeyPair('RS256', { extractable: true });
  attacker = await generateKeyPair('RS256', { extractable: true });
  ec = await generateKeyPair('ES256', { extractable: true });
  jwks = { keys: [await publicJwk(rsa, 'k1', 'RS256'), await publicJwk(ec, 'e1', 'ES256')] };
  server = createServer((_req, res) => {
    fetches++;
    if (mode === 'hang') return; // never answers
    if (mode === 'down') {
      res.writeHead(503).end();
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(jwks));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  jwksUri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
});
afterAll(() => {
  server.closeAllConnections();
  server.close();
});

const policy = (p: Partial<AuthenticationPolicyModel['jwt']> = {}): AuthenticationPolicyModel => ({
  name: 'users',
  target: 'productpage',
  jwt: { issuer: ISSUER, jwksUri, audiences: ['productpage'], ...p },
});

function token(claims: Record<string, unknown> = {}, opts: { key?: CryptoKey; kid?: string; alg?: string; header?: Record<string, unknown> } = {}): Promise<string> {
  const alg = opts.alg ?? 'RS256';
  return new SignJWT({ groups: ['admin'], ...claims })
    .setProtectedHeader({ alg, kid: opts.kid ?? 'k1', ...opts.header })
    .setIssuer((claims.iss as string) ?? ISSUER)
    .setAudience((claims.aud as string) ?? 'productpage')
    .setSubject('alice')
    .setIssuedAt()
    .setExpirationTime((claims.exp as number) ?? '1h')
    .sign(opts.key ?? (rsa.privateKey as CryptoKey));
}

const bearer = (t: string): Record<string, string> => ({ authorization: `Bearer ${t}` });

describe('JWT authentication', () => {
  it('accepts a valid token and exposes its principal and claims', async () => {
    mode = 'ok';
    const a = new JwtAuthenticator([policy()]);
    const r = await a.authenticate(bearer(await token()));
    expect(r).toMatchObject({ ok: true, anonymous: false, principal: `${ISSUER}/alice`, policy: 'users', claims: { groups: ['admin'] } });
    // ES256 from the same JWKS.
    expect((await a.authenticate(bearer(await token({}, { key: ec.privateKey as CryptoKey, kid: 'e1', alg: 'ES256' })))).ok).toBe(true);
    // No token: anonymous, as Istio's RequestAuthentication (authorization decides whether that is enough).
    expect(await a.authenticate({})).toEqual({ ok: true, anonymous: true });
    expect(await a.authenticate({ authorization: 'Basic dXNlcjpwdw==' })).toEqual({ ok: true, anonymous: true });
    a.close();
  });

  it('accepts 0 tokens of the attack corpus, each refused for its reason', async () => {
    mode = 'ok';
    const a = new JwtAuthenticator([policy()]);
    const good = await token();
    const [h, p] = good.split('.');
    const now = Math.floor(Date.now() / 1000);
    const rsaPublicPem = await exportSPKI(rsa.publicKey);
    const hmacWithPublicKey = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'HS256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience('productpage')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(rsaPublicPem));
    const jweHeader = base64url.encode(JSON.stringify({ alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: 2_000_000_000, p2s: 'AAAAAAAAAAAAAAAAAAAAAA' }));
    const p2cBomb = `${jweHeader}.${'A'.repeat(43)}.${'A'.repeat(16)}.${'A'.repeat(10)}.${'A'.repeat(22)}`;
    const embeddedJwk = await token({}, { key: attacker.privateKey as CryptoKey, kid: 'evil', header: { jwk: await exportJWK(attacker.publicKey) } });
    const jku = await token({}, { key: attacker.privateKey as CryptoKey, kid: 'k1', header: { jku: 'https://evil.example/jwks.json' } });
    const claims = new TextEncoder().encode(JSON.stringify({ iss: ISSUER, aud: 'productpage', sub: 'alice', exp: now + 3600 }));
    const flat = await new FlattenedSign(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1', b64: false, crit: ['b64'] }).sign(rsa.privateKey as CryptoKey);
    const unencodedPayload = `${flat.protected}.${base64url.encode(claims)}.${flat.signature}`;
    const corpus: [string, Record<string, string | string[]>, string][] = [
      ['alg none', bearer(new UnsecuredJWT({ iss: ISSUER, aud: 'productpage', sub: 'alice' }).setExpirationTime('1h').encode()), 'alg-not-allowed'],
      ['alg NONE with a signature part', bearer(`${base64url.encode(JSON.stringify({ alg: 'NONE', kid: 'k1' }))}.${p}.${good.split('.')[2]}`), 'alg-not-allowed'],
      ['signature stripped', bearer(`${h}.${p}.`), 'signature'],
      ['HS256 with the RSA public key as secret', bearer(hmacWithPublicKey), 'alg-not-allowed'],
      ['expired', bearer(await token({ exp: now - 120 })), 'expired'],
      ['not yet valid', bearer(await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(ISSUER).setAudience('productpage').setNotBefore(now + 600).setExpirationTime(now + 3600).sign(rsa.privateKey as CryptoKey)), 'not-yet-valid'],
      ['wrong issuer', bearer(await token({ iss: 'https://evil.example' })), 'issuer-unknown'],
      ['wrong audience', bearer(await token({ aud: 'reviews' })), 'audience'],
      ['signed by another key under a known kid', bearer(await token({}, { key: attacker.privateKey as CryptoKey })), 'signature'],
      ['unknown kid', bearer(await token({}, { key: attacker.privateKey as CryptoKey, kid: 'nope' })), 'key-not-found'],
      ['embedded jwk header (self-signed)', bearer(embeddedJwk), 'key-not-found'],
      ['jku header pointing elsewhere', bearer(jku), 'signature'],
      ['PBES2 JWE with a 2e9 p2c', bearer(p2cBomb), 'jwe-not-accepted'],
      ['JWS header with p2c', bearer(await token({}, { header: { p2c: 1_000_000 } })), 'jwe-not-accepted'],
      ['unencoded payload (b64: false)', bearer(unencodedPayload), 'token-malformed'],
      ['too large', bearer(await token({ pad: 'x'.repeat(9000) })), 'token-too-large'],
      ['two Authorization headers', { authorization: [`Bearer ${good}`, `Bearer ${good}`] }, 'multiple-tokens'],
      ['two tokens in one header', { authorization: `Bearer ${good}, ${good}` }, 'multiple-tokens'],
      ['garbage', bearer('not.a.jwt'), 'token-malformed'],
      ['four parts', bearer(`${good}.x`), 'token-malformed'],
    ];
    const results: { name: string; reason: string }[] = [];
    for (const [name, headers] of corpus) {
      const started = performance.now();
      const r = await a.authenticate(headers);
      if (name.startsWith('PBES2')) expect(performance.now() - started).toBeLessThan(50);
      results.push({ name, reason: r.ok ? 'ACCEPTED' : r.reason });
    }
    expect(results).toEqual(corpus.map(([name, , reason]) => ({ name, reason })));
    expect([...a.refusals.values()].reduce((x, y) => x + y, 0)).toBe(corpus.length);
    a.close();
  });

  it('refuses the RSA-key-as-HMAC-secret token even when HS256 is allowed (no HMAC key in the JWKS)', async () => {
    mode = 'ok';
    const a = new JwtAuthenticator([policy()], { algorithms: ['RS256', 'HS256'] });
    const secret = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).setIssuer(ISSUER).setAudience('productpage').setSubject('x').setExpirationTime('1h').sign(secret);
    const r = await a.authenticate(bearer(forged));
    expect(r.ok).toBe(false);
    a.close();
  });

  it('keeps the last good keys through a JWKS outage', async () => {
    mode = 'ok';
    const a = new JwtAuthenticator([policy()], { refreshMs: 30 });
    expect((await a.authenticate(bearer(await token()))).ok).toBe(true);
    mode = 'down';
    const before = fetches;
    await new Promise((r) => setTimeout(r, 150));
    expect(fetches).toBeGreaterThan(before); // it did try, and failed
    expect((await a.authenticate(bearer(await token()))).ok).toBe(true);
    a.close();
    mode = 'ok';
  });

  it('refuses every token, quickly, while the JWKS was never reachable', async () => {
    mode = 'hang';
    const a = new JwtAuthenticator([policy()], { fetchTimeoutMs: 200, refreshMs: 0 });
    const t = await token();
    const started = performance.now();
    const first = await a.authenticate(bearer(t));
    expect(first).toMatchObject({ ok: false, reason: 'jwks-unavailable', status: 401 });
    expect(performance.now() - started).toBeLessThan(1000);
    // Within the retry back-off: refused at once, without another fetch.
    const count = fetches;
    const second = await a.authenticate(bearer(t));
    expect(second).toMatchObject({ ok: false, reason: 'jwks-unavailable' });
    expect(fetches).toBe(count);
    a.close();
    mode = 'ok';
  });

  it('refetches the JWKS once when a token names a key it has not seen (issuer rotation)', async () => {
    mode = 'ok';
    const a = new JwtAuthenticator([policy()], { cooldownMs: 0, refreshMs: 0 });
    expect((await a.authenticate(bearer(await token()))).ok).toBe(true);
    jwks = { keys: [...jwks.keys, await publicJwk(rsa2, 'k2', 'RS256')] };
    const r = await a.authenticate(bearer(await token({}, { key: rsa2.privateKey as CryptoKey, kid: 'k2' })));
    expect(r.ok).toBe(true);
    a.close();
  });

  it('uses inline JWKS, ignoring shared-secret keys unless HMAC is allowed', async () => {
    const inline = { keys: [await publicJwk(rsa, 'k1', 'RS256'), { kty: 'oct', k: base64url.encode('secret'), kid: 's1', alg: 'HS256' }] };
    const a = authenticatorsByTarget([{ name: 'inline', target: 'productpage', jwt: { issuer: ISSUER, jwks: inline, audiences: [] } }]).get('productpage')!;
    expect((await a.authenticate(bearer(await token()))).ok).toBe(true);
    const hs = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: 's1' }).setIssuer(ISSUER).setSubject('x').setExpirationTime('1h').sign(new TextEncoder().encode('secret'));
    expect(await a.authenticate(bearer(hs))).toMatchObject({ ok: false, reason: 'alg-not-allowed' });
    const withHmac = new JwtAuthenticator([{ name: 'inline', target: 'productpage', jwt: { issuer: ISSUER, jwks: inline, audiences: [] } }], { algorithms: ['RS256', 'HS256'] });
    expect((await withHmac.authenticate(bearer(hs))).ok).toBe(true);
  });

  it('feeds its claims to authorization rules', async () => {
    mode = 'ok';
    const a = new JwtAuthenticator([policy()]);
    const authz = compileAuthorization(
      [{ name: 'admins', target: 'productpage', action: 'allow', dryRun: false, from: [{ requestPrincipal: `${ISSUER}/*` }], to: [], when: [{ key: 'request.auth.claims[groups]', values: ['admin'] }] }],
      { trustDomain: 'demo.local' },
    );
    const check = async (headers: Record<string, string>): Promise<boolean> => {
      const r: JwtResult = await a.authenticate(headers);
      if (!r.ok) return false;
      return authz.check('productpage', { method: 'GET', path: '/', ...(r.anonymous ? {} : { auth: { principal: r.principal, claims: r.claims } }) }).allowed;
    };
    expect(await check(bearer(await token()))).toBe(true);
    expect(await check(bearer(await token({ groups: ['dev'] })))).toBe(false);
    expect(await check({})).toBe(false);
    a.close();
  });
});
