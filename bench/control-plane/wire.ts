/**
 * Just enough protobuf wire decoding for a cheap ADS client: the envelope of
 * a (Delta)DiscoveryResponse, and the one or two fields of a resource that
 * name what to subscribe to next. Nothing else of a resource is decoded, so
 * thousands of simulated clients cost little more than the bytes they read.
 *
 * Field numbers are those of Envoy's xDS v3 protos.
 */

/** A byte range of `buf`: [start, end). */
export interface Span {
  start: number;
  end: number;
}

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/**
 * Calls `onField(field, start, end)` for each length-delimited field of the
 * message in buf[start, end); other wire types are skipped. Stops early when
 * `onField` returns true.
 */
export function eachLenField(
  buf: Uint8Array,
  start: number,
  end: number,
  onField: (field: number, start: number, end: number) => boolean | void,
): void {
  let pos = start;
  while (pos < end) {
    // Tag: field number and wire type, a varint.
    let tag = 0;
    let shift = 0;
    let b: number;
    do {
      b = buf[pos++]!;
      tag += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80 && pos < end);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === WIRE_VARINT) {
      while (buf[pos++]! & 0x80 && pos < end);
    } else if (wire === WIRE_I64) {
      pos += 8;
    } else if (wire === WIRE_I32) {
      pos += 4;
    } else if (wire === WIRE_LEN) {
      let len = 0;
      shift = 0;
      do {
        b = buf[pos++]!;
        len += (b & 0x7f) * 2 ** shift;
        shift += 7;
      } while (b & 0x80 && pos < end);
      const s = pos;
      pos += len;
      if (pos > end) throw new Error(`truncated protobuf field ${field}`);
      if (onField(field, s, pos) === true) return;
    } else {
      throw new Error(`unsupported protobuf wire type ${wire} (field ${field})`);
    }
  }
}

/** The first length-delimited occurrence of `field`, or undefined. */
export function findField(buf: Uint8Array, start: number, end: number, field: number): Span | undefined {
  let found: Span | undefined;
  eachLenField(buf, start, end, (f, s, e) => {
    if (f !== field) return false;
    found = { start: s, end: e };
    return true;
  });
  return found;
}

/** Follows a path of nested message fields; the span of the last one, or undefined. */
export function fieldPath(buf: Uint8Array, span: Span | undefined, path: readonly number[]): Span | undefined {
  let at = span;
  for (const field of path) {
    if (at === undefined) return undefined;
    at = findField(buf, at.start, at.end, field);
  }
  return at;
}

const decoder = new TextDecoder();

export function text(buf: Uint8Array, span: Span | undefined): string {
  return span === undefined ? '' : decoder.decode(buf.subarray(span.start, span.end));
}

/** The parts of a SotW DiscoveryResponse a client needs: version, nonce, type and where each Any's value is. */
export interface SotwEnvelope {
  version: string;
  typeUrl: string;
  nonce: string;
  /** Spans of each resource's `Any.value` (the resource's own bytes). */
  readonly values: Span[];
}

/** Decodes a DiscoveryResponse envelope; `wantValues` false skips locating resource bodies. */
export function readSotwResponse(buf: Uint8Array, wantValues: boolean, out: SotwEnvelope): SotwEnvelope {
  out.version = '';
  out.typeUrl = '';
  out.nonce = '';
  out.values.length = 0;
  eachLenField(buf, 0, buf.length, (f, s, e) => {
    if (f === 1) out.version = decoder.decode(buf.subarray(s, e));
    else if (f === 4) out.typeUrl = decoder.decode(buf.subarray(s, e));
    else if (f === 5) out.nonce = decoder.decode(buf.subarray(s, e));
    else if (f === 2 && wantValues) {
      const value = findField(buf, s, e, 2);
      if (value !== undefined) out.values.push(value);
    }
  });
  return out;
}

/** One entry of a DeltaDiscoveryResponse's `resources`. */
export interface DeltaEntry {
  name: string;
  version: string;
  /** Span of the resource's own bytes (`Resource.resource.value`). */
  value: Span | undefined;
}

export interface DeltaEnvelope {
  version: string;
  typeUrl: string;
  nonce: string;
  readonly resources: DeltaEntry[];
  readonly removed: string[];
}

export function readDeltaResponse(buf: Uint8Array, out: DeltaEnvelope): DeltaEnvelope {
  out.version = '';
  out.typeUrl = '';
  out.nonce = '';
  out.resources.length = 0;
  out.removed.length = 0;
  eachLenField(buf, 0, buf.length, (f, s, e) => {
    if (f === 1) out.version = decoder.decode(buf.subarray(s, e));
    else if (f === 4) out.typeUrl = decoder.decode(buf.subarray(s, e));
    else if (f === 5) out.nonce = decoder.decode(buf.subarray(s, e));
    else if (f === 6) out.removed.push(decoder.decode(buf.subarray(s, e)));
    else if (f === 2) {
      const entry: DeltaEntry = { name: '', version: '', value: undefined };
      eachLenField(buf, s, e, (rf, rs, re) => {
        if (rf === 3) entry.name = decoder.decode(buf.subarray(rs, re));
        else if (rf === 1) entry.version = decoder.decode(buf.subarray(rs, re));
        else if (rf === 2) entry.value = findField(buf, rs, re, 2);
      });
      out.resources.push(entry);
    }
  });
  return out;
}

/**
 * The route configuration a Listener's API listener fetches over RDS:
 * Listener.api_listener(19) → ApiListener.api_listener(1, Any).value(2)
 * → HttpConnectionManager.rds(3) → Rds.route_config_name(2).
 */
export function listenerRouteName(buf: Uint8Array, listener: Span): string | undefined {
  const hcm = fieldPath(buf, listener, [19, 1, 2]);
  const name = fieldPath(buf, hcm, [3, 2]);
  return name === undefined ? undefined : text(buf, name);
}

/**
 * The EDS name of a Cluster: eds_cluster_config(3).service_name(2), or the
 * cluster's name(1) when the service name is empty; undefined when the
 * cluster is not an EDS cluster.
 */
export function clusterEdsName(buf: Uint8Array, cluster: Span): string | undefined {
  const eds = findField(buf, cluster.start, cluster.end, 3);
  if (eds === undefined) return undefined;
  const service = findField(buf, eds.start, eds.end, 2);
  if (service !== undefined && service.end > service.start) return text(buf, service);
  return text(buf, findField(buf, cluster.start, cluster.end, 1));
}
