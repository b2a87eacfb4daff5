/**
 * Reading decoded protobuf objects (protobufjs `toObject` with defaults off:
 * absent fields are undefined, 64-bit integers are strings, enums are names)
 * with validation that names the resource and the field path.
 */
import { EnmeshError } from '../../errors.ts';
import type { JsonObject, JsonValue } from '../metadata.ts';

/** The resource being decoded, for error messages. */
export interface Where {
  readonly kind: string;
  readonly name: string;
}

/** Rejects the resource: the client NACKs with this message. */
export function invalid(where: Where, path: string, message: string): never {
  throw new EnmeshError('ENMESH_ERR_XDS_INVALID', `${where.kind} "${where.name}": ${path}: ${message}`);
}

export type Obj = Record<string, any>;

/** Protobuf's own bound on Duration, about 10000 years. */
const MAX_DURATION_SECONDS = 315_576_000_000;

/** Milliseconds of a `google.protobuf.Duration`, or undefined when absent. */
export function durationMs(d: Obj | undefined, where: Where, path: string): number | undefined {
  if (d === undefined || d === null) return undefined;
  const seconds = Number(d.seconds ?? 0);
  const nanos = Number(d.nanos ?? 0);
  if (!Number.isFinite(seconds) || seconds < 0 || nanos < 0) invalid(where, path, 'negative duration');
  if (seconds > MAX_DURATION_SECONDS || nanos > 999_999_999) invalid(where, path, 'duration out of range');
  return seconds * 1000 + nanos / 1e6;
}

/** Value of a wrapper message (`UInt32Value`, ...): present with no value means 0. */
export function wrapped(w: Obj | undefined): number | undefined {
  if (w === undefined || w === null) return undefined;
  return Number(w.value ?? 0);
}

export function port(value: unknown, where: Where, path: string): number {
  const n = Number(value ?? 0);
  if (!Number.isInteger(n) || n < 1 || n > 65535) invalid(where, path, `port ${String(value ?? 0)} is out of range 1-65535`);
  return n;
}

export function percent(value: number, where: Where, path: string): number {
  if (!(value >= 0 && value <= 100)) invalid(where, path, `${value} is not a percentage (0-100)`);
  return value;
}

// ---- enmesh metadata ------------------------------------------------------

export function metaNumber(meta: JsonObject | undefined, key: string, where: Where, path: string): number | undefined {
  const v = meta?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number') invalid(where, `${path}.${key}`, 'expected a number');
  return v;
}

export function metaString(meta: JsonObject | undefined, key: string, where: Where, path: string): string | undefined {
  const v = meta?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') invalid(where, `${path}.${key}`, 'expected a string');
  return v;
}

export function metaObject(meta: JsonObject | undefined, key: string, where: Where, path: string): JsonObject | undefined {
  const v = meta?.[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) invalid(where, `${path}.${key}`, 'expected an object');
  return v as JsonObject;
}

export function metaArray(meta: JsonObject | undefined, key: string, where: Where, path: string): readonly JsonValue[] | undefined {
  const v = meta?.[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) invalid(where, `${path}.${key}`, 'expected a list');
  return v as readonly JsonValue[];
}

/** A string-to-string map (labels). */
export function metaLabels(meta: JsonObject | undefined, key: string, where: Where, path: string): Record<string, string> | undefined {
  const obj = metaObject(meta, key, where, path);
  if (obj === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    if (typeof v !== 'string') invalid(where, `${path}.${key}.${k}`, 'expected a string');
    out[k] = v;
  }
  return out;
}

export const METADATA_PATH = 'metadata.filter_metadata.enmesh';
