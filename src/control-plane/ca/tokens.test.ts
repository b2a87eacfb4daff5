import { createPrivateKey } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, UnsecuredJWT, base64url, exportPKCS8, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_TYPE, TokenSigner, tokenAudience } from './tokens.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'enmesh-tokens-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('workload tokens', () => {
  it('mints a token the CA verifies as the service it names', async () => {
    const signer = await TokenSigner.generate('demo.local');
    const token = await signer.mint('reviews', 3600_000);
    const got = await signer.verifier().verify(token);
    expect(got).toMatchObject({ service: 'reviews', spiffeId: 'spiffe://demo.local/service/reviews' });
    expect(got.expiresAt).toBeGreaterThan(Date.now() + 3500_000);
    const [header] = token.split('.');
    expect(JSON.parse(Buffer.from(header!, 'base64url').toString())).toEqual({ alg: 'ES256', typ: TOKEN_TYPE });
  });

  it('refuses tokens that are expired, for another CA, from another key, untyped, unsigned or malformed', async () => {
    // A signer whose key the test also holds, so forged tokens differ from good ones in one way only.
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const pem = await exportPKCS8(privateKey);
    const signer = TokenSigner.fromPem('demo.local', pem);
    const key = createPrivateKey(pem);
    const verifier = signer.verifier();
    const other = await TokenSigner.generate('demo.local');
    const now = Date.now();
    const expired = await signer.mint('reviews', 1000, now - 120_000);
    const foreign = await (await TokenSigner.generate('other.local')).mint('reviews');
    const otherKey = await other.mint('reviews');
    const aud = tokenAudience('demo.local');
    const untyped = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' }).setIssuer(aud).setAudience(aud).setSubject('reviews').setIssuedAt().setExpirationTime('1h').setJti('x').sign(key);
    const noJti = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', typ: TOKEN_TYPE }).setIssuer(aud).setAudience(aud).setSubject('reviews').setIssuedAt().setExpirationTime('1h').sign(key);
    const badSubject = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', typ: TOKEN_TYPE }).setIssuer(aud).setAudience(aud).setSubject('../admin').setIssuedAt().setExpirationTime('1h').setJti('x').sign(key);
    // Control: the same construction with every field right is accepted, so each refusal below is about its one defect.
    const proper = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', typ: TOKEN_TYPE }).setIssuer(aud).setAudience(aud).setSubject('reviews').setIssuedAt().setExpirationTime('1h').setJti('x').sign(key);
    await expect(verifier.verify(proper)).resolves.toMatchObject({ service: 'reviews' });
    const none = new UnsecuredJWT({ sub: 'reviews', iss: aud, aud, jti: 'x' }).setIssuedAt().setExpirationTime('1h').encode();
    const [h, p] = otherKey.split('.');
    const signatureStripped = `${h}.${p}.`;
    const noneTyped = `${base64url.encode(JSON.stringify({ alg: 'none', typ: TOKEN_TYPE }))}.${p}.`;
    for (const [name, token] of Object.entries({ expired, foreign, otherKey, untyped, noJti, badSubject, none, signatureStripped, noneTyped, empty: '', junk: 'a.b.c', huge: 'a'.repeat(5000) })) {
      await expect(verifier.verify(token), name).rejects.toMatchObject({ code: 'ENMESH_ERR_TOKEN' });
    }
  });

  it('creates the key file once (mode 0600) and loads the same key after', async () => {
    const file = join(dir, 'ca', 'token-key.pem');
    const a = await TokenSigner.loadOrCreate('demo.local', file);
    const b = await TokenSigner.loadOrCreate('demo.local', file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await expect(b.verifier().verify(await a.mint('ratings'))).resolves.toMatchObject({ service: 'ratings' });
    await expect(TokenSigner.fromFile('demo.local', join(dir, 'missing.pem'))).rejects.toThrow(/cannot read the token signing key/);
  });

  it('refuses to mint for names that are not services, or with absurd lifetimes', async () => {
    const signer = await TokenSigner.generate('demo.local');
    await expect(signer.mint('a/b')).rejects.toThrow(/not a service name/);
    await expect(signer.mint('reviews', 0)).rejects.toThrow(/lifetime/);
    await expect(signer.mint('reviews', 400 * 24 * 3600_000)).rejects.toThrow(/lifetime/);
  });
});
