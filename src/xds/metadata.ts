/**
 * Plain JSON ⇄ `google.protobuf.Struct`, and the `filter_metadata["enmesh"]`
 * entry where enmesh keeps what no standard xDS field can express.
 *
 * Struct keys are written sorted so equal content always encodes to equal
 * bytes (resource versions are hashes of those bytes).
 */
import { messageType } from './protos.ts';

/** The `filter_metadata` key enmesh owns. */
export const ENMESH_METADATA_KEY = 'enmesh';

export type JsonValue = null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };
export type JsonObject = { readonly [key: string]: JsonValue };

/** A `google.protobuf.Struct` as the protobufjs Root reads and writes it. */
export interface StructMessage {
  fields?: Record<string, ValueMessage>;
}
type ValueMessage = Record<string, unknown>;

interface ValueFieldNames {
  readonly null: string;
  readonly number: string;
  readonly string: string;
  readonly bool: string;
  readonly struct: string;
  readonly list: string;
}

let names: ValueFieldNames | undefined;

/**
 * protobufjs serves google/protobuf/struct.proto from its built-in copy, whose
 * fields are camelCase (`numberValue`), unlike the snake_case Envoy types. Ask
 * the loaded type rather than assume, so either spelling works.
 */
function valueNames(): ValueFieldNames {
  if (names !== undefined) return names;
  const camel = messageType('google.protobuf.Value').fields.numberValue !== undefined;
  names = camel
    ? { null: 'nullValue', number: 'numberValue', string: 'stringValue', bool: 'boolValue', struct: 'structValue', list: 'listValue' }
    : { null: 'null_value', number: 'number_value', string: 'string_value', bool: 'bool_value', struct: 'struct_value', list: 'list_value' };
  return names;
}

/** JSON object to Struct. `undefined` members are skipped, as JSON.stringify does. */
export function toStruct(value: Readonly<Record<string, unknown>>): StructMessage {
  const fields: Record<string, ValueMessage> = {};
  for (const key of Object.keys(value).sort()) {
    const v = value[key];
    if (v !== undefined) fields[key] = toValue(v, key);
  }
  return { fields };
}

function toValue(value: unknown, path: string): ValueMessage {
  const n = valueNames();
  if (value === null) return { [n.null]: 'NULL_VALUE' };
  switch (typeof value) {
    case 'boolean':
      return { [n.bool]: value };
    case 'string':
      return { [n.string]: value };
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`metadata ${path}: ${value} is not a finite number`);
      return { [n.number]: value };
    case 'object':
      if (Array.isArray(value)) {
        return { [n.list]: { values: value.map((v, i) => toValue(v === undefined ? null : v, `${path}[${i}]`)) } };
      }
      return { [n.struct]: toStruct(value as Record<string, unknown>) };
    default:
      throw new TypeError(`metadata ${path}: ${typeof value} cannot be carried in a Struct`);
  }
}

/** Struct (as decoded by protobufjs) to a plain JSON object; anything malformed reads as empty. */
export function fromStruct(struct: unknown): JsonObject {
  const out: Record<string, JsonValue> = {};
  const fields = (struct as StructMessage | undefined)?.fields;
  if (fields === undefined || fields === null || typeof fields !== 'object') return out;
  for (const key of Object.keys(fields)) out[key] = fromValue(fields[key]);
  return out;
}

function fromValue(value: ValueMessage | undefined): JsonValue {
  if (value === undefined || value === null) return null;
  const n = valueNames();
  if (value[n.bool] !== undefined) return Boolean(value[n.bool]);
  if (value[n.number] !== undefined) return Number(value[n.number]);
  if (value[n.string] !== undefined) return String(value[n.string]);
  if (value[n.struct] !== undefined) return fromStruct(value[n.struct]);
  if (value[n.list] !== undefined) {
    const values = (value[n.list] as { values?: ValueMessage[] }).values ?? [];
    return values.map(fromValue);
  }
  return null;
}

/** A core `Metadata` message holding `entries` under `filter_metadata.enmesh`; undefined when there is nothing to say. */
export function enmeshMetadata(entries: Readonly<Record<string, unknown>>): { filter_metadata: Record<string, StructMessage> } | undefined {
  for (const key in entries) {
    if (entries[key] !== undefined) return { filter_metadata: { [ENMESH_METADATA_KEY]: toStruct(entries) } };
  }
  return undefined;
}

/** The `filter_metadata.enmesh` entry of a decoded core `Metadata` message, if any. */
export function readEnmeshMetadata(metadata: unknown): JsonObject | undefined {
  const fm = (metadata as { filter_metadata?: Record<string, unknown> } | undefined)?.filter_metadata;
  const entry = fm?.[ENMESH_METADATA_KEY];
  return entry === undefined ? undefined : fromStruct(entry);
}
