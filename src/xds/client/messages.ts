/** The ADS messages in the object form grpc-js / proto-loader use (snake_case, as in the protos). */
import type { AnyMessage } from '../protos.ts';
import type { NodeMessage } from './node.ts';

/** `google.rpc.Status`; code 3 is INVALID_ARGUMENT, what a NACK carries. */
export interface StatusDetail {
  code: number;
  message: string;
}

export interface SotwRequest {
  version_info: string;
  node?: NodeMessage;
  resource_names: string[];
  type_url: string;
  response_nonce: string;
  error_detail?: StatusDetail;
}

export interface SotwResponse {
  version_info?: string;
  resources?: AnyMessage[];
  type_url?: string;
  nonce?: string;
}

export interface DeltaRequest {
  node?: NodeMessage;
  type_url: string;
  resource_names_subscribe: string[];
  resource_names_unsubscribe: string[];
  initial_resource_versions: Record<string, string>;
  response_nonce: string;
  error_detail?: StatusDetail;
}

export interface DeltaResource {
  name?: string;
  version?: string;
  resource?: AnyMessage | null;
}

export interface DeltaResponse {
  system_version_info?: string;
  resources?: DeltaResource[];
  type_url?: string;
  removed_resources?: string[];
  removed_resource_names?: { name?: string }[];
  nonce?: string;
}

/** Turns an Any into `{ name, value }`, throwing (ENMESH_ERR_XDS_INVALID) when the resource is unusable. */
export type DecodeResource = (typeUrl: string, any: AnyMessage) => { name: string; value: unknown };

/** INVALID_ARGUMENT, the status a NACK carries. */
export const NACK_CODE = 3;

/** NACK messages are bounded so a response with thousands of bad resources cannot make a huge request. */
const MAX_NACK_MESSAGE = 4096;

export function nackMessage(errors: readonly string[]): string {
  let msg = errors.join('; ');
  if (msg.length > MAX_NACK_MESSAGE) msg = `${msg.slice(0, MAX_NACK_MESSAGE)}… (${errors.length} errors)`;
  return msg;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}
