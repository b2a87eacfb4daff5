/**
 * Inbound security of grpc-js servers, the gRPC adapter of the same policy
 * HTTP servers get:
 *
 * - **mTLS**: a server binding this service's port with insecure credentials
 *   after init() keeps listening itself, and the mesh sorts its connections
 *   as it does for HTTP servers (security/inbound-mtls.ts): a TLS handshake
 *   gets this workload's SVID (ALPN h2, client certificate required and
 *   verified as an SVID, rotated with `setSecureContext`) and the decrypted
 *   socket goes to grpc-js; plaintext goes to grpc-js as it is under
 *   `permissive`, and is closed and counted under `strict`. grpc-js's own TLS
 *   is not used: it serves a port either with TLS or without, and it would
 *   check callers against the bundle only, not as SVIDs, at the handshake.
 * - **checks before the handler**: the caller's certificate is verified as an
 *   SVID (`mesh.peer(call)` is then its identity), then JWT authentication
 *   (metadata `authorization`) and authorization on the method path, the
 *   server-side rate limit, inbound faults and adaptive concurrency, as for
 *   HTTP (runtime/inbound-gate.ts): a refused call ends with a gRPC status
 *   and the application's handler never sees it. What a call holds (an
 *   adaptive-concurrency slot, a delay fault's slot) is given back when the
 *   call ends: its status is sent, or it is cancelled.
 */
import type { Server as NetServer, Socket } from 'node:net';
import type * as Grpc from '@grpc/grpc-js';
import type { GrpcAdmission, GrpcInboundRequest, GrpcRefusal } from '../../runtime/inbound-gate.ts';
import { GRPC_UNAUTHENTICATED } from '../../runtime/inbound-gate.ts';
import { createInboundMtlsGate } from '../../security/inbound-mtls.ts';
import type { MeshMtls } from '../../security/mesh-mtls.ts';
import { peerOf, recordPeer, recordPeerCertificate } from '../../security/peer-store.ts';
import type { PeerIdentity } from '../../security/peer-verify.ts';
import { peerChain } from '../../security/peer-refusal.ts';
import { loadGrpc } from './hook.ts';
import { RESPONSE_FLAGS_HEADER } from '../../policy/response-flags.ts';

export interface GrpcInboundSecurityOptions {
  readonly mtls: MeshMtls;
  /** This service's port: only servers bound to it are the mesh's. Absent: every server. */
  readonly port?: number;
  /** Admission of a call (inbound-gate.ts): undefined when there is nothing to check. */
  readonly admit: (call: GrpcInboundRequest) => GrpcAdmission | Promise<GrpcAdmission> | undefined;
  /** Told once when this grpc-js cannot be given mTLS (its ports then stay plaintext). */
  readonly onUnsupported?: (message: string) => void;
}

export interface GrpcInboundSecurity {
  /** The verified identity of a server call's caller (undefined: plaintext, or not an acceptable SVID). */
  callerOf(call: object): PeerIdentity | undefined;
  uninstall(): void;
}

type ServerCallLike = Grpc.ServerInterceptingCallInterface & {
  getConnectionInfo?(): { localPort?: number } | undefined;
};
type BindAsync = (this: Grpc.Server, port: string, creds: Grpc.ServerCredentials, callback: (error: Error | null, port: number) => void) => void;

/**
 * The listening sockets grpc-js opened for `port` (its HTTP/2 servers, kept
 * in the server's `http2Servers` map); undefined when this grpc-js keeps
 * them elsewhere.
 */
function listeningServers(server: Grpc.Server, port: number): NetServer[] | undefined {
  const all = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(all instanceof Map)) return undefined;
  const out: NetServer[] = [];
  for (const s of all.keys() as Iterable<NetServer>) {
    const address = typeof s.address === 'function' ? s.address() : null;
    if (address !== null && typeof address !== 'string' && address.port === port && s.listening) out.push(s);
  }
  return out;
}

export function installGrpcInboundSecurity(options: GrpcInboundSecurityOptions): GrpcInboundSecurity | undefined {
  const internals = loadGrpc();
  if (internals === undefined) return undefined;
  const { grpc, server } = internals;
  const { mtls } = options;

  /** The caller's SVID, verified; a refusal when it presented a certificate that is not one. */
  const verifyCaller = (call: ServerCallLike): PeerIdentity | GrpcRefusal | undefined => {
    const svids = mtls.svids;
    if (svids === undefined) return undefined;
    const cert = call.getAuthContext?.()?.sslPeerCertificate;
    if (cert === undefined || cert.raw === undefined) return undefined;
    // grpc-js shows the caller's leaf only: the verifier completes the path with our CA's intermediates.
    const r = svids.verifier.verifyChain(peerChain(cert), 'client');
    if (!r.ok) return { code: GRPC_UNAUTHENTICATED, details: `peer certificate refused (${r.reason})` };
    recordPeerCertificate(cert.fingerprint256, r.identity);
    return r.identity;
  };

  const admission: Grpc.ServerInterceptor = (methodDescriptor, call) => {
    /** What the admission let the call hold, given back once when the call ends. */
    let release: (() => void) | undefined;
    let cancelled = false;
    const end = (): void => {
      const r = release;
      release = undefined;
      r?.();
    };
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMd) {
            const c = call as ServerCallLike;
            if (options.port !== undefined) {
              const local = c.getConnectionInfo?.()?.localPort;
              // Another server in this process (a control plane, a test backend): not this service's.
              if (local !== undefined && local !== options.port) {
                nextMd(metadata);
                return;
              }
            }
            const caller = verifyCaller(c);
            const refuse = (r: GrpcRefusal): void => {
              const trailers = new grpc.Metadata();
              if (r.flags !== undefined) trailers.set(RESPONSE_FLAGS_HEADER, r.flags);
              if (r.retryAfterMs !== undefined) trailers.set('grpc-retry-pushback-ms', String(r.retryAfterMs));
              call.sendStatus({ code: r.code, details: r.details, metadata: trailers });
            };
            if (caller !== undefined && 'code' in caller) {
              refuse(caller);
              return;
            }
            if (caller !== undefined) recordPeer(call, caller);
            const admitted = (r: GrpcAdmission): void => {
              if (typeof r !== 'function') {
                if (!cancelled) refuse(r);
                return;
              }
              if (cancelled) {
                r();
                return;
              }
              release = r;
              nextMd(metadata);
            };
            const verdict = options.admit({
              method: methodDescriptor.path,
              peer: caller,
              get headers() {
                return metadataHeaders(metadata);
              },
              cancelled: () => cancelled,
            });
            if (verdict === undefined) nextMd(metadata);
            else if (verdict instanceof Promise) {
              // Messages that arrive meanwhile wait in grpc-js until the metadata is passed on.
              void verdict.then(admitted);
            } else admitted(verdict);
          },
          onCancel() {
            cancelled = true;
            end();
          },
        });
      },
      sendStatus(status, next) {
        end();
        next(status);
      },
    });
  };

  const originalGet = server.getServerInterceptingCall;
  // After the observer's own wrapper: [observer, admission, ...application's]; grpc-js makes the
  // last one outermost, so the observer sees refused calls and the application's interceptors never do.
  const wrappedGet: typeof originalGet = (interceptors, ...rest) => originalGet([admission, ...interceptors], ...rest);
  server.getServerInterceptingCall = wrappedGet;

  // mTLS on the port the application binds: grpc-js listens (plaintext, as the application asked, so
  // unbind/drain/shutdown stay grpc-js's own) and the mesh sorts each new connection as it does for HTTP.
  const gate = createInboundMtlsGate(mtls, { ...(options.port !== undefined ? { port: options.port } : {}), protocol: 'h2' });
  type ConnectionListener = (this: NetServer, socket: Socket) => void;
  /** Listening servers taken over → grpc-js's own connection listeners, given back on uninstall. */
  const taken = new Map<NetServer, { readonly originals: ConnectionListener[]; readonly sort: (socket: Socket) => void }>();
  const takeOver = (listener: NetServer): void => {
    if (taken.has(listener)) return;
    const originals = listener.listeners('connection') as ConnectionListener[];
    const handOver = (socket: Socket): void => {
      for (const l of originals) l.call(listener, socket);
    };
    // Without mTLS in force the gate declines at once: one check per connection, nothing per call.
    const sort = (socket: Socket): void => {
      if (!gate.gate(listener, socket, handOver)) handOver(socket);
    };
    listener.removeAllListeners('connection');
    listener.on('connection', sort);
    taken.set(listener, { originals, sort });
    listener.once('close', () => taken.delete(listener));
  };

  const proto = grpc.Server.prototype as unknown as { bindAsync: BindAsync };
  const originalBind = proto.bindAsync;
  let warned = false;
  const bindAsync: BindAsync = function bindAsync(port, creds, callback) {
    const n = Number(port.slice(port.lastIndexOf(':') + 1));
    // The application's own TLS, a unix socket, or another port than the service's: not the mesh's.
    if (typeof callback !== 'function' || creds._isSecure() || !Number.isInteger(n) || (options.port !== undefined && n !== options.port)) {
      return originalBind.call(this, port, creds, callback);
    }
    const grpcServer = this;
    return originalBind.call(this, port, creds, (error, bound) => {
      // grpc-js calls back from the promise that resolved on 'listening': no connection was accepted yet.
      if (error === null) {
        const listeners = listeningServers(grpcServer, bound);
        if (listeners === undefined) {
          if (!warned) options.onUnsupported?.('this @grpc/grpc-js keeps its listeners elsewhere: gRPC ports stay plaintext');
          warned = true;
        } else for (const l of listeners) takeOver(l);
      }
      callback(error, bound);
    });
  };
  proto.bindAsync = bindAsync;

  let installed = true;
  return {
    callerOf(call) {
      const known = peerOf(call);
      if (known !== undefined) return known;
      const r = verifyCaller(call as ServerCallLike);
      return r === undefined || 'code' in r ? undefined : r;
    },
    uninstall() {
      if (!installed) return;
      installed = false;
      if (server.getServerInterceptingCall === wrappedGet) server.getServerInterceptingCall = originalGet;
      if (proto.bindAsync === bindAsync) proto.bindAsync = originalBind;
      for (const [listener, { originals, sort }] of taken) {
        listener.off('connection', sort);
        for (const l of originals) listener.on('connection', l);
      }
      taken.clear();
      gate.close();
    },
  };
}

/** gRPC metadata as lower-case headers (text entries only), for the JWT and header checks. */
function metadataHeaders(metadata: Grpc.Metadata): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, values] of Object.entries(metadata.toJSON())) {
    if (key.endsWith('-bin')) continue;
    const texts = values.filter((v): v is string => typeof v === 'string');
    if (texts.length > 0) out[key] = texts.length === 1 ? texts[0]! : texts;
  }
  return out;
}
