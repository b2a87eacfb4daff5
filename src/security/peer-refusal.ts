/**
 * The part of peer verification the mesh needs without verifying anything:
 * the reasons a peer is refused (metrics are labelled with all of them from
 * the start), the error a refusal becomes, and a presented chain as DER.
 * peer-verify.ts, with its X.509 parser, loads only when mTLS is in use.
 */
import type { PeerCertificate } from 'node:tls';
import { EnmeshError } from '../errors.ts';

export type PeerRefusalReason =
  | 'no-certificate'
  | 'malformed'
  | 'untrusted'
  | 'chain-invalid'
  | 'expired'
  | 'not-yet-valid'
  | 'ca-as-leaf'
  | 'key-usage'
  | 'eku'
  | 'san-missing'
  | 'san-no-uri'
  | 'san-multiple-uri'
  | 'san-unexpected-type'
  | 'san-encoding'
  | 'spiffe-id-invalid'
  | 'trust-domain'
  | 'unexpected-identity'
  | 'tls-unauthorized'
  | 'plaintext'
  | 'svid-unavailable';

export const PEER_REFUSAL_REASONS: readonly PeerRefusalReason[] = Object.freeze([
  'no-certificate', 'malformed', 'untrusted', 'chain-invalid', 'expired', 'not-yet-valid', 'ca-as-leaf', 'key-usage', 'eku',
  'san-missing', 'san-no-uri', 'san-multiple-uri', 'san-unexpected-type', 'san-encoding', 'spiffe-id-invalid', 'trust-domain',
  'unexpected-identity', 'tls-unauthorized', 'plaintext', 'svid-unavailable',
] as const);

/** The longest chain a peer may present (leaf, intermediates, root). */
export const MAX_CHAIN_LENGTH = 5;

/** An `ENMESH_ERR_PEER_IDENTITY` error for a refusal; `reason` is also on the error. */
export function peerError(r: { readonly reason: PeerRefusalReason; readonly message: string }): EnmeshError & { reason: PeerRefusalReason } {
  return Object.assign(new EnmeshError('ENMESH_ERR_PEER_IDENTITY', `peer refused (${r.reason}): ${r.message}`), { reason: r.reason });
}

/** DER of a TLS peer's certificate chain, leaf first (as `getPeerCertificate(true)` gives it). */
export function peerChain(cert: PeerCertificate | Record<string, never> | null | undefined): Uint8Array[] {
  const out: Uint8Array[] = [];
  let c = cert as (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined;
  while (c?.raw !== undefined && out.length <= MAX_CHAIN_LENGTH) {
    out.push(c.raw);
    const next = c.issuerCertificate;
    if (next === undefined || next === c || next.raw === undefined || next.raw.equals(c.raw)) break;
    c = next;
  }
  return out;
}
