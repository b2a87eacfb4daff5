/**
 * Inbound mTLS for the application's own HTTP servers (hooked by init()):
 * each server gets a connection acceptor (permissive-listener.ts) the first
 * time a connection arrives while mTLS is in force. With a service port
 * configured, only the server on that port is the mesh's; other servers in
 * the process (an admin page, a test backend) are left alone. gRPC servers
 * (grpc/inbound-security.ts) use a gate of their own, for `h2`.
 */
import type { Server as NetServer } from 'node:net';
import type { InboundConnectionGate } from '../transports/node-http/server-hook.ts';
import type { MeshMtls } from './mesh-mtls.ts';
import type { PeerRefusalReason } from './peer-verify.ts';
import { createMeshTlsAcceptor } from './permissive-listener.ts';
import type { MeshTlsAcceptor } from './permissive-listener.ts';

export interface InboundMtlsGate {
  readonly gate: InboundConnectionGate;
  /** Stops every acceptor (their TLS servers and rotation listeners). */
  close(): void;
}

export interface InboundMtlsGateOptions {
  readonly port?: number;
  /** What the servers behind speak (permissive-listener.ts); default `http/1.1`. */
  readonly protocol?: 'http/1.1' | 'h2';
  readonly onRefused?: (reason: PeerRefusalReason, message: string) => void;
}

export function createInboundMtlsGate(mtls: MeshMtls, options: InboundMtlsGateOptions): InboundMtlsGate {
  const acceptors = new Map<NetServer, MeshTlsAcceptor>();
  const others = new WeakSet<NetServer>();
  const mode = (): 'permissive' | 'strict' => (mtls.inbound() === 'strict' ? 'strict' : 'permissive');
  const gate: InboundConnectionGate = (server, socket, handOver) => {
    if (!mtls.active || others.has(server)) return false;
    let acceptor = acceptors.get(server);
    if (acceptor === undefined) {
      if (options.port !== undefined) {
        const address = server.address();
        if (address === null || typeof address === 'string' || address.port !== options.port) {
          others.add(server);
          return false;
        }
      }
      const svids = mtls.svids!;
      acceptor = createMeshTlsAcceptor(handOver, {
        mode,
        svids,
        ...(options.protocol !== undefined ? { protocol: options.protocol } : {}),
        ...(options.onRefused !== undefined ? { onRefused: options.onRefused } : {}),
      });
      acceptors.set(server, acceptor);
      server.once('close', () => {
        acceptors.get(server)?.close();
        acceptors.delete(server);
      });
    }
    acceptor.accept(socket);
    return true;
  };
  return {
    gate,
    close() {
      for (const a of acceptors.values()) a.close();
      acceptors.clear();
    },
  };
}
