/**
 * Inbound security of grpc-js servers, the gRPC adapter of the same policy
 * HTTP servers get:
 *
 * - **mTLS**: a server binding this service's port with insecure credentials
 *   after init() gets credentials from the SVID instead, when `mesh.mtls` is
 *   `strict` (client certificate required, checked against the trust
 *   bundle), rotated in place (`updateSecureContextOptions`). grpc-js serves
 *   a port either with TLS or without, so `permissive` leaves gRPC ports in
 *   plaintext: every client can still reach them during a rollout.
 * - **checks before the handler**: the caller's certificate is verified as an
 *   SVID (`mesh.peer(call)` is then its identity), then JWT authentication
 *   (metadata `authorization`) and authorization on the method path, as for
 *   HTTP: a refused call ends with UNAUTHENTICATED or PERMISSION_DENIED and
 *   the application's handler never sees it.
 */
import type * as Grpc from '@grpc/grpc-js';
import type { GrpcInboundRequest, GrpcRefusal } from '../../runtime/inbound-gate.ts';
import { GRPC_UNAUTHENTICATED } from '../../runtime/inbound-gate.ts';
import type { MeshMtls } from '../../security/mesh-mtls.ts';
import { peerOf, recordPeer, recordPeerCertificate } from '../../security/peer-store.ts';
import type { PeerIdentity } from '../../security/peer-verify.ts';
import { peerChain } from '../../security/peer-verify.ts';
import { loadGrpc } from './hook.ts';

export interface GrpcInboundSecurityOptions {
  readonly mtls: MeshMtls;
  /** This service's port: only servers bound to it are the mesh's. Absent: every server. */
  readonly port?: number;
  /** Authentication and authorization of a call (inbound-gate.ts). */
  readonly admit: (call: GrpcInboundRequest) => Promise<GrpcRefusal | undefined> | undefined;
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
type Rotating = Grpc.ServerCredentials & { updateSecureContextOptions?(options: Record<string, unknown>): void };

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

  const admission: Grpc.ServerInterceptor = (methodDescriptor, call) =>
    new grpc.ServerInterceptingCall(call, {
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
            const refuse = (r: GrpcRefusal): void => call.sendStatus({ code: r.code, details: r.details, metadata: new grpc.Metadata() });
            if (caller !== undefined && 'code' in caller) {
              refuse(caller);
              return;
            }
            if (caller !== undefined) recordPeer(call, caller);
            const verdict = options.admit({
              method: methodDescriptor.path,
              peer: caller,
              get headers() {
                return metadataHeaders(metadata);
              },
            });
            if (verdict === undefined) {
              nextMd(metadata);
              return;
            }
            // Messages that arrive meanwhile wait in grpc-js until the metadata is passed on.
            void verdict.then((r) => (r === undefined ? nextMd(metadata) : refuse(r)));
          },
        });
      },
    });

  const originalGet = server.getServerInterceptingCall;
  // After the observer's own wrapper: [observer, admission, ...application's]; grpc-js makes the
  // last one outermost, so the observer sees refused calls and the application's interceptors never do.
  const wrappedGet: typeof originalGet = (interceptors, ...rest) => originalGet([admission, ...interceptors], ...rest);
  server.getServerInterceptingCall = wrappedGet;

  const proto = grpc.Server.prototype as unknown as { bindAsync: BindAsync };
  const originalBind = proto.bindAsync;
  const detaches: (() => void)[] = [];
  const bindAsync: BindAsync = function bindAsync(port, creds, callback) {
    return originalBind.call(this, port, secured(port, creds), callback);
  };
  const secured = (port: string, creds: Grpc.ServerCredentials): Grpc.ServerCredentials => {
    const svids = mtls.svids;
    if (svids === undefined || mtls.inbound() !== 'strict' || !svids.ready || creds._isSecure()) return creds;
    const n = Number(port.slice(port.lastIndexOf(':') + 1));
    if (options.port !== undefined && n !== options.port) return creds;
    const current = (): { ca: Buffer; cert: Buffer; key: Buffer } => {
      const o = svids.contextOptions();
      return { ca: Buffer.from(String(o.ca)), cert: Buffer.from(String(o.cert)), key: Buffer.from(String(o.key)) };
    };
    const first = current();
    const secure = grpc.ServerCredentials.createSsl(first.ca, [{ private_key: first.key, cert_chain: first.cert }], true) as Rotating;
    const rotate = (): void => {
      if (!svids.ready) return;
      const next = current();
      secure.updateSecureContextOptions?.({ ca: next.ca, cert: [next.cert], key: [next.key] });
    };
    svids.on('rotated', rotate);
    svids.on('bundle', rotate);
    detaches.push(() => {
      svids.off('rotated', rotate);
      svids.off('bundle', rotate);
    });
    return secure;
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
      for (const d of detaches) d();
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
