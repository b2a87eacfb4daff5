/**
 * Client profiles: what each kind of xDS client accepts. The translator emits
 * the full standard mapping for enmesh's SDK and leaves out, or rewrites, what
 * another client would NACK (one bad resource NACKs the whole response).
 */
import type { ClientProfile } from './types.ts';

export const ENMESH_PROFILE: ClientProfile = Object.freeze({ kind: 'enmesh' });
export const GRPC_XDS_PROFILE: ClientProfile = Object.freeze({ kind: 'grpc-xds' });
export const ENVOY_PROFILE: ClientProfile = Object.freeze({ kind: 'envoy' });

/**
 * The profile for a DiscoveryRequest's `node`. enmesh's SDK says `enmesh`;
 * gRPC's xDS clients say `gRPC <language>` (grpc-js-xds: `gRPC Node Pure JS`);
 * anything else is treated as a standard Envoy-like client.
 */
export function profileForNode(
  node: { user_agent_name?: string; client_features?: readonly string[]; metadata?: unknown } | undefined,
): ClientProfile {
  const agent = (node?.user_agent_name ?? '').trim().toLowerCase();
  if (agent === 'enmesh' || agent.startsWith('enmesh ')) return ENMESH_PROFILE;
  if (agent.startsWith('grpc')) return GRPC_XDS_PROFILE;
  // gRPC clients also announce this feature; it identifies those with an unusual user agent.
  if (node?.client_features?.includes('envoy.lb.does_not_support_overprovisioning') === true) return GRPC_XDS_PROFILE;
  return ENVOY_PROFILE;
}

/** Endpoint addresses must be IP literals (Envoy EDS and gRPC resolve nothing). */
export function needsIpEndpoints(profile: ClientProfile): boolean {
  return profile.kind !== 'enmesh';
}

export function isGrpcXds(profile: ClientProfile): boolean {
  return profile.kind === 'grpc-xds';
}
