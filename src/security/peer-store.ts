/**
 * Which verified peer is at the other end of a connection: set once when
 * the mTLS handshake has been verified, read per request (`mesh.peer(req)`).
 * Kept in a WeakMap so it goes away with the socket.
 */
import type { PeerIdentity } from './peer-verify.ts';

const peers = new WeakMap<object, PeerIdentity>();

export function recordPeer(socket: object, identity: PeerIdentity): void {
  peers.set(socket, identity);
}

/**
 * The verified identity of the peer of a request (`IncomingMessage`, via its
 * socket) or of a socket; undefined for plaintext or unverified connections.
 */
export function peerOf(target: { readonly socket?: object | null } | object | null | undefined): PeerIdentity | undefined {
  if (target === null || target === undefined) return undefined;
  const direct = peers.get(target);
  if (direct !== undefined) return direct;
  const socket = (target as { readonly socket?: object | null }).socket;
  return socket === null || socket === undefined ? undefined : peers.get(socket);
}
