/**
 * Is this certificate chain a valid X.509 SVID of our trust domain, and whose?
 *
 * Checked in this order, the first failure being the reason reported:
 * 1. structure: DER that parses, at most {@link MAX_CHAIN_LENGTH} certificates,
 *    no duplicate extensions, no unknown critical extension;
 * 2. chain: signatures up to a root of the trust bundle, every issuer a CA
 *    within its pathLen;
 * 3. validity window of every certificate on the path;
 * 4. the leaf as an SVID: not a CA; SAN with exactly one URI and nothing
 *    else, in visible ASCII; the URI a strict SPIFFE ID (spiffe-id.ts) in
 *    our trust domain; keyUsage with digitalSignature and without
 *    keyCertSign/cRLSign; extKeyUsage with serverAuth (a server peer) or
 *    clientAuth (a client peer);
 * 5. optionally, that the identity is the one expected.
 *
 * Every refusal is counted by reason ({@link PeerVerifier.refusals}).
 * Successful results are cached per leaf (and bundle version) so a
 * reconnecting peer costs a hash, not a signature check.
 */
import { X509Certificate as NodeX509, createHash } from 'node:crypto';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { EnmeshError } from '../errors.ts';
import { parseSpiffeId, serviceOf } from './spiffe-id.ts';
import { KeyUsage, OID, pemToDers, readBasicConstraints, readExtensions, readGeneralNames, readKeyUsage, readOidSequence, visibleAscii } from './x509.ts';
import type { RawExtension } from './x509.ts';
import { MAX_CHAIN_LENGTH, PEER_REFUSAL_REASONS, peerChain, peerError, type PeerRefusalReason } from './peer-refusal.ts';

// What the mesh reads without verifying anything lives in peer-refusal.ts, so that a process
// without mTLS does not load this module and its X.509 parser; re-exported here as before.
export { MAX_CHAIN_LENGTH, PEER_REFUSAL_REASONS, peerChain, peerError, type PeerRefusalReason } from './peer-refusal.ts';


export interface PeerIdentity {
  readonly spiffeId: string;
  readonly trustDomain: string;
  /** The service name when the ID is `spiffe://<our trust domain>/service/<name>`. */
  readonly service: string | undefined;
  /** When the peer's certificate (or the first one on its path) expires, epoch ms. */
  readonly notAfter: number;
}

export type PeerCheck =
  | { readonly ok: true; readonly identity: PeerIdentity }
  | { readonly ok: false; readonly reason: PeerRefusalReason; readonly message: string };

/** Which end the peer is: a `server` must have serverAuth, a `client` clientAuth. */
export type PeerRole = 'server' | 'client';

/** The identities acceptable for one connection: one SPIFFE ID, a list, or a predicate. Absent: any of our trust domain. */
export type ExpectedPeer = string | readonly string[] | ((identity: PeerIdentity) => boolean);

export interface TrustBundle {
  readonly trustDomain: string;
  readonly roots: readonly NodeX509[];
  /** Changes when the roots change; part of the verification cache key. */
  readonly version: string;
}

const KNOWN_CRITICAL: ReadonlySet<string> = new Set<string>([OID.basicConstraints, OID.keyUsage, OID.extKeyUsage, OID.subjectAltName, OID.nameConstraints]);
const DEFAULT_CACHE_ENTRIES = 1024;

/** A trust bundle from PEM (any number of root certificates). Throws `ENMESH_ERR_PEER_IDENTITY` when one is not a CA. */
export function parseTrustBundle(trustDomain: string, pem: string): TrustBundle {
  const roots = pemToDers(pem).map((d) => new NodeX509(d));
  for (const r of roots) {
    if (!r.ca) throw new EnmeshError('ENMESH_ERR_PEER_IDENTITY', `trust bundle certificate ${r.subject} is not a CA`);
  }
  const version = createHash('sha256').update(roots.map((r) => r.fingerprint256).join(',')).digest('hex').slice(0, 16);
  return Object.freeze({ trustDomain, roots: Object.freeze(roots), version });
}

export interface PeerVerifierOptions {
  readonly trustDomain: string;
  /** The current trust bundle (read on every verification, so rotation needs no restart); undefined until one is known. */
  readonly bundle: () => TrustBundle | undefined;
  /** Wall clock, epoch ms. */
  readonly now?: () => number;
  readonly maxCacheEntries?: number;
  /**
   * CA certificates (DER) between the roots and the SVIDs they sign (an
   * operator intermediate): they complete a peer's chain when the TLS stack
   * shows only its leaf (a TLS server's view of its client, gRPC's auth context).
   */
  readonly intermediates?: () => readonly Uint8Array[];
}

interface CacheEntry {
  readonly identity: PeerIdentity;
  readonly bundleVersion: string;
  readonly validFrom: number;
  readonly validTo: number;
}

type Refusal = { readonly ok: false; readonly reason: PeerRefusalReason; readonly message: string };

const refusal = (reason: PeerRefusalReason, message: string): Refusal => ({ ok: false, reason, message });

export class PeerVerifier {
  readonly trustDomain: string;
  /** Refusals by reason since start. */
  readonly refusals: Record<PeerRefusalReason, number>;
  readonly #bundle: () => TrustBundle | undefined;
  readonly #now: () => number;
  readonly #cache = new Map<string, CacheEntry>();
  readonly #maxCache: number;
  readonly #intermediates: (() => readonly Uint8Array[]) | undefined;

  constructor(options: PeerVerifierOptions) {
    this.#intermediates = options.intermediates;
    this.trustDomain = options.trustDomain;
    this.#bundle = options.bundle;
    this.#now = options.now ?? Date.now;
    this.#maxCache = options.maxCacheEntries ?? DEFAULT_CACHE_ENTRIES;
    this.refusals = Object.fromEntries(PEER_REFUSAL_REASONS.map((r) => [r, 0])) as Record<PeerRefusalReason, number>;
  }

  /** Counts a refusal decided elsewhere (a plaintext connection in strict mode, no SVID of our own). */
  count(reason: PeerRefusalReason): void {
    this.refusals[reason]++;
  }

  /** Verifies `chain` (DER, leaf first, then whatever the peer sent) as the SVID of a peer in `role`. */
  verifyChain(chain: readonly Uint8Array[], role: PeerRole, expected?: ExpectedPeer): PeerCheck {
    const extra = chain.length === 1 ? this.#intermediates?.() : undefined;
    const r = this.#verify(extra === undefined || extra.length === 0 ? chain : [...chain, ...extra], role);
    if (!r.ok) {
      this.refusals[r.reason]++;
      return r;
    }
    if (expected !== undefined && !matches(expected, r.identity)) {
      this.refusals['unexpected-identity']++;
      return refusal('unexpected-identity', `peer is ${r.identity.spiffeId}, not the identity expected for this connection`);
    }
    return r;
  }

  /**
   * Verifies the peer of an established TLS connection. Both this check and
   * OpenSSL's own chain verification (`socket.authorized`, against the `ca`
   * the socket was configured with) must pass.
   */
  verifyTlsSocket(socket: TLSSocket, role: PeerRole, expected?: ExpectedPeer): PeerCheck {
    const cert = socket.getPeerCertificate(true);
    const r = this.verifyChain(peerChain(cert), role, expected);
    if (r.ok && !socket.authorized) {
      this.refusals['tls-unauthorized']++;
      return refusal('tls-unauthorized', `TLS verification failed: ${String(socket.authorizationError ?? 'unknown')}`);
    }
    return r;
  }

  /**
   * A `checkServerIdentity` for `tls.connect` / `https.request` /
   * undici `connect` options (with `rejectUnauthorized: true` and `ca` =
   * the trust bundle): refuses a server that is not a valid SVID, or not
   * the expected one. Node calls it only after OpenSSL accepted the chain.
   */
  checkServerIdentity(expected?: ExpectedPeer): (host: string, cert: PeerCertificate) => Error | undefined {
    return (_host, cert) => {
      const r = this.verifyChain(peerChain(cert), 'server', expected);
      return r.ok ? undefined : peerError(r);
    };
  }

  #verify(chain: readonly Uint8Array[], role: PeerRole): PeerCheck {
    if (chain.length === 0) return refusal('no-certificate', 'the peer presented no certificate');
    if (chain.length > MAX_CHAIN_LENGTH) return refusal('chain-invalid', `the peer sent ${chain.length} certificates; at most ${MAX_CHAIN_LENGTH} are accepted`);
    const bundle = this.#bundle();
    if (bundle === undefined || bundle.roots.length === 0) return refusal('untrusted', 'no trust bundle yet: cannot verify any peer');
    const leafDer = chain[0]!;
    const key = `${role}:${createHash('sha256').update(leafDer).digest('base64')}`;
    const now = this.#now();
    const hit = this.#cache.get(key);
    if (hit !== undefined && hit.bundleVersion === bundle.version && now >= hit.validFrom && now <= hit.validTo) return { ok: true, identity: hit.identity };

    let certs: NodeX509[];
    try {
      certs = chain.map((d) => new NodeX509(d));
    } catch (err) {
      return refusal('malformed', `a peer certificate does not parse: ${(err as Error).message}`);
    }
    const leafExts = readExtensions(leafDer);
    if (leafExts === undefined) return refusal('malformed', 'the peer certificate is not strict DER');
    const structure = checkExtensions(leafExts);
    if (structure !== undefined) return structure;

    const path = buildPath(certs, chain, bundle);
    if (!path.ok) return path;

    let validFrom = -Infinity;
    let validTo = Infinity;
    for (const c of path.certs) {
      const from = c.validFromDate.getTime();
      const to = c.validToDate.getTime();
      const what = c === certs[0] ? 'the peer certificate' : `issuer ${dn(c.subject)}`;
      if (now > to) return refusal('expired', `${what} expired at ${c.validToDate.toISOString()}`);
      if (now < from) return refusal('not-yet-valid', `${what} is not valid before ${c.validFromDate.toISOString()}`);
      if (from > validFrom) validFrom = from;
      if (to < validTo) validTo = to;
    }

    const leaf = checkLeaf(leafExts, role, this.trustDomain);
    if (!leaf.ok) return leaf;
    const identity: PeerIdentity = Object.freeze({ spiffeId: leaf.id, trustDomain: this.trustDomain, service: leaf.service, notAfter: validTo });
    if (this.#cache.size >= this.#maxCache) this.#cache.clear();
    this.#cache.set(key, { identity, bundleVersion: bundle.version, validFrom, validTo });
    return { ok: true, identity };
  }
}

function matches(expected: ExpectedPeer, id: PeerIdentity): boolean {
  if (typeof expected === 'string') return expected === id.spiffeId;
  if (typeof expected === 'function') return expected(id);
  return expected.includes(id.spiffeId);
}

function checkExtensions(exts: readonly RawExtension[]): Refusal | undefined {
  const seen = new Set<string>();
  for (const e of exts) {
    if (seen.has(e.oid)) return refusal('malformed', `extension ${e.oid} appears twice`);
    seen.add(e.oid);
    if (e.critical && !KNOWN_CRITICAL.has(e.oid)) return refusal('malformed', `unknown critical extension ${e.oid}`);
  }
  return undefined;
}

type Path = { readonly ok: true; readonly certs: readonly NodeX509[] } | Refusal;

/** Walks from the leaf up to a bundle root, using the peer's certificates as intermediates. */
function buildPath(certs: readonly NodeX509[], ders: readonly Uint8Array[], bundle: TrustBundle): Path {
  const path: NodeX509[] = [certs[0]!];
  const used = new Set<number>([0]);
  let cur = certs[0]!;
  for (let depth = 0; depth < MAX_CHAIN_LENGTH; depth++) {
    for (const root of bundle.roots) {
      if (cur.checkIssued(root) && safeVerify(cur, root)) {
        if (cur !== root) path.push(root);
        const limit = pathLenViolation(path, ders, certs);
        return limit ?? { ok: true, certs: path };
      }
    }
    let next = -1;
    for (let i = 1; i < certs.length; i++) {
      if (used.has(i)) continue;
      const cand = certs[i]!;
      if (cand.ca && cur.checkIssued(cand) && safeVerify(cur, cand)) {
        next = i;
        break;
      }
    }
    if (next < 0) {
      return refusal('untrusted', depth === 0
        ? `the peer certificate (issuer ${dn(cur.issuer)}) is not signed by a root of the ${bundle.trustDomain} trust bundle`
        : `the peer chain ends at ${dn(cur.subject)}, which no root of the trust bundle signed`);
    }
    used.add(next);
    cur = certs[next]!;
    path.push(cur);
  }
  return refusal('chain-invalid', `the peer chain is longer than ${MAX_CHAIN_LENGTH}`);
}

/** A distinguished name on one line (Node gives undefined for an empty one). */
function dn(name: string | undefined): string {
  return name === undefined || name === '' ? '(empty name)' : name.replace(/\n/g, ', ');
}

function safeVerify(cert: NodeX509, issuer: NodeX509): boolean {
  try {
    return cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** Every CA on the path must allow the intermediates below it (basicConstraints pathLen). */
function pathLenViolation(path: readonly NodeX509[], ders: readonly Uint8Array[], certs: readonly NodeX509[]): Refusal | undefined {
  for (let i = 1; i < path.length; i++) {
    const idx = certs.indexOf(path[i]!);
    const der = idx >= 0 ? ders[idx]! : new Uint8Array(path[i]!.raw);
    const bc = readExtensions(der)?.find((e) => e.oid === OID.basicConstraints);
    const parsed = bc === undefined ? undefined : readBasicConstraints(bc.value);
    if (parsed === undefined || !parsed.ca) return refusal('chain-invalid', `issuer ${dn(path[i]!.subject)} is not a CA`);
    const below = i - 1; // intermediates between this CA and the leaf
    if (parsed.pathLen !== undefined && below > parsed.pathLen) {
      return refusal('chain-invalid', `issuer ${dn(path[i]!.subject)} allows ${parsed.pathLen} intermediates below it, the chain has ${below}`);
    }
  }
  return undefined;
}

type Leaf = { readonly ok: true; readonly id: string; readonly service: string | undefined } | Refusal;

function checkLeaf(exts: readonly RawExtension[], role: PeerRole, trustDomain: string): Leaf {
  const find = (oid: string): RawExtension | undefined => exts.find((e) => e.oid === oid);

  const bcExt = find(OID.basicConstraints);
  if (bcExt !== undefined) {
    const bc = readBasicConstraints(bcExt.value);
    if (bc === undefined) return refusal('malformed', 'basicConstraints does not parse');
    if (bc.ca) return refusal('ca-as-leaf', 'the peer certificate is a CA certificate (basicConstraints cA=true), not a workload SVID');
  }

  const sanExt = find(OID.subjectAltName);
  if (sanExt === undefined) return refusal('san-missing', 'the peer certificate has no subjectAltName');
  const names = readGeneralNames(sanExt.value);
  if (names === undefined) return refusal('malformed', 'subjectAltName is not strict DER');
  let uris = 0;
  let uriBytes: Uint8Array | undefined;
  for (const n of names) {
    if (n.kind === 'uri') {
      uris++;
      uriBytes = n.bytes;
    }
  }
  if (uris > 1) return refusal('san-multiple-uri', `the peer certificate has ${uris} URI SANs; an SVID has exactly one`);
  if (uris === 0) return refusal('san-no-uri', `the peer certificate has no URI SAN (only ${[...new Set(names.map((n) => n.kind))].join(', ') || 'none'})`);
  if (names.length > 1) {
    const others = [...new Set(names.filter((n) => n.kind !== 'uri').map((n) => n.kind))].join(', ');
    return refusal('san-unexpected-type', `the peer certificate has SANs other than its SPIFFE ID (${others})`);
  }
  const uri = visibleAscii(uriBytes!);
  if (uri === undefined) return refusal('san-encoding', 'the URI SAN holds NUL, space, control or non-ASCII bytes');
  const id = parseSpiffeId(uri);
  if (id === undefined) return refusal('spiffe-id-invalid', `the URI SAN ${JSON.stringify(uri.slice(0, 200))} is not a valid SPIFFE ID`);
  if (id.trustDomain !== trustDomain) return refusal('trust-domain', `the peer is in trust domain ${id.trustDomain}, not ${trustDomain}`);

  const kuExt = find(OID.keyUsage);
  const ku = kuExt === undefined ? undefined : readKeyUsage(kuExt.value);
  if (ku === undefined) return refusal('key-usage', kuExt === undefined ? 'the peer certificate has no keyUsage' : 'keyUsage does not parse');
  if ((ku & KeyUsage.digitalSignature) === 0) return refusal('key-usage', 'keyUsage lacks digitalSignature');
  if ((ku & (KeyUsage.keyCertSign | KeyUsage.cRLSign)) !== 0) return refusal('key-usage', 'keyUsage of a leaf must not include keyCertSign or cRLSign');

  const ekuExt = find(OID.extKeyUsage);
  const eku = ekuExt === undefined ? undefined : readOidSequence(ekuExt.value);
  if (eku === undefined) return refusal('eku', ekuExt === undefined ? 'the peer certificate has no extKeyUsage' : 'extKeyUsage does not parse');
  const wanted = role === 'server' ? OID.serverAuth : OID.clientAuth;
  if (!eku.includes(wanted)) return refusal('eku', `extKeyUsage lacks ${role === 'server' ? 'serverAuth' : 'clientAuth'}`);

  return { ok: true, id: id.id, service: serviceOf(id, trustDomain) };
}
