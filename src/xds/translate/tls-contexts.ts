/**
 * mTLS → transport sockets, for gRPC's proxyless xDS clients and servers
 * (grpc-js-xds). With `mesh.mtls: strict`:
 *
 * - every cluster of a gRPC service carries an UpstreamTlsContext whose
 *   certificates come from the certificate provider instance `enmesh` of the
 *   client's bootstrap (a `file_watcher` over the files enmesh writes, see
 *   SvidManager.writeGrpcXdsFiles), and whose validation requires the
 *   server's URI SAN to be the service's SPIFFE ID;
 * - the filter chain of a gRPC server's own listener (server-listener.ts)
 *   carries a DownstreamTlsContext: the same provider for its certificate and
 *   for the CA, and a client certificate required. Which caller may call is
 *   RBAC's business (the peer's URI SAN), so no SAN is pinned here.
 *
 * Only in `strict`: grpc-js serves a port with TLS or without, so gRPC
 * servers are plaintext in `permissive` and clients must not dial them with
 * TLS. enmesh's own SDK reads `mesh.mtls` and does mTLS itself (its profile
 * gets no transport socket); a grpc-js-xds client or server whose bootstrap
 * lacks the `enmesh` provider NACKs these resources, as gRFC A29 requires.
 */
import type { MeshModel, ServiceModel } from '../../model/types.ts';
import { toAny } from '../protos.ts';
import { DOWNSTREAM_TLS_CONTEXT, UPSTREAM_TLS_CONTEXT } from '../type-urls.ts';
import type { ClientProfile, Message } from './types.ts';

/** The certificate provider instance name in the bootstrap (`certificate_providers.enmesh`). */
export const CERTIFICATE_PROVIDER_INSTANCE = 'enmesh';
export const TLS_TRANSPORT_SOCKET = 'envoy.transport_sockets.tls';

/** The transport socket of a service's clusters, or undefined for plaintext. */
export function upstreamTransportSocket(service: ServiceModel, model: MeshModel, profile: ClientProfile): Message | undefined {
  if (profile.kind !== 'grpc-xds' || model.mesh.mtls !== 'strict' || service.protocol !== 'grpc') return undefined;
  const id = `spiffe://${model.mesh.trustDomain}/service/${service.name}`;
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: toAny(UPSTREAM_TLS_CONTEXT, {
      common_tls_context: {
        tls_certificate_provider_instance: { instance_name: CERTIFICATE_PROVIDER_INSTANCE },
        validation_context: {
          ca_certificate_provider_instance: { instance_name: CERTIFICATE_PROVIDER_INSTANCE },
          // gRPC's exact SAN matcher compares DNS names only: an anchored regex pins the URI SAN.
          match_subject_alt_names: [{ safe_regex: { regex: `^${id.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&')}$` } }],
        },
      },
    }),
  };
}

/**
 * The transport socket of a gRPC server's listener (its filter chain), or
 * undefined for plaintext. The server applies it only when bound with
 * `XdsServerCredentials`; other credentials are used as they are.
 */
export function downstreamTransportSocket(service: ServiceModel, model: MeshModel, profile: ClientProfile): Message | undefined {
  if (profile.kind !== 'grpc-xds' || model.mesh.mtls !== 'strict' || service.protocol !== 'grpc') return undefined;
  const provider = { instance_name: CERTIFICATE_PROVIDER_INSTANCE };
  return {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: toAny(DOWNSTREAM_TLS_CONTEXT, {
      common_tls_context: {
        tls_certificate_provider_instance: provider,
        validation_context: { ca_certificate_provider_instance: provider },
      },
      require_client_certificate: { value: true },
    }),
  };
}
