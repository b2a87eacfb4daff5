/**
 * The ADS messages in the object form @grpc/proto-loader produces and accepts
 * (snake_case fields, as in the .proto files). Only the fields the server reads
 * or writes are listed.
 */
import type { AnyMessage } from '../xds/protos.ts';

export interface NodeLike {
  readonly id?: string;
  readonly cluster?: string;
  readonly user_agent_name?: string;
  readonly user_agent_version?: string;
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly sub_zone?: string } | null;
  readonly client_features?: readonly string[];
  readonly metadata?: unknown;
}

export interface StatusLike {
  readonly code?: number;
  readonly message?: string;
}

export interface DiscoveryRequest {
  readonly version_info?: string;
  readonly node?: NodeLike | null;
  readonly resource_names?: readonly string[];
  readonly type_url?: string;
  readonly response_nonce?: string;
  readonly error_detail?: StatusLike | null;
}

export interface DiscoveryResponse {
  version_info: string;
  resources: AnyMessage[];
  type_url: string;
  nonce: string;
  control_plane: { identifier: string };
}

export interface DeltaDiscoveryRequest {
  readonly node?: NodeLike | null;
  readonly type_url?: string;
  readonly resource_names_subscribe?: readonly string[];
  readonly resource_names_unsubscribe?: readonly string[];
  readonly initial_resource_versions?: Readonly<Record<string, string>>;
  readonly response_nonce?: string;
  readonly error_detail?: StatusLike | null;
}

export interface DeltaResource {
  name: string;
  version: string;
  resource: AnyMessage;
}

export interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: DeltaResource[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
}

/** Identifies this server in SotW responses (`control_plane.identifier`). */
export const CONTROL_PLANE_ID = 'enmesh';

let sharedNonces = 0;

/**
 * The nonce of a response many streams share (and write as the same bytes).
 * Unique in this process, and never equal to a stream's own nonces, which
 * are digits only: on any one stream, nonces stay unique.
 */
export function sharedNonce(): string {
  sharedNonces += 1;
  return `s${sharedNonces}`;
}
