/**
 * Makes `xds:///service` targets work for @grpc/grpc-js in this process by
 * pointing @grpc/grpc-js-xds at enmesh's control plane: builds the standard
 * xDS bootstrap, hands it over in `GRPC_XDS_BOOTSTRAP_CONFIG`, and registers
 * the xds resolver once.
 *
 * A bootstrap the user configured (`GRPC_XDS_BOOTSTRAP` or
 * `GRPC_XDS_BOOTSTRAP_CONFIG`) always wins: enmesh then only registers.
 * grpc-js-xds reads the bootstrap when the first xds channel is created and
 * keeps it, so call this before creating any `xds:` client (or `XdsServer`:
 * `register()` also installs the HTTP filters, RBAC included, that an
 * xDS-enabled server needs).
 */
import { createRequire } from 'node:module';
import { EnmeshError } from '../errors.ts';
import type { XdsMode } from './client/env.ts';
import { SERVER_LISTENER_NAME_TEMPLATE } from './resource-names.ts';

export interface GrpcXdsOptions {
  /** Control-plane `host:port`s. grpc-js-xds (1.14) connects to the first one only. */
  readonly servers: readonly string[];
  readonly nodeId: string;
  readonly zone?: string;
  /**
   * Accepted for symmetry with the enmesh client; grpc-js-xds speaks
   * state-of-the-world only, which the control plane serves alongside delta.
   */
  readonly mode?: XdsMode;
  /**
   * `certificate_providers` of the bootstrap (gRFC A29): where the xDS TLS
   * contexts (mTLS with `mesh.mtls: strict`) take their certificates from.
   */
  readonly certificateProviders?: Readonly<Record<string, { readonly plugin_name: string; readonly config: Readonly<Record<string, string>> }>>;
}

export interface GrpcXdsRegistration {
  /** `enmesh`: our bootstrap is in effect; `user`: the user's own bootstrap was left alone. */
  readonly bootstrap: 'enmesh' | 'user';
}

/**
 * The standard xDS bootstrap document (gRFC A27) for enmesh's control plane,
 * with the server listener name template (gRFC A36) so that an `XdsServer`
 * of `@grpc/grpc-js-xds` in the same process gets its listener from it too.
 */
export function grpcXdsBootstrap(options: GrpcXdsOptions): object {
  if (options.servers.length === 0) {
    throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', 'grpc xDS bootstrap: `servers` is empty; give the control plane host:port.');
  }
  if (options.nodeId === '') {
    throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', 'grpc xDS bootstrap: `nodeId` is empty; give a unique id of this process.');
  }
  return {
    xds_servers: options.servers.map((server_uri) => ({
      server_uri,
      channel_creds: [{ type: 'insecure' }],
      server_features: ['xds_v3'],
    })),
    node: { id: options.nodeId, locality: { zone: options.zone ?? '' } },
    // For grpc-js-xds's XdsServer: the control plane answers these names (translate/server-listener.ts).
    server_listener_resource_name_template: SERVER_LISTENER_NAME_TEMPLATE,
    ...(options.certificateProviders !== undefined ? { certificate_providers: options.certificateProviders } : {}),
  };
}

/** The bootstrap text this module last put in the environment, to tell ours from the user's. */
let ours: string | undefined;
let registered = false;

export function registerGrpcXds(options: GrpcXdsOptions): GrpcXdsRegistration {
  const config = JSON.stringify(grpcXdsBootstrap(options));
  const env = process.env;
  const userFile = env.GRPC_XDS_BOOTSTRAP !== undefined && env.GRPC_XDS_BOOTSTRAP !== '';
  const current = env.GRPC_XDS_BOOTSTRAP_CONFIG;
  const userConfig = current !== undefined && current !== '' && current !== ours;
  const bootstrap = userFile || userConfig ? 'user' : 'enmesh';
  if (bootstrap === 'enmesh') {
    env.GRPC_XDS_BOOTSTRAP_CONFIG = config;
    ours = config;
  }
  if (!registered) {
    // Loaded lazily: grpc-js-xds is large and only gRPC users need it.
    const require = createRequire(import.meta.url);
    (require('@grpc/grpc-js-xds') as { register(): void }).register();
    registered = true;
  }
  return { bootstrap };
}
