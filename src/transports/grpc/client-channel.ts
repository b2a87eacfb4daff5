/**
 * What the mesh does to a gRPC client channel as the application creates it:
 *
 * - a target naming a gRPC service of the mesh (`ratings:50051`,
 *   `dns:///ratings`) becomes `xds:///ratings`, so grpc-js-xds routes it from
 *   the control plane's config as it routes an `xds:///` target: the
 *   application keeps calling the name it always called (control-plane mode
 *   only; the channel keeps the authority it would have sent);
 * - an `xds:` channel created with insecure credentials gets
 *   `XdsChannelCredentials` over them, so grpc-js-xds applies the TLS context
 *   the control plane sends with each cluster (strict mode: this process's
 *   SVID from the bootstrap's `enmesh` certificate provider, the server's
 *   SPIFFE ID checked) and stays plaintext where the cluster has none.
 *
 * Channels to other targets, and credentials of the application's own, are
 * left alone. It replaces the channel class grpc-js's Client constructor reads
 * at construction time, so it covers clients created after init().
 */
import type * as Grpc from '@grpc/grpc-js';
import { loadGrpc } from './hook.ts';

export interface GrpcClientChannel {
  uninstall(): void;
}

export interface GrpcClientChannelOptions {
  /** Read per channel: mTLS may start (first SVID) after the hook is installed. */
  readonly mtls: () => boolean;
  /** The `xds:///` target for a channel target that names a mesh service, else undefined; read per channel. */
  readonly meshTarget: (target: string) => string | undefined;
}

type ChannelClass = new (target: string, credentials: Grpc.ChannelCredentials, options: Grpc.ChannelOptions) => Grpc.Channel;

const DEFAULT_AUTHORITY = 'grpc.default_authority';

export function installGrpcClientChannel(options: GrpcClientChannelOptions): GrpcClientChannel | undefined {
  const internals = loadGrpc();
  if (internals === undefined) return undefined;
  // grpc-js-xds is large: looked up only when a channel first needs its credentials (undefined: not yet; null: absent).
  let xdsCredentials: (new (fallback: Grpc.ChannelCredentials) => Grpc.ChannelCredentials) | null | undefined;
  const XdsCredentials = (): typeof xdsCredentials => {
    if (xdsCredentials === undefined) {
      try {
        xdsCredentials = (internals.require('@grpc/grpc-js-xds') as { XdsChannelCredentials: NonNullable<typeof xdsCredentials> }).XdsChannelCredentials;
      } catch {
        xdsCredentials = null; // no grpc-js-xds: no xds: channel to secure
      }
    }
    return xdsCredentials;
  };
  const module = internals.channel;
  const Original = module.ChannelImplementation;
  const Mesh = class extends (Original as ChannelClass) {
    constructor(target: string, credentials: Grpc.ChannelCredentials, channelOptions: Grpc.ChannelOptions) {
      const routed = target.startsWith('xds:') ? undefined : options.meshTarget(target);
      // The server sees the authority the application named, not the xds: name.
      const opts = routed === undefined || channelOptions[DEFAULT_AUTHORITY] !== undefined ? channelOptions : { ...channelOptions, [DEFAULT_AUTHORITY]: authorityOf(target) };
      const finalTarget = routed ?? target;
      const Secure = finalTarget.startsWith('xds:') && !credentials._isSecure() && options.mtls() ? XdsCredentials() : null;
      super(finalTarget, Secure ? new Secure(credentials) : credentials, opts);
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

/** `dns:///ratings:50051` → `ratings:50051`. */
function authorityOf(target: string): string {
  return target.replace(/^dns:(?:\/\/[^/]*\/)?/i, '');
}
