/**
 * Which verified peer is at the other end of a connection: set once when
 * the mTLS handshake has been verified, read per request (`mesh.peer(req)`).
 * Kept in a WeakMap so it goes away with the socket.
 *
 * gRPC calls reach the application as grpc-js call objects the mesh never
 * holds; for them the identity verified for the caller's certificate is
 * looked up by the certificate's fingerprint (`call.getAuthContext()`).
 */
import type { PeerIdentity } from './peer-verify.ts';

const peers = new WeakMap<object, PeerIdentity>();
/** Certificate SHA-256 fingerprint → identity; bounded (a mesh has few live certificates). */
const byCertificate = new Map<string, PeerIdentity>();
const MAX_CERTIFICATES = 4096;

export function recordPeer(socket: object, identity: PeerIdentity): void {
  peers.set(socket, identity);
}

/** Remembers the identity a certificate verified as (gRPC callers). */
export function recordPeerCertificate(fingerprint256: string, identity: PeerIdentity): void {
  if (byCertificate.get(fingerprint256) === identity) return;
  if (byCertificate.size >= MAX_CERTIFICATES) byCertificate.clear();
  byCertificate.set(fingerprint256, identity);
}

export type PeerTarget = { readonly socket?: object | null } | object | null | undefined;

type WithAuthContext = { getAuthContext?(): { sslPeerCertificate?: { fingerprint256?: string } } | undefined };

/**
 * The verified identity of the peer of a request (`IncomingMessage`, via its
 * socket), a socket, or a gRPC server call; undefined for plaintext or
 * unverified connections, and once the certificate has expired.
 */
export function peerOf(target: PeerTarget): PeerIdentity | undefined {
  if (target === null || target === undefined) return undefined;
  const direct = peers.get(target);
  if (direct !== undefined) return direct;
  const socket = (target as { readonly socket?: object | null }).socket;
  if (socket !== null && socket !== undefined) return peers.get(socket);
  const getAuthContext = (target as WithAuthContext).getAuthContext;
  if (typeof getAuthContext !== 'function') return undefined;
  const fingerprint = getAuthContext.call(target)?.sslPeerCertificate?.fingerprint256;
  const identity = fingerprint === undefined ? undefined : byCertificate.get(fingerprint);
  return identity !== undefined && identity.notAfter > Date.now() ? identity : undefined;
}
