/**
 * Checks a workload's certificate signing request before anything is signed.
 *
 * The CA copies nothing from a CSR but its public key: every extension of
 * the SVID is the CA's own. The request is still read closely, because a
 * CSR that asks for more than the caller's identity is an attack, not a
 * typo (CVE-2022-40716 class: a second URI SAN slipping past a check that
 * looked at the first one only). Refused:
 * - a CSR that does not parse, or whose self-signature does not verify
 *   (no proof the caller holds the private key);
 * - keys other than EC P-256/P-384 or RSA 2048..4096;
 * - anything but exactly one SAN extension holding exactly one URI, equal
 *   byte for byte to the SPIFFE ID the caller's credential names;
 * - a request for a CA certificate.
 */
import { createPublicKey } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { OID, readGeneralNames, visibleAscii } from '../../security/x509.ts';

export type CsrRefusal =
  | 'csr-malformed'
  | 'csr-signature'
  | 'csr-key'
  | 'csr-san-missing'
  | 'csr-san-multiple'
  | 'csr-san-type'
  | 'csr-san-encoding'
  | 'csr-identity-mismatch'
  | 'csr-requests-ca';

export type CsrCheck =
  | { readonly ok: true; readonly publicKey: x509.PublicKey; readonly rsa: boolean }
  | { readonly ok: false; readonly reason: CsrRefusal; readonly message: string };

/** Largest CSR accepted, in PEM characters; a P-256 CSR is about 500. */
export const MAX_CSR_LENGTH = 16 * 1024;

const refuse = (reason: CsrRefusal, message: string): CsrCheck => ({ ok: false, reason, message });

/** Checks that `csrPem` asks for exactly `expectedId` and proves possession of an acceptable key. */
export async function checkCsr(csrPem: string, expectedId: string): Promise<CsrCheck> {
  if (typeof csrPem !== 'string' || csrPem.length > MAX_CSR_LENGTH) return refuse('csr-malformed', 'the CSR is missing or larger than 16 KiB');
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    return refuse('csr-malformed', `the CSR does not parse: ${(err as Error).message}`);
  }

  let key;
  try {
    key = createPublicKey({ key: Buffer.from(csr.publicKey.rawData), format: 'der', type: 'spki' });
  } catch (err) {
    return refuse('csr-key', `the CSR's public key does not parse: ${(err as Error).message}`);
  }
  const details = key.asymmetricKeyDetails ?? {};
  const rsa = key.asymmetricKeyType === 'rsa';
  const okKey = rsa
    ? (details.modulusLength ?? 0) >= 2048 && (details.modulusLength ?? 0) <= 4096
    : key.asymmetricKeyType === 'ec' && (details.namedCurve === 'prime256v1' || details.namedCurve === 'secp384r1');
  if (!okKey) {
    return refuse('csr-key', `unsupported key (${key.asymmetricKeyType} ${details.namedCurve ?? details.modulusLength ?? ''}); use EC P-256, P-384 or RSA 2048..4096`);
  }

  let signed = false;
  try {
    signed = await csr.verify();
  } catch {
    signed = false;
  }
  if (!signed) return refuse('csr-signature', 'the CSR signature does not verify with its own public key');

  // Extensions as requested, across every extensionRequest attribute (there should be one).
  const requests = csr.attributes.filter((a) => a.type === OID.extensionRequest);
  if (requests.length > 1) return refuse('csr-malformed', 'the CSR carries more than one extensionRequest attribute');
  const extensions = csr.extensions;
  const seen = new Set<string>();
  for (const ext of extensions) {
    if (seen.has(ext.type)) return refuse(ext.type === OID.subjectAltName ? 'csr-san-multiple' : 'csr-malformed', `the CSR requests extension ${ext.type} twice`);
    seen.add(ext.type);
    if (ext.type === OID.basicConstraints && new x509.BasicConstraintsExtension(ext.rawData).ca) {
      return refuse('csr-requests-ca', 'the CSR asks for a CA certificate; workloads get leaf certificates only');
    }
  }
  const san = extensions.find((e) => e.type === OID.subjectAltName);
  if (san === undefined) return refuse('csr-san-missing', `the CSR has no subjectAltName; it must carry exactly one URI SAN, ${expectedId}`);
  const names = readGeneralNames(new Uint8Array(san.value));
  if (names === undefined) return refuse('csr-malformed', 'the CSR subjectAltName is not valid DER');
  const uris = names.filter((n) => n.kind === 'uri');
  if (uris.length > 1) return refuse('csr-san-multiple', `the CSR carries ${uris.length} URI SANs; exactly one is allowed`);
  if (names.length !== uris.length) {
    const others = [...new Set(names.filter((n) => n.kind !== 'uri').map((n) => n.kind))].join(', ');
    return refuse('csr-san-type', `the CSR carries SANs other than the one URI (${others}); only the SPIFFE ID is allowed`);
  }
  if (uris.length === 0) return refuse('csr-san-missing', `the CSR subjectAltName has no URI; it must be exactly ${expectedId}`);
  const uri = visibleAscii(uris[0]!.bytes);
  if (uri === undefined) return refuse('csr-san-encoding', 'the CSR URI SAN contains NUL, space, control or non-ASCII bytes');
  if (uri !== expectedId) return refuse('csr-identity-mismatch', `the CSR asks for ${uri} but the credential is for ${expectedId}`);
  return { ok: true, publicKey: csr.publicKey, rsa };
}
