/** Shapes shared by the translator's modules (kept apart from index.ts to avoid import cycles). */
import type { AnyMessage } from '../protos.ts';

/** Which kind of xDS client a resource set is shaped for. */
export interface ClientProfile {
  readonly kind: 'enmesh' | 'grpc-xds' | 'envoy';
}

/** One encoded xDS resource, ready for a DiscoveryResponse. */
export interface XdsResource {
  readonly typeUrl: string;
  readonly name: string;
  /** Hash of the encoded bytes: unchanged content keeps its version. */
  readonly version: string;
  readonly any: AnyMessage;
}

export interface TranslatedResources {
  /** Type URL → resource name → resource. All four ADS types are always present (maybe empty). */
  readonly byType: ReadonlyMap<string, ReadonlyMap<string, XdsResource>>;
  /** What the client profile could not be given, one human-readable line each. */
  readonly degradations: readonly string[];
}

/** A plain protobuf message object (snake_case fields, enums as names), before encoding. */
export type Message = Record<string, unknown>;
