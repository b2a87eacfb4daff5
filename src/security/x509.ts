/**
 * Small X.509 helpers shared by the CA, the SVID manager and peer
 * verification: PEM <-> DER, key generation and export, and an exact reader
 * for GeneralNames (SAN) that sees the encoded bytes, so a NUL or a
 * non-ASCII byte in a URI can't be hidden by a lenient string decoder.
 */
import { webcrypto } from 'node:crypto';

/** WebCrypto key types (node:crypto's; the global names are values only in Node's typings). */
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

export const OID = Object.freeze({
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  nameConstraints: '2.5.29.30',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  extensionRequest: '1.2.840.113549.1.9.14',
});

/** ECDSA P-256 with SHA-256: the key and signature algorithm of every key enmesh generates. */
export const EC_P256 = Object.freeze({ name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' });

/** A fresh EC P-256 key pair. Extractable so the holder can hand the PEM to node:tls; it never leaves the process. */
export function generateKeyPair(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
}

/** PKCS#8 PEM of a private key. */
export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = new Uint8Array(await webcrypto.subtle.exportKey('pkcs8', key));
  return derToPem(der, 'PRIVATE KEY');
}

export function derToPem(der: Uint8Array | ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** DER bodies of the PEM blocks labelled `label` in `pem`, in order. */
export function pemToDers(pem: string, label = 'CERTIFICATE'): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of pem.matchAll(PEM_BLOCK)) {
    if (m[1] === label) out.push(new Uint8Array(Buffer.from(m[2]!.replace(/\s+/g, ''), 'base64')));
  }
  return out;
}

/** The PEM blocks labelled `label`, each re-encoded canonically. */
export function splitPem(pem: string, label = 'CERTIFICATE'): string[] {
  return pemToDers(pem, label).map((d) => derToPem(d, label));
}

// ---- GeneralNames -----------------------------------------------------------

export type GeneralNameKind = 'other' | 'email' | 'dns' | 'x400' | 'directory' | 'edi' | 'uri' | 'ip' | 'registered-id';

const KIND_BY_TAG: readonly GeneralNameKind[] = ['other', 'email', 'dns', 'x400', 'directory', 'edi', 'uri', 'ip', 'registered-id'];

export interface GeneralNameEntry {
  readonly kind: GeneralNameKind;
  /** The encoded value bytes, exactly as in the certificate. */
  readonly bytes: Uint8Array;
}

interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

/** One DER TLV at `off`, or undefined when malformed (long tags, indefinite or non-minimal lengths, overruns). */
function readTlv(b: Uint8Array, off: number, limit: number): Tlv | undefined {
  if (off + 2 > limit) return undefined;
  const tag = b[off]!;
  if ((tag & 0x1f) === 0x1f) return undefined;
  let len = b[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || p + n > limit || b[p] === 0) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + b[p++]!;
    if (len < 0x80) return undefined;
  }
  if (p + len > limit) return undefined;
  return { tag, start: p, end: p + len };
}

/**
 * Reads a DER `GeneralNames` (the value of a SAN extension). Undefined when
 * the encoding is not strict DER or has trailing bytes.
 */
export function readGeneralNames(der: Uint8Array): GeneralNameEntry[] | undefined {
  const seq = readTlv(der, 0, der.length);
  if (seq === undefined || seq.tag !== 0x30 || seq.end !== der.length) return undefined;
  const out: GeneralNameEntry[] = [];
  for (let off = seq.start; off < seq.end; ) {
    const t = readTlv(der, off, seq.end);
    if (t === undefined || (t.tag & 0xc0) !== 0x80) return undefined;
    const n = t.tag & 0x1f;
    const kind = KIND_BY_TAG[n];
    if (kind === undefined) return undefined;
    // IA5String and OCTET STRING choices are primitive; the rest are constructed.
    const constructed = (t.tag & 0x20) !== 0;
    if (constructed !== (kind === 'other' || kind === 'x400' || kind === 'directory' || kind === 'edi')) return undefined;
    out.push({ kind, bytes: der.subarray(t.start, t.end) });
    off = t.end;
  }
  return out;
}

/** The bytes as a string when every one is visible ASCII (0x21..0x7e); undefined otherwise (NUL, space, controls, non-ASCII). */
export function visibleAscii(bytes: Uint8Array): string | undefined {
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (c < 0x21 || c > 0x7e) return undefined;
    s += String.fromCharCode(c);
  }
  return s;
}

/** A random positive serial number (16 bytes, hex) as RFC 5280 §4.1.2.2 asks: unpredictable, at most 20 octets. */
export function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0]! & 0x7f) | 0x40; // positive, and no leading zero byte to strip
  return Buffer.from(b).toString('hex');
}

// ---- certificate extensions, read straight from DER -----------------------------

export interface RawExtension {
  readonly oid: string;
  readonly critical: boolean;
  /** The extnValue contents (the extension's own DER). */
  readonly value: Uint8Array;
}

/** Key usage bits as flags: bit n of the BIT STRING is `1 << n` (digitalSignature = 1, keyCertSign = 32). */
export const KeyUsage = Object.freeze({
  digitalSignature: 1,
  nonRepudiation: 2,
  keyEncipherment: 4,
  dataEncipherment: 8,
  keyAgreement: 16,
  keyCertSign: 32,
  cRLSign: 64,
  encipherOnly: 128,
  decipherOnly: 256,
});

/** Dotted form of DER OBJECT IDENTIFIER contents; undefined when malformed. */
export function decodeOid(b: Uint8Array): string | undefined {
  if (b.length === 0 || (b[b.length - 1]! & 0x80) !== 0) return undefined;
  const arcs: number[] = [];
  let v = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (v === 0 && c === 0x80) return undefined; // non-minimal
    v = v * 128 + (c & 0x7f);
    if (v > Number.MAX_SAFE_INTEGER / 128) return undefined;
    if ((c & 0x80) === 0) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    }
  }
  return arcs.join('.');
}

/**
 * The extensions of a DER certificate, in order; undefined when the
 * structure is not strict DER. Duplicates are kept (the caller refuses them).
 */
export function readExtensions(cert: Uint8Array): RawExtension[] | undefined {
  const outer = readTlv(cert, 0, cert.length);
  if (outer === undefined || outer.tag !== 0x30 || outer.end !== cert.length) return undefined;
  const tbs = readTlv(cert, outer.start, outer.end);
  if (tbs === undefined || tbs.tag !== 0x30) return undefined;
  let off = tbs.start;
  let exts: Tlv | undefined;
  while (off < tbs.end) {
    const t = readTlv(cert, off, tbs.end);
    if (t === undefined) return undefined;
    if (t.tag === 0xa3) exts = t;
    off = t.end;
  }
  if (exts === undefined) return [];
  const seq = readTlv(cert, exts.start, exts.end);
  if (seq === undefined || seq.tag !== 0x30 || seq.end !== exts.end) return undefined;
  const out: RawExtension[] = [];
  for (let p = seq.start; p < seq.end; ) {
    const ext = readTlv(cert, p, seq.end);
    if (ext === undefined || ext.tag !== 0x30) return undefined;
    const id = readTlv(cert, ext.start, ext.end);
    if (id === undefined || id.tag !== 0x06) return undefined;
    const oid = decodeOid(cert.subarray(id.start, id.end));
    if (oid === undefined) return undefined;
    let q = id.end;
    let critical = false;
    let t = readTlv(cert, q, ext.end);
    if (t !== undefined && t.tag === 0x01) {
      // DER encodes the default (FALSE) by omission, and TRUE as 0xff.
      if (t.end - t.start !== 1 || cert[t.start] !== 0xff) return undefined;
      critical = true;
      q = t.end;
      t = readTlv(cert, q, ext.end);
    }
    if (t === undefined || t.tag !== 0x04 || t.end !== ext.end) return undefined;
    out.push({ oid, critical, value: cert.subarray(t.start, t.end) });
    p = ext.end;
  }
  return out;
}

/** basicConstraints: `{ ca, pathLen }`; undefined when malformed. */
export function readBasicConstraints(v: Uint8Array): { ca: boolean; pathLen: number | undefined } | undefined {
  const seq = readTlv(v, 0, v.length);
  if (seq === undefined || seq.tag !== 0x30 || seq.end !== v.length) return undefined;
  let ca = false;
  let pathLen: number | undefined;
  let p = seq.start;
  let t = p < seq.end ? readTlv(v, p, seq.end) : undefined;
  if (t !== undefined && t.tag === 0x01) {
    if (t.end - t.start !== 1 || v[t.start] !== 0xff) return undefined;
    ca = true;
    p = t.end;
    t = p < seq.end ? readTlv(v, p, seq.end) : undefined;
  }
  if (t !== undefined) {
    if (t.tag !== 0x02 || t.end - t.start > 4 || t.end !== seq.end || (v[t.start]! & 0x80) !== 0) return undefined;
    pathLen = 0;
    for (let i = t.start; i < t.end; i++) pathLen = pathLen * 256 + v[i]!;
  } else if (p !== seq.end) {
    return undefined;
  }
  return { ca, pathLen };
}

/** keyUsage as {@link KeyUsage} flags; undefined when malformed. */
export function readKeyUsage(v: Uint8Array): number | undefined {
  const t = readTlv(v, 0, v.length);
  if (t === undefined || t.tag !== 0x03 || t.end !== v.length || t.end - t.start < 1 || t.end - t.start > 3) return undefined;
  const unused = v[t.start]!;
  if (unused > 7) return undefined;
  let flags = 0;
  for (let i = 0; i < (t.end - t.start - 1) * 8; i++) {
    if ((v[t.start + 1 + (i >> 3)]! & (0x80 >> (i & 7))) !== 0) flags |= 1 << i;
  }
  return flags;
}

/** A SEQUENCE OF OBJECT IDENTIFIER (extKeyUsage); undefined when malformed. */
export function readOidSequence(v: Uint8Array): string[] | undefined {
  const seq = readTlv(v, 0, v.length);
  if (seq === undefined || seq.tag !== 0x30 || seq.end !== v.length) return undefined;
  const out: string[] = [];
  for (let p = seq.start; p < seq.end; ) {
    const t = readTlv(v, p, seq.end);
    if (t === undefined || t.tag !== 0x06) return undefined;
    const oid = decodeOid(v.subarray(t.start, t.end));
    if (oid === undefined) return undefined;
    out.push(oid);
    p = t.end;
  }
  return out;
}
