/**
 * Envoy's xDS v3 protos, loaded once from the copy that @grpc/grpc-js-xds ships
 * in its npm package (never vendored here). Two views of the same files:
 * - a protobufjs Root, to encode/decode the resources carried in `Any`;
 * - a proto-loader package definition, for the gRPC services (ADS, LRS).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import protobuf from 'protobufjs';
import * as protoLoader from '@grpc/proto-loader';

const require = createRequire(import.meta.url);
const depsDir = join(dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');

/** Where the .proto files live, in the order imports are resolved. */
export const PROTO_INCLUDE_DIRS: readonly string[] = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) =>
  join(depsDir, d),
);

export const RESOURCE_PROTO_FILES: readonly string[] = [
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/service/load_stats/v3/lrs.proto',
  'google/protobuf/struct.proto',
  'google/protobuf/wrappers.proto',
  'google/protobuf/duration.proto',
];

export const SERVICE_PROTO_FILES: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/load_stats/v3/lrs.proto',
];

/** Options shared by every decode: snake_case field names as in the protos, as grpc-js-xds uses. */
export const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: PROTO_INCLUDE_DIRS as string[],
} as const;

let root: protobuf.Root | undefined;

/** The protobufjs Root holding every resource type (lazily loaded, then cached). */
export function resourceRoot(): protobuf.Root {
  if (root !== undefined) return root;
  const r = new protobuf.Root();
  r.resolvePath = (origin, target) => {
    for (const dir of PROTO_INCLUDE_DIRS) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return protobuf.util.path.resolve(origin, target);
  };
  r.loadSync(RESOURCE_PROTO_FILES as string[], { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

let servicesDef: protoLoader.PackageDefinition | undefined;

/** proto-loader definition of the ADS and LRS services, for @grpc/grpc-js. */
export function serviceDefinitions(): protoLoader.PackageDefinition {
  servicesDef ??= protoLoader.loadSync(SERVICE_PROTO_FILES as string[], LOADER_OPTIONS);
  return servicesDef;
}

const typeCache = new Map<string, protobuf.Type>();

/** Message type by fully qualified name (`envoy.config.cluster.v3.Cluster`) or type URL. */
export function messageType(nameOrTypeUrl: string): protobuf.Type {
  let t = typeCache.get(nameOrTypeUrl);
  if (t === undefined) {
    const name = nameOrTypeUrl.slice(nameOrTypeUrl.lastIndexOf('/') + 1);
    t = resourceRoot().lookupType(name);
    typeCache.set(nameOrTypeUrl, t);
  }
  return t;
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: false, oneofs: true };

/**
 * Encodes a plain object (snake_case fields, enums as names) as the bytes of the
 * given message type. `fromObject` converts enum names and nested `Any`s.
 */
export function encodeMessage(typeUrl: string, value: object): Uint8Array {
  const t = messageType(typeUrl);
  return t.encode(t.fromObject(value)).finish();
}

/** Decodes bytes of the given message type into a plain object (snake_case fields, enums as strings). */
export function decodeMessage<T = Record<string, unknown>>(typeUrl: string, bytes: Uint8Array): T {
  const t = messageType(typeUrl);
  return t.toObject(t.decode(bytes), TO_OBJECT) as T;
}

/** A `google.protobuf.Any` as grpc-js / proto-loader expect it on the wire. */
export interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

export function toAny(typeUrl: string, value: object): AnyMessage {
  return { type_url: typeUrl, value: encodeMessage(typeUrl, value) };
}

export function fromAny<T = Record<string, unknown>>(any: AnyMessage): T {
  return decodeMessage<T>(any.type_url, any.value);
}
