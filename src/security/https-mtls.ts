/**
 * Inbound mTLS for an application's own `https.Server` on the service's
 * port. Such a server terminates TLS itself, so the mesh cannot sort its
 * connections by their first byte as it does for `http.Server`
 * (permissive-listener.ts); instead, while mTLS is in force, the server
 * itself becomes the mesh's TLS endpoint, as a workload that terminates TLS
 * does behind Istio's mTLS:
 *
 * - it presents this workload's SVID instead of the application's
 *   certificate (mesh clients dial the endpoint with mTLS and accept nothing
 *   but the service's SVID), rotated with `setSecureContext`;
 * - it asks every client for a certificate; one that presents a certificate
 *   must present an acceptable SVID (peer-verify.ts), else the connection is
 *   closed and counted by reason, and the verified identity is recorded for
 *   `mesh.peer(req)`;
 * - a client without a certificate is served without a peer identity under
 *   `permissive` (as plaintext is on an `http.Server`), and refused
 *   (`no-certificate`) under `strict`;
 * - without a valid SVID of its own (expired, CA down) new connections are
 *   refused (`svid-unavailable`): fail closed.
 *
 * When mTLS stops being in force (`mtls: disabled`) or the mesh closes, the
 * application's own certificate and client-certificate settings come back.
 * Servers on other ports are never touched.
 */
import type { Server as HttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { SecureContext, TLSSocket } from 'node:tls';
import type { MeshMtls } from './mesh-mtls.ts';
import { recordPeer } from './peer-store.ts';
import type { PeerRefusalReason } from './peer-verify.ts';

export interface HttpsMtlsGate {
  /** A new raw connection of an https server, before its TLS handshake; true: refused (destroyed). */
  connection(server: HttpsServer, socket: Socket): boolean;
  /** A finished handshake, before HTTP sees the socket; true: refused (destroyed). */
  secureConnection(server: HttpsServer, socket: TLSSocket): boolean;
  /** Gives every server its own certificate back. */
  close(): void;
}

export interface HttpsMtlsOptions {
  /** The service's port: only an https server listening on it is armed. */
  readonly port: number;
  readonly onRefused?: (reason: PeerRefusalReason, message: string) => void;
}

/** What tls.Server reads per new connection (Node's `_sharedCreds`: the context set by setSecureContext). */
type TlsServerState = HttpsServer & { _sharedCreds?: SecureContext; requestCert?: boolean; rejectUnauthorized?: boolean };

interface Armed {
  readonly sharedCreds: SecureContext | undefined;
  readonly requestCert: boolean | undefined;
  readonly rejectUnauthorized: boolean | undefined;
  readonly detachRotation: () => void;
}

export function createHttpsMtlsGate(mtls: MeshMtls, options: HttpsMtlsOptions): HttpsMtlsGate {
  const armed = new Map<HttpsServer, Armed>();
  const others = new WeakSet<HttpsServer>();

  const refuse = (socket: Socket, reason: PeerRefusalReason, message: string): true => {
    mtls.svids?.verifier.count(reason);
    options.onRefused?.(reason, message);
    socket.destroy();
    return true;
  };

  const disarm = (server: HttpsServer): void => {
    const a = armed.get(server);
    if (a === undefined) return;
    armed.delete(server);
    a.detachRotation();
    const s = server as TlsServerState;
    if (a.sharedCreds !== undefined) s._sharedCreds = a.sharedCreds;
    s.requestCert = a.requestCert;
    s.rejectUnauthorized = a.rejectUnauthorized;
  };

  const arm = (server: HttpsServer): void => {
    const s = server as TlsServerState;
    const svids = mtls.svids!;
    const saved: Armed = {
      sharedCreds: s._sharedCreds,
      requestCert: s.requestCert,
      rejectUnauthorized: s.rejectUnauthorized,
      // Sets the SVID now and after every rotation or trust bundle change.
      detachRotation: svids.attachServer(server),
    };
    armed.set(server, saved);
    // Read by tls.Server for each new connection: ask for the client's certificate, judge it ourselves.
    s.requestCert = true;
    s.rejectUnauthorized = false;
    server.once('close', () => disarm(server));
  };

  const isServicePort = (server: HttpsServer): boolean => {
    if (others.has(server)) return false;
    const address = server.address();
    if (address === null || typeof address === 'string' || address.port !== options.port) {
      others.add(server);
      return false;
    }
    return true;
  };

  return {
    connection(server, socket) {
      if (!mtls.active) {
        if (armed.size > 0) disarm(server);
        return false;
      }
      if (!armed.has(server)) {
        if (!isServicePort(server)) return false;
        if (!mtls.svids!.ready) return refuse(socket, 'svid-unavailable', 'this workload has no valid certificate: refusing mTLS');
        arm(server);
      } else if (!mtls.svids!.ready) {
        return refuse(socket, 'svid-unavailable', 'this workload has no valid certificate: refusing mTLS');
      }
      return false;
    },

    secureConnection(server, socket) {
      if (!armed.has(server)) return false;
      const svids = mtls.svids!;
      // No certificate at all: a client outside the mesh. Permissive serves it without an identity.
      if (socket.getPeerCertificate().raw === undefined && mtls.inbound() !== 'strict') return false;
      const r = svids.verifier.verifyTlsSocket(socket, 'client');
      if (!r.ok) {
        options.onRefused?.(r.reason, r.message);
        socket.destroy();
        return true;
      }
      recordPeer(socket, r.identity);
      return false;
    },

    close() {
      for (const server of [...armed.keys()]) disarm(server);
    },
  };
}
