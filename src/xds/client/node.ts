/**
 * The `Node` an SDK presents to the control plane, and the self-registration
 * contract carried in its metadata:
 * - `enmesh.registration`: `{ service, host, port, labels, zone }`, the instance
 *   this process serves, so the control plane adds it to the service's endpoints;
 * - `enmesh.draining: true`: sent once on graceful close, so the control plane
 *   takes the instance out of rotation before its stream ends.
 */
import { createRequire } from 'node:module';
import { fromStruct, toStruct } from '../metadata.ts';
import type { StructMessage } from '../metadata.ts';

export const REGISTRATION_KEY = 'enmesh.registration';
export const DRAINING_KEY = 'enmesh.draining';

export interface XdsNodeOptions {
  readonly id: string;
  readonly cluster?: string;
  readonly user_agent_name?: string;
  readonly user_agent_version?: string;
  readonly locality?: { readonly region?: string; readonly zone?: string; readonly sub_zone?: string };
  /** Shorthand for `locality.zone`. */
  readonly zone?: string;
  /** Free-form JSON metadata; encoded as a `google.protobuf.Struct`. */
  readonly metadata?: { readonly [key: string]: unknown };
}

export interface Registration {
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly labels?: { readonly [key: string]: string };
  readonly zone?: string;
}

/** `envoy.config.core.v3.Node` in the object form grpc-js serializes. */
export interface NodeMessage {
  id: string;
  cluster: string;
  user_agent_name: string;
  user_agent_version: string;
  locality: { region: string; zone: string; sub_zone: string };
  metadata: StructMessage;
}

let packageVersion: string | undefined;

function enmeshVersion(): string {
  if (packageVersion === undefined) {
    try {
      packageVersion = String(createRequire(import.meta.url)('../../../package.json').version);
    } catch {
      packageVersion = '0.0.0';
    }
  }
  return packageVersion;
}

export function buildNode(options: XdsNodeOptions, registration: Registration | undefined, draining: boolean): NodeMessage {
  const metadata: Record<string, unknown> = { ...options.metadata };
  if (registration !== undefined) {
    metadata[REGISTRATION_KEY] = {
      service: registration.service,
      host: registration.host,
      port: registration.port,
      labels: { ...registration.labels },
      zone: registration.zone ?? options.locality?.zone ?? options.zone ?? '',
    };
  }
  if (draining) metadata[DRAINING_KEY] = true;
  return {
    id: options.id,
    cluster: options.cluster ?? registration?.service ?? '',
    user_agent_name: options.user_agent_name ?? 'enmesh',
    user_agent_version: options.user_agent_version ?? enmeshVersion(),
    locality: {
      region: options.locality?.region ?? '',
      zone: options.locality?.zone ?? options.zone ?? registration?.zone ?? '',
      sub_zone: options.locality?.sub_zone ?? '',
    },
    metadata: toStruct(metadata),
  };
}

/**
 * The control plane's half of the contract: reads registration and draining
 * from a node as grpc-js decodes it. `registration` is undefined when absent
 * or malformed (a port that is not 1..65535, a missing service or host).
 */
export function readRegistration(node: unknown): { registration?: Registration; draining: boolean } {
  const meta = fromStruct((node as { metadata?: unknown } | null | undefined)?.metadata);
  const draining = meta[DRAINING_KEY] === true;
  const r = meta[REGISTRATION_KEY];
  if (r === null || typeof r !== 'object' || Array.isArray(r)) return { draining };
  const { service, host, port, labels, zone } = r as Record<string, unknown>;
  if (typeof service !== 'string' || service === '' || typeof host !== 'string' || host === '') return { draining };
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) return { draining };
  const cleanLabels: Record<string, string> = {};
  if (labels !== null && typeof labels === 'object' && !Array.isArray(labels)) {
    for (const [k, v] of Object.entries(labels)) if (typeof v === 'string') cleanLabels[k] = v;
  }
  return {
    registration: { service, host, port, labels: cleanLabels, zone: typeof zone === 'string' ? zone : '' },
    draining,
  };
}
