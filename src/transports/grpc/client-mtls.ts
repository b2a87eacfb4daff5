/**
 * Outbound mTLS for gRPC clients resolved through the mesh (`xds:///svc`):
 * a channel the application creates with insecure credentials gets
 * `XdsChannelCredentials` over them instead, so grpc-js-xds applies the TLS
 * context the control plane sends with each cluster (strict mode: this
 * process's SVID from the bootstrap's `enmesh` certificate provider, the
 * server's SPIFFE ID checked) and stays plaintext where the cluster has
 * none. Channels to other targets, and channels with credentials of the
 * application's own, are left alone.
 *
 * It replaces the channel class grpc-js's Client constructor reads at
 * construction time, so it covers clients created after init().
 */
import type * as Grpc from '@grpc/grpc-js';
import { loadGrpc } from './hook.ts';

export interface GrpcClientMtls {
  uninstall(): void;
}

type ChannelClass = new (target: string, credentials: Grpc.ChannelCredentials, options: Grpc.ChannelOptions) => Grpc.Channel;

/** `enabled` is read per channel: mTLS may start (first SVID) after the hook is installed. */
export function installGrpcClientMtls(enabled: () => boolean): GrpcClientMtls | undefined {
  const internals = loadGrpc();
  if (internals === undefined) return undefined;
  let xdsCredentials: (new (fallback: Grpc.ChannelCredentials) => Grpc.ChannelCredentials) | undefined;
  try {
    xdsCredentials = (internals.require('@grpc/grpc-js-xds') as { XdsChannelCredentials: typeof xdsCredentials }).XdsChannelCredentials;
  } catch {
    return undefined; // no grpc-js-xds: no xds: targets to secure
  }
  const XdsCredentials = xdsCredentials!;
  const module = internals.channel;
  const Original = module.ChannelImplementation;
  const Mesh = class extends (Original as ChannelClass) {
    constructor(target: string, credentials: Grpc.ChannelCredentials, options: Grpc.ChannelOptions) {
      const swap = enabled() && target.startsWith('xds:') && !credentials._isSecure();
      super(target, swap ? new XdsCredentials(credentials) : credentials, options);
    }
  };
  module.ChannelImplementation = Mesh;
  let installed = true;
  return {
    uninstall() {
      if (!installed) return;
      installed = false;
      if (module.ChannelImplementation === Mesh) module.ChannelImplementation = Original;
    },
  };
}
