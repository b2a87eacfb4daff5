/**
 * The mesh CA: turns checked CSRs into X.509 SVIDs and publishes the trust
 * bundle.
 *
 * An SVID is a short-lived leaf certificate with:
 * - exactly one URI SAN, `spiffe://<trustDomain>/service/<name>` (critical,
 *   since the subject is empty as RFC 5280 §4.2.1.6 allows);
 * - basicConstraints cA=false (critical);
 * - keyUsage digitalSignature (critical), plus keyEncipherment for RSA keys only;
 * - extKeyUsage serverAuth + clientAuth;
 * - a random serial, subject and authority key identifiers;
 * - a lifetime of `svidTtlMs` (default 24 h), never past the signing certificate's.
 *
 * The signing certificate is either a root generated here (EC P-256,
 * pathLen 0) or operator material (see signing-material.ts). Root rollover
 * publishes the next root in the bundle before anything is signed with it,
 * so every peer trusts both while certificates of either are in use.
 */
import { createHash } from 'node:crypto';
import type { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { EnmeshError } from '../../errors.ts';
import { serviceSpiffeId } from '../../security/spiffe-id.ts';
import { OID, randomSerial } from '../../security/x509.ts';
import type { CryptoKey } from '../../security/x509.ts';
import { checkCsr } from './csr-check.ts';
import { floorSeconds, generateRoot } from './signing-material.ts';
import type { SigningMaterial } from './signing-material.ts';

export const DEFAULT_SVID_TTL_MS = 24 * 3600_000;
/** Shortest SVID lifetime: renewal at half-life needs some room. Short ones are for tests. */
export const MIN_SVID_TTL_MS = 1000;
export const DEFAULT_ROOT_TTL_MS = 365 * 24 * 3600_000;

export interface CertificateAuthorityOptions {
  readonly trustDomain: string;
  /** Operator-supplied signing certificate and key; absent: a root is generated. */
  readonly signer?: SigningMaterial;
  /** Lifetime of issued SVIDs (and the longest one a workload may ask for). Default 24 h. */
  readonly svidTtlMs?: number;
  /** Lifetime of generated roots. Default 365 days. */
  readonly rootTtlMs?: number;
  /** Wall clock, epoch ms. */
  readonly now?: () => number;
}

export interface IssuedSvid {
  readonly spiffeId: string;
  /** Leaf first, then the intermediates up to (not including) the root. */
  readonly certChainPem: string;
  readonly bundlePem: string;
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface TrustBundleView {
  readonly trustDomain: string;
  /** Every root a peer must trust now: the current one, plus the next or previous during a rollover. */
  readonly roots: readonly string[];
  readonly pem: string;
  /** Changes whenever the set of roots changes. */
  readonly version: string;
}

interface Signer {
  readonly cert: x509.X509Certificate;
  readonly key: CryptoKey;
  readonly intermediates: readonly x509.X509Certificate[];
  /** The authority key identifier to put in leaves: the signer's own SKI. */
  readonly keyId: string;
}

export class CertificateAuthority {
  readonly trustDomain: string;
  readonly svidTtlMs: number;
  /** SVIDs issued since start. */
  issued = 0;

  readonly #rootTtlMs: number;
  readonly #now: () => number;
  #signer: Signer;
  /** Published roots, PEM, in order: current first. */
  #roots: string[];
  #next: { signer: Signer; rootPem: string } | undefined;
  #previousRootPem: string | undefined;
  #bundle: TrustBundleView;
  /** Roots generated here can be rolled over here; operator material is rolled over with files. */
  readonly #generated: boolean;

  private constructor(options: CertificateAuthorityOptions, signer: Signer, roots: string[]) {
    this.#generated = options.signer === undefined;
    this.trustDomain = options.trustDomain;
    this.svidTtlMs = options.svidTtlMs ?? DEFAULT_SVID_TTL_MS;
    this.#rootTtlMs = options.rootTtlMs ?? DEFAULT_ROOT_TTL_MS;
    this.#now = options.now ?? Date.now;
    this.#signer = signer;
    this.#roots = roots;
    this.#bundle = this.#makeBundle();
  }

  static async create(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const ttl = options.svidTtlMs ?? DEFAULT_SVID_TTL_MS;
    if (!(ttl >= MIN_SVID_TTL_MS)) throw new EnmeshError('ENMESH_ERR_CA', `svidTtlMs must be at least ${MIN_SVID_TTL_MS} ms, got ${ttl}`);
    const m = options.signer ?? (await generateRoot(options.trustDomain, options.rootTtlMs ?? DEFAULT_ROOT_TTL_MS, (options.now ?? Date.now)()));
    const signer = await signerOf(m.cert, m.key, m.intermediates);
    return new CertificateAuthority(options, signer, m.roots.map((r) => r.toString('pem')));
  }

  bundle(): TrustBundleView {
    return this.#bundle;
  }

  /** The certificate new SVIDs are signed with. */
  signingCertificatePem(): string {
    return this.#signer.cert.toString('pem');
  }

  /**
   * Checks `csrPem` against the identity of `service` and signs it.
   * Throws `ENMESH_ERR_CSR_REFUSED` (message starts with the reason) when the CSR is refused.
   */
  async signCsr(csrPem: string, service: string, ttlMs?: number): Promise<IssuedSvid> {
    const spiffeId = serviceSpiffeId(this.trustDomain, service);
    const check = await checkCsr(csrPem, spiffeId);
    if (!check.ok) throw new EnmeshError('ENMESH_ERR_CSR_REFUSED', `${check.reason}: ${check.message}`);
    return this.issue(check.publicKey, spiffeId, check.rsa, ttlMs);
  }

  /** Signs an SVID for `spiffeId` over `publicKey`. The caller has checked that the key's holder is `spiffeId`. */
  async issue(publicKey: x509.PublicKey, spiffeId: string, rsa: boolean, ttlMs?: number): Promise<IssuedSvid> {
    const signer = this.#signer;
    const now = this.#now();
    const ttl = Math.max(MIN_SVID_TTL_MS, Math.min(ttlMs ?? this.svidTtlMs, this.svidTtlMs));
    // Back-date a little for clock skew between peers, never more than a tenth of the lifetime.
    const notBefore = Math.max(now - Math.min(60_000, ttl / 10), signer.cert.notBefore.getTime());
    // Whole seconds in X.509: round the end up (never shorter than asked) but never past the signer's.
    const notAfter = Math.min(Math.ceil((now + ttl) / 1000) * 1000, signer.cert.notAfter.getTime());
    if (notAfter <= now) throw new EnmeshError('ENMESH_ERR_CA', 'the CA signing certificate has expired; rotate the CA');
    const usages = x509.KeyUsageFlags.digitalSignature | (rsa ? x509.KeyUsageFlags.keyEncipherment : 0);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: '',
      issuer: signer.cert.subjectName,
      notBefore: new Date(floorSeconds(notBefore)),
      notAfter: new Date(notAfter),
      publicKey,
      signingKey: signer.key,
      signingAlgorithm: signingAlgorithm(signer.key),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(usages, true),
        new x509.ExtendedKeyUsageExtension([OID.serverAuth, OID.clientAuth], false),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }], true),
        await x509.SubjectKeyIdentifierExtension.create(publicKey),
        new x509.AuthorityKeyIdentifierExtension(signer.keyId),
      ],
    });
    this.issued++;
    const chain = [cert, ...signer.intermediates].map((c) => c.toString('pem')).join('\n');
    return {
      spiffeId,
      certChainPem: `${chain}\n`,
      bundlePem: this.#bundle.pem,
      serial: cert.serialNumber,
      notBefore: cert.notBefore.getTime(),
      notAfter: cert.notAfter.getTime(),
    };
  }

  /**
   * Step 1 of a root rollover (generated roots only): makes the next root and
   * publishes it beside the current one. Wait until every workload has
   * fetched the new bundle (one SVID lifetime is enough: each renewal brings
   * it) before {@link completeRootRollover}.
   */
  async beginRootRollover(): Promise<void> {
    if (!this.#generated) throw new EnmeshError('ENMESH_ERR_CA', 'this CA signs with operator material: roll it over with files (docs/security.md)');
    if (this.#next !== undefined) throw new EnmeshError('ENMESH_ERR_CA', 'a root rollover is already in progress');
    const m = await generateRoot(this.trustDomain, this.#rootTtlMs, this.#now());
    const next = { signer: await signerOf(m.cert, m.key, []), rootPem: m.cert.toString('pem') };
    this.#next = next;
    this.#roots = [...this.#roots, next.rootPem];
    this.#bundle = this.#makeBundle();
  }

  /** Step 2: signs with the next root from now on; the previous root stays published for certificates it signed. */
  completeRootRollover(): void {
    const next = this.#next;
    if (next === undefined) throw new EnmeshError('ENMESH_ERR_CA', 'no root rollover in progress: call beginRootRollover() first');
    this.#previousRootPem = this.#roots[0];
    this.#signer = next.signer;
    this.#next = undefined;
    this.#roots = [next.rootPem, ...this.#roots.filter((r) => r !== next.rootPem)];
    this.#bundle = this.#makeBundle();
  }

  /** Step 3, one SVID lifetime after step 2: stops publishing the previous root. */
  retirePreviousRoot(): void {
    const previous = this.#previousRootPem;
    if (previous === undefined) throw new EnmeshError('ENMESH_ERR_CA', 'no previous root to retire');
    this.#previousRootPem = undefined;
    this.#roots = this.#roots.filter((r) => r !== previous);
    this.#bundle = this.#makeBundle();
  }

  #makeBundle(): TrustBundleView {
    const roots = Object.freeze([...this.#roots]);
    const pem = roots.join('\n');
    const version = createHash('sha256').update(pem).digest('hex').slice(0, 16);
    return Object.freeze({ trustDomain: this.trustDomain, roots, pem: `${pem.trimEnd()}\n`, version });
  }
}

async function signerOf(cert: x509.X509Certificate, key: CryptoKey, intermediates: readonly x509.X509Certificate[]): Promise<Signer> {
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const keyId = ski?.keyId ?? Buffer.from(await cert.publicKey.getKeyIdentifier()).toString('hex');
  return { cert, key, intermediates, keyId };
}

function signingAlgorithm(key: CryptoKey): webcrypto.EcdsaParams | webcrypto.RsaHashedImportParams {
  const alg = key.algorithm as webcrypto.EcKeyAlgorithm & webcrypto.RsaHashedKeyAlgorithm;
  if (alg.name === 'ECDSA') return { name: 'ECDSA', hash: alg.namedCurve === 'P-384' ? 'SHA-384' : alg.namedCurve === 'P-521' ? 'SHA-512' : 'SHA-256' };
  return { name: alg.name, hash: alg.hash };
}
