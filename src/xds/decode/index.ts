/**
 * Decoder: xDS v3 resources → validated shapes → the config model.
 *
 * `decodeResource` validates what the data plane relies on and throws
 * `ENMESH_ERR_XDS_INVALID` naming the resource type, its name and the field
 * path; the client NACKs with that message.
 */
import protobuf from 'protobufjs';
import { EnmeshError } from '../../errors.ts';
import { decodeMessage, type AnyMessage } from '../protos.ts';
import { MAX_RESOURCE_BYTES } from '../translate/resource.ts';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION } from '../type-urls.ts';
import { decodeAssignment } from './assignment.ts';
import { decodeCluster } from './cluster.ts';
import { invalid, type Obj, type Where } from './fields.ts';
import { decodeListener } from './listener.ts';
import { decodeRouteConfig } from './route-config.ts';
import type { DecodedValue } from './types.ts';

export { assembleModel, referencedResourceNames, requiredResourceNames, DEFAULT_MESH } from './assemble.ts';
export type { ResourceNames } from './assemble.ts';
export type {
  DecodedAssignment,
  DecodedCluster,
  DecodedListener,
  DecodedResources,
  DecodedRoute,
  DecodedRouteConfig,
  DecodedValue,
  DecodedVirtualHost,
  ResourceMaps,
} from './types.ts';
export { MAX_RESOURCE_BYTES } from '../translate/resource.ts';

const KINDS: Readonly<Record<string, { kind: string; decode: (msg: Obj, where: Where) => DecodedValue }>> = {
  [LISTENER]: { kind: 'Listener', decode: decodeListener },
  [ROUTE_CONFIGURATION]: { kind: 'RouteConfiguration', decode: decodeRouteConfig },
  [CLUSTER]: { kind: 'Cluster', decode: decodeCluster },
  [CLUSTER_LOAD_ASSIGNMENT]: { kind: 'ClusterLoadAssignment', decode: decodeAssignment },
};

export function decodeResource(typeUrl: string, any: AnyMessage): { name: string; value: DecodedValue } {
  const entry = KINDS[typeUrl];
  if (entry === undefined) throw new EnmeshError('ENMESH_ERR_XDS_INVALID', `unsupported resource type ${typeUrl}`);
  const bytes = any.value;
  if (any.type_url !== typeUrl) {
    invalid({ kind: entry.kind, name: peekName(bytes) ?? '' }, 'type_url', `expected ${typeUrl}, got ${any.type_url}`);
  }
  if (bytes.byteLength > MAX_RESOURCE_BYTES) {
    invalid({ kind: entry.kind, name: peekName(bytes) ?? '' }, 'size', `${bytes.byteLength} bytes is over the ${MAX_RESOURCE_BYTES}-byte limit`);
  }
  let msg: Obj;
  try {
    msg = decodeMessage(typeUrl, bytes);
  } catch (err) {
    invalid({ kind: entry.kind, name: peekName(bytes) ?? '' }, 'bytes', `cannot decode: ${(err as Error).message}`);
  }
  const name = String((typeUrl === CLUSTER_LOAD_ASSIGNMENT ? msg.cluster_name : msg.name) ?? '');
  const where: Where = { kind: entry.kind, name };
  if (name === '') invalid(where, typeUrl === CLUSTER_LOAD_ASSIGNMENT ? 'cluster_name' : 'name', 'missing');
  return { name, value: entry.decode(msg, where) };
}

/**
 * The resource's name (field 1 of all four types) read straight off the wire,
 * so a resource refused before decoding can still be named in the NACK.
 */
function peekName(bytes: Uint8Array): string | undefined {
  try {
    const reader = protobuf.Reader.create(bytes);
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 === 1 && (tag & 7) === 2) return reader.string();
      reader.skipType(tag & 7);
    }
  } catch {
    // Malformed bytes: no name to report.
  }
  return undefined;
}
