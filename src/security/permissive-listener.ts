/**
 * Inbound mTLS on the port the application already listens on.
 *
 * {@link attachMeshTls} takes over an `http.Server`'s connections: it reads
 * the first byte of each one; 0x16 (a TLS handshake record) goes through a
 * private `tls.Server` that asks for the client's certificate, and the
 * decrypted socket is handed to the HTTP server only once the peer verified
 * as an SVID (peer-verify.ts); anything else is plaintext HTTP.
 *
 * - `permissive`: mTLS and plaintext on the same port (migration; Istio's
 *   PERMISSIVE). Plaintext requests have no peer identity.
 * - `strict`: plaintext connections are closed and counted (`plaintext`).
 *
 * A TLS connection is refused, and counted by reason, when this process has
 * no valid SVID (`svid-unavailable`: fail closed) or the client's
 * certificate is missing or not an acceptable SVID. The verified identity is
 * recorded for `peerOf(req)`.
 *
 * The application keeps calling `server.listen()`; certificates rotate under
 * it (`setSecureContext`) without touching established connections.
 *
 * The sorting ({@link createMeshTlsAcceptor}) works on any `net.Server`'s
 * connections: gRPC servers (HTTP/2 over plaintext, with the decrypted
 * socket handed to the same listener) use it too.
 */
import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { ExpectedPeer, PeerRefusalReason, PeerVerifier } from './peer-verify.ts';
import { recordPeer } from './peer-store.ts';
import type { SvidManager } from './svid-manager.ts';

/** The first byte of a TLS record carrying a handshake (RFC 8446 §5.1, ContentType handshake). */
export const TLS_HANDSHAKE_BYTE = 0x16;

export type InboundMtlsMode = 'permissive' | 'strict';

export interface MeshTlsOptions {
  /** Fixed, or read per connection (a config reload may change it). */
  readonly mode: InboundMtlsMode | (() => InboundMtlsMode);
  readonly svids: Pick<SvidManager, 'ready' | 'contextOptions' | 'attachServer' | 'verifier'>;
  /** Which client identities may connect at all (authorization decides per request). Default: any SVID of our trust domain. */
  readonly expectedPeer?: ExpectedPeer;
  /** How long a new connection may stay silent before its first byte. Default 10 s. */
  readonly sniffTimeoutMs?: number;
  /**
   * What the server behind speaks: `http/1.1` (default) or `h2` (gRPC). It is
   * the TLS side's ALPN, and decides how a plaintext socket is handed over:
   * an HTTP/1 server needs it flowing again, an HTTP/2 session reads the
   * bytes put back itself and loses them if the socket flows first.
   */
  readonly protocol?: 'http/1.1' | 'h2';
  /** Called for every refused connection. */
  readonly onRefused?: (reason: PeerRefusalReason, message: string) => void;
}

export interface MeshTls {
  /** The TLS server handshakes go through (for tests and metrics). */
  readonly tlsServer: TlsServer;
  readonly verifier: PeerVerifier;
  /** Gives the HTTP server its own connection handling back. */
  detach(): void;
}

/** Sorts the connections of one server into mTLS and plaintext; what is accepted goes to `handOver`. */
export interface MeshTlsAcceptor {
  readonly tlsServer: TlsServer;
  readonly verifier: PeerVerifier;
  /** Takes a new raw connection. */
  accept(socket: Socket): void;
  close(): void;
}

type ConnectionListener = (this: HttpServer, socket: Socket) => void;

/**
 * The connection sorting on its own, for servers whose connections arrive
 * some other way than a `connection` listener (the server hook of init()).
 */
export function createMeshTlsAcceptor(handOver: (socket: Socket) => void, options: MeshTlsOptions): MeshTlsAcceptor {
  const verifier = options.svids.verifier;
  const sniffTimeoutMs = options.sniffTimeoutMs ?? 10_000;
  const protocol = options.protocol ?? 'http/1.1';
  const resumeOnHandOver = protocol === 'http/1.1';
  const modeOf = typeof options.mode === 'function' ? options.mode : ((m) => () => m)(options.mode);
  const refuse = (socket: Socket, reason: PeerRefusalReason, message: string): void => {
    verifier.count(reason);
    options.onRefused?.(reason, message);
    socket.destroy();
  };

  const tlsServer = createTlsServer({
    requestCert: true,
    // Verified on 'secureConnection' with a reason per refusal; OpenSSL's verdict (socket.authorized) is required there too.
    rejectUnauthorized: false,
    ALPNProtocols: [protocol],
    minVersion: 'TLSv1.2',
  });
  const detachRotation = options.svids.attachServer(tlsServer);
  tlsServer.on('secureConnection', (tls: TLSSocket) => {
    const r = verifier.verifyTlsSocket(tls, 'client', options.expectedPeer);
    if (!r.ok) {
      options.onRefused?.(r.reason, r.message);
      tls.destroy();
      return;
    }
    recordPeer(tls, r.identity);
    handOver(tls);
  });
  // Handshake failures (no shared cipher, garbage, a client that gave up) are the client's problem; keep the server alive.
  tlsServer.on('tlsClientError', (_err, tls) => tls.destroy());

  const accept = (socket: Socket): void => {
    const timer = setTimeout(() => socket.destroy(), sniffTimeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', cleanup);
      socket.off('error', cleanup);
    };
    const onData = (chunk: Buffer): void => {
      cleanup();
      // Put the byte(s) back: whoever takes the socket next reads them first.
      socket.pause();
      socket.unshift(chunk);
      if (chunk[0] === TLS_HANDSHAKE_BYTE) {
        if (!options.svids.ready) {
          refuse(socket, 'svid-unavailable', 'this workload has no valid certificate: refusing mTLS');
          return;
        }
        tlsServer.emit('connection', socket);
      } else if (modeOf() === 'strict') {
        refuse(socket, 'plaintext', `plaintext connection from ${socket.remoteAddress ?? '?'} refused: mTLS is strict`);
      } else {
        handOver(socket);
        if (resumeOnHandOver) socket.resume();
      }
    };
    socket.on('data', onData);
    socket.once('close', cleanup);
    socket.once('error', cleanup);
  };

  let open = true;
  return {
    tlsServer,
    verifier,
    accept,
    close() {
      if (!open) return;
      open = false;
      detachRotation();
      tlsServer.close();
    },
  };
}

export function attachMeshTls(server: HttpServer, options: MeshTlsOptions): MeshTls {
  const originals = server.listeners('connection') as ConnectionListener[];
  const acceptor = createMeshTlsAcceptor((socket) => {
    for (const l of originals) l.call(server, socket);
  }, options);
  const onConnection = (socket: Socket): void => acceptor.accept(socket);
  server.removeAllListeners('connection');
  server.on('connection', onConnection);
  let attached = true;
  return {
    tlsServer: acceptor.tlsServer,
    verifier: acceptor.verifier,
    detach() {
      if (!attached) return;
      attached = false;
      server.off('connection', onConnection);
      for (const l of originals) server.on('connection', l);
      acceptor.close();
    },
  };
}
