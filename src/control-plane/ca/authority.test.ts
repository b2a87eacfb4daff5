import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RSA_2048, makeCsr } from '../../../test/fixtures/security/pki.ts';
import { isEnmeshError } from '../../errors.ts';
import { PeerVerifier, parseTrustBundle } from '../../security/peer-verify.ts';
import { pemToDers } from '../../security/x509.ts';
import { CertificateAuthority } from './authority.ts';
import { checkCsr } from './csr-check.ts';
import { CA_BUNDLE_FILE, CA_CERT_FILE, CA_KEY_FILE, loadOrCreateCaDir, loadSigningMaterial } from './signing-material.ts';

const run = promisify(execFile);
const REVIEWS = 'spiffe://demo.local/service/reviews';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'enmesh-ca-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function openssl(...args: string[]): Promise<string> {
  const { stdout, stderr } = await run('/usr/bin/openssl', args);
  return stdout + stderr;
}

async function save(name: string, text: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, text);
  return file;
}

describe('CA: issued SVIDs', () => {
  it('issues an SVID that the openssl CLI verifies strictly, with the SPIFFE profile', async () => {
    const ca = await CertificateAuthority.create({ trustDomain: 'demo.local' });
    const { pem } = await makeCsr();
    const before = Date.now();
    const svid = await ca.signCsr(pem, 'reviews');
    expect(svid.spiffeId).toBe(REVIEWS);
    const root = await save('root.pem', ca.bundle().pem);
    const leaf = await save('svid.pem', svid.certChainPem);
    for (const purpose of ['sslserver', 'sslclient']) {
      expect(await openssl('verify', '-x509_strict', '-purpose', purpose, '-CAfile', root, leaf)).toMatch(/svid\.pem: OK/);
    }
    const text = await openssl('x509', '-in', leaf, '-noout', '-text');
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage:\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toMatch(/X509v3 Subject Alternative Name: critical\s+URI:spiffe:\/\/demo\.local\/service\/reviews\n/);
    expect(text).toMatch(/X509v3 Subject Key Identifier/);
    expect(text).toMatch(/X509v3 Authority Key Identifier/);
    expect(text.match(/URI:/g)).toHaveLength(1);
    expect(text).not.toMatch(/DNS:|IP Address:/);
    // Default lifetime: 24 h.
    expect(svid.notAfter - before).toBeGreaterThanOrEqual(24 * 3600_000 - 1000);
    expect(svid.notAfter - before).toBeLessThanOrEqual(24 * 3600_000 + 2000);
    // Random serials.
    const again = await ca.signCsr(pem, 'reviews');
    expect(again.serial).not.toBe(svid.serial);
    expect(svid.serial.length).toBeGreaterThanOrEqual(30);
    // Root: a CA with keyCertSign.
    const rootText = await openssl('x509', '-in', root, '-noout', '-text');
    expect(rootText).toMatch(/CA:TRUE, pathlen:0/);
    expect(rootText).toMatch(/Certificate Sign, CRL Sign/);
  });

  it('adds keyEncipherment for RSA keys only', async () => {
    const ca = await CertificateAuthority.create({ trustDomain: 'demo.local' });
    const { pem } = await makeCsr({ algorithm: RSA_2048 });
    const svid = await ca.signCsr(pem, 'reviews');
    const text = await openssl('x509', '-in', await save('rsa.pem', svid.certChainPem), '-noout', '-text');
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment\n/);
    expect(await openssl('verify', '-x509_strict', '-CAfile', await save('rsa-root.pem', ca.bundle().pem), join(dir, 'rsa.pem'))).toMatch(/OK/);
  });

  it('honours a short configured TTL and never issues longer than it', async () => {
    const ca = await CertificateAuthority.create({ trustDomain: 'demo.local', svidTtlMs: 60_000 });
    const { pem } = await makeCsr();
    const now = Date.now();
    const svid = await ca.signCsr(pem, 'reviews', 3600_000);
    expect(svid.notAfter - now).toBeLessThanOrEqual(61_000);
    expect(svid.notAfter - now).toBeGreaterThanOrEqual(59_000);
    // Back-dated by at most a tenth of the lifetime.
    expect(now - svid.notBefore).toBeLessThanOrEqual(7_000);
    const shorter = await ca.signCsr(pem, 'reviews', 5_000);
    expect(shorter.notAfter - now).toBeLessThanOrEqual(7_000);
    await expect(CertificateAuthority.create({ trustDomain: 'demo.local', svidTtlMs: 10 })).rejects.toThrow(/svidTtlMs/);
  });
});

describe('CA: CSR refusals', () => {
  const cases: [string, Parameters<typeof makeCsr>[0], string][] = [
    ['another service', { sans: [{ uri: 'spiffe://demo.local/service/ratings' }] }, 'csr-identity-mismatch'],
    ['another trust domain', { sans: [{ uri: 'spiffe://evil.local/service/reviews' }] }, 'csr-identity-mismatch'],
    ['two URI SANs (the right one first)', { sans: [{ uri: REVIEWS }, { uri: 'spiffe://demo.local/service/admin' }] }, 'csr-san-multiple'],
    ['two URI SANs (the right one last)', { sans: [{ uri: 'spiffe://demo.local/service/admin' }, { uri: REVIEWS }] }, 'csr-san-multiple'],
    ['a DNS SAN beside the URI', { sans: [{ uri: REVIEWS }, { dns: 'admin.demo.local' }] }, 'csr-san-type'],
    ['an IP SAN beside the URI', { sans: [{ uri: REVIEWS }, { ip: [10, 0, 0, 1] }] }, 'csr-san-type'],
    ['a DNS SAN only', { sans: [{ dns: 'reviews' }] }, 'csr-san-type'],
    ['no SAN', { sans: null }, 'csr-san-missing'],
    ['NUL after the right ID', { sans: [{ uri: `${REVIEWS}\u0000/admin` }] }, 'csr-san-encoding'],
    ['upper-case scheme', { sans: [{ uri: REVIEWS.toUpperCase() }] }, 'csr-identity-mismatch'],
    ['a CA certificate', { extensions: [new x509.BasicConstraintsExtension(true, undefined, true)] }, 'csr-requests-ca'],
    ['a second SAN extension', { extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://demo.local/service/admin' }])] }, 'csr-san-multiple'],
    ['a P-521 key', { algorithm: { name: 'ECDSA', namedCurve: 'P-521', hash: 'SHA-512' } as never }, 'csr-key'],
  ];

  it.each(cases)('refuses a CSR with %s', async (_name, spec, reason) => {
    const { pem } = await makeCsr(spec);
    const r = await checkCsr(pem, REVIEWS);
    expect(r).toMatchObject({ ok: false, reason });
    const ca = await CertificateAuthority.create({ trustDomain: 'demo.local' });
    try {
      await ca.signCsr(pem, 'reviews');
      expect.unreachable('signed');
    } catch (err) {
      expect(isEnmeshError(err) && err.code).toBe('ENMESH_ERR_CSR_REFUSED');
      expect((err as Error).message.startsWith(reason)).toBe(true);
    }
    expect(ca.issued).toBe(0);
  });

  it('refuses a CSR whose signature does not verify (no proof of possession)', async () => {
    const { pem } = await makeCsr();
    const der = pemToDers(pem, 'CERTIFICATE REQUEST')[0]!;
    der[der.length - 5] ^= 0x01; // inside the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(await checkCsr(tampered, REVIEWS)).toMatchObject({ ok: false, reason: expect.stringMatching(/csr-signature|csr-malformed/) });
    expect(await checkCsr('not a csr', REVIEWS)).toMatchObject({ ok: false, reason: 'csr-malformed' });
    expect(await checkCsr('x'.repeat(20_000), REVIEWS)).toMatchObject({ ok: false, reason: 'csr-malformed' });
  });

  it('refuses a CSR signed by a different key than the one it carries', async () => {
    const a = await makeCsr();
    const b = await makeCsr();
    // Graft b's public key into a's request: the signature no longer matches.
    const reqA = new x509.Pkcs10CertificateRequest(a.pem);
    const reqB = new x509.Pkcs10CertificateRequest(b.pem);
    const derA = Buffer.from(reqA.rawData);
    const spkiA = Buffer.from(reqA.publicKey.rawData);
    const spkiB = Buffer.from(reqB.publicKey.rawData);
    const at = derA.indexOf(spkiA);
    spkiB.copy(derA, at);
    const grafted = `-----BEGIN CERTIFICATE REQUEST-----\n${derA.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    expect(await checkCsr(grafted, REVIEWS)).toMatchObject({ ok: false, reason: 'csr-signature' });
  });
});

describe('CA: operator material, persistence, rollover', () => {
  it('signs with an operator intermediate; openssl verifies leaf → intermediate → root', async () => {
    const p = (n: string): string => join(dir, n);
    await openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/O=corp/CN=corp root',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', p('op-root.key'), '-out', p('op-root.pem'));
    await openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/O=corp/CN=mesh intermediate', '-keyout', p('op-int.key'), '-out', p('op-int.csr'));
    await writeFile(p('int.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
    await openssl('x509', '-req', '-in', p('op-int.csr'), '-CA', p('op-root.pem'), '-CAkey', p('op-root.key'), '-CAcreateserial', '-days', '1', '-extfile', p('int.ext'), '-out', p('op-int.pem'));
    const material = await loadSigningMaterial({ certFile: p('op-int.pem'), keyFile: p('op-int.key'), bundleFile: p('op-root.pem') });
    const ca = await CertificateAuthority.create({ trustDomain: 'demo.local', signer: material });
    const svid = await ca.signCsr((await makeCsr()).pem, 'reviews');
    expect(pemToDers(svid.certChainPem)).toHaveLength(2);
    await writeFile(p('op-svid.pem'), svid.certChainPem);
    await writeFile(p('op-bundle.pem'), ca.bundle().pem);
    expect(await openssl('verify', '-x509_strict', '-CAfile', p('op-bundle.pem'), '-untrusted', p('op-svid.pem'), p('op-svid.pem'))).toMatch(/OK/);
    const v = new PeerVerifier({ trustDomain: 'demo.local', bundle: () => parseTrustBundle('demo.local', ca.bundle().pem) });
    expect(v.verifyChain(pemToDers(svid.certChainPem), 'client')).toMatchObject({ ok: true, identity: { service: 'reviews' } });
    await expect(ca.beginRootRollover()).rejects.toThrow(/operator material/);

    // Wrong key for the certificate, a leaf as CA, no root anywhere: refused with the file named.
    await expect(loadSigningMaterial({ certFile: p('op-int.pem'), keyFile: p('op-root.key'), bundleFile: p('op-root.pem') })).rejects.toThrow(/op-root\.key does not match/);
    await expect(loadSigningMaterial({ certFile: p('op-svid.pem'), keyFile: p('op-int.key') })).rejects.toThrow(/not a CA/);
    await expect(loadSigningMaterial({ certFile: p('op-int.pem'), keyFile: p('op-int.key') })).rejects.toThrow(/no root certificate/);
  });

  it('keeps its generated root across restarts in a CA directory, key mode 0600', async () => {
    const caDir = join(dir, 'state');
    const first = await loadOrCreateCaDir(caDir, 'demo.local', 3600_000);
    const second = await loadOrCreateCaDir(caDir, 'demo.local', 3600_000);
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.material.cert.toString('pem')).toBe(first.material.cert.toString('pem'));
    expect((await stat(join(caDir, CA_KEY_FILE))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(caDir, CA_CERT_FILE), 'utf8')).toMatch(/BEGIN CERTIFICATE/);
    expect(CA_BUNDLE_FILE).toBe('bundle.pem');
  });

  it('rolls its root over: next root published first, then signing, then the old one retired', async () => {
    const ca = await CertificateAuthority.create({ trustDomain: 'demo.local' });
    const csr = (await makeCsr()).pem;
    const oldSvid = await ca.signCsr(csr, 'reviews');
    const v0 = ca.bundle().version;
    await ca.beginRootRollover();
    expect(ca.bundle().roots).toHaveLength(2);
    expect(ca.bundle().version).not.toBe(v0);
    const stillOld = await ca.signCsr(csr, 'reviews');
    const verifier = (pem: string): PeerVerifier => new PeerVerifier({ trustDomain: 'demo.local', bundle: () => parseTrustBundle('demo.local', pem) });
    const oldRootOnly = ca.bundle().roots[0]!;
    expect(verifier(oldRootOnly).verifyChain(pemToDers(stillOld.certChainPem), 'server').ok).toBe(true);
    ca.completeRootRollover();
    const newSvid = await ca.signCsr(csr, 'reviews');
    const both = ca.bundle().pem;
    expect(verifier(oldRootOnly).verifyChain(pemToDers(newSvid.certChainPem), 'server').ok).toBe(false);
    expect(verifier(both).verifyChain(pemToDers(newSvid.certChainPem), 'server').ok).toBe(true);
    expect(verifier(both).verifyChain(pemToDers(oldSvid.certChainPem), 'server').ok).toBe(true);
    ca.retirePreviousRoot();
    expect(ca.bundle().roots).toHaveLength(1);
    expect(verifier(ca.bundle().pem).verifyChain(pemToDers(oldSvid.certChainPem), 'server').ok).toBe(false);
    expect(verifier(ca.bundle().pem).verifyChain(pemToDers(newSvid.certChainPem), 'server').ok).toBe(true);
    expect(() => ca.retirePreviousRoot()).toThrow(/no previous root/);
  });
});
