/**
 * Trace context on the wire, in the formats meshes speak: W3C `traceparent`
 * (+ `tracestate`), B3 single header (`b3`) and B3 multi header
 * (`x-b3-traceid`, `x-b3-spanid`, `x-b3-sampled`). The configured formats are
 * written; all of them are always read, W3C winning when a request carries several.
 *
 * The default writes W3C only, as OpenTelemetry's SDKs do: each header written
 * costs every request, sampled or not, in the caller and in the callee (about
 * 0.6 µs a header with undici, both sides together). B3, single or multi
 * header, is one option away for Zipkin- and Envoy-B3-based neighbours.
 *
 * Reading uses OpenTelemetry's parsers. Writing is done here, straight into
 * the outbound header record: three string writes, no propagator machinery
 * per request.
 */
import { type Context, ROOT_CONTEXT, type SpanContext, type TextMapGetter, type TextMapPropagator, type TextMapSetter, trace, TraceFlags } from '@opentelemetry/api';
import { TraceState, W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3Propagator } from '@opentelemetry/propagator-b3';
import type { HeaderRecord } from '../runtime/headers.ts';

export type PropagationFormat = 'tracecontext' | 'b3' | 'b3multi';

export const DEFAULT_PROPAGATION: readonly PropagationFormat[] = Object.freeze(['tracecontext'] as const);

export { TRACE_HEADERS } from './trace-headers.ts';

/** Node's inbound header object (`req.headers`) and enmesh's header record both read this way. */
const headerGetter: TextMapGetter<Readonly<Record<string, string | string[] | undefined>>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

export class MeshPropagator implements TextMapPropagator<HeaderRecord> {
  readonly #w3c: boolean;
  readonly #b3: boolean;
  readonly #b3multi: boolean;
  readonly #readers: readonly TextMapPropagator[];
  readonly #fields: string[];

  constructor(formats: readonly PropagationFormat[] = DEFAULT_PROPAGATION) {
    this.#w3c = formats.includes('tracecontext');
    this.#b3 = formats.includes('b3');
    this.#b3multi = formats.includes('b3multi');
    // Every format is read whatever is written: B3 reads both of its encodings; W3C comes last so it wins.
    this.#readers = [new B3Propagator(), new W3CTraceContextPropagator()];
    this.#fields = [];
    if (this.#w3c) this.#fields.push('traceparent', 'tracestate');
    if (this.#b3) this.#fields.push('b3');
    if (this.#b3multi) this.#fields.push('x-b3-traceid', 'x-b3-spanid', 'x-b3-sampled');
  }

  /**
   * Writes `sc` into `headers` in every configured format (replacing what was there).
   * `traceparent`: the W3C header already made for `sc` (a pooled unsampled root), or ''.
   */
  write(headers: HeaderRecord, sc: SpanContext, traceparent = ''): void {
    const sampled = (sc.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED;
    if (this.#w3c) {
      headers.traceparent = traceparent !== '' ? traceparent : `00-${sc.traceId}-${sc.spanId}-${sampled ? '01' : '00'}`;
      const state = sc.traceState?.serialize();
      if (state !== undefined && state !== '') headers.tracestate = state;
      else if (headers.tracestate !== undefined) delete headers.tracestate;
    }
    if (this.#b3) headers.b3 = `${sc.traceId}-${sc.spanId}-${sampled ? '1' : '0'}`;
    if (this.#b3multi) {
      headers['x-b3-traceid'] = sc.traceId;
      headers['x-b3-spanid'] = sc.spanId;
      headers['x-b3-sampled'] = sampled ? '1' : '0';
      // A parent id copied from the app's headers would name the wrong parent.
      if (headers['x-b3-parentspanid'] !== undefined) delete headers['x-b3-parentspanid'];
    }
  }

  /** The remote span context a request's headers carry, added to `ctx`. */
  read(ctx: Context, headers: Readonly<Record<string, string | string[] | undefined>>): Context {
    const sc = this.readSpanContext(headers);
    return sc === undefined ? ctx : trace.setSpanContext(ctx, sc);
  }

  /** The remote span context a request's headers carry, if any valid one. */
  readSpanContext(headers: Readonly<Record<string, string | string[] | undefined>>): SpanContext | undefined {
    // Fast path: a well-formed W3C header (the common case) wins anyway, so the
    // other formats need not be looked at.
    {
      const tp = headers.traceparent;
      const sc = typeof tp === 'string' ? parseTraceparent(tp) : undefined;
      if (sc !== undefined) {
        const ts = headers.tracestate;
        if (ts !== undefined && ts !== '') sc.traceState = new TraceState(Array.isArray(ts) ? ts.join(',') : ts);
        return sc;
      }
    }
    let out = ROOT_CONTEXT;
    for (const r of this.#readers) out = r.extract(out, headers, headerGetter);
    const sc = trace.getSpanContext(out);
    return sc !== undefined && trace.isSpanContextValid(sc) ? sc : undefined;
  }

  // ---- TextMapPropagator, so the same formats can be registered globally ----

  inject(ctx: Context, carrier: HeaderRecord, setter: TextMapSetter<HeaderRecord>): void {
    const sc = trace.getSpanContext(ctx);
    if (sc === undefined || !trace.isSpanContextValid(sc)) return;
    const out: HeaderRecord = {};
    this.write(out, sc);
    for (const key of Object.keys(out)) setter.set(carrier, key, out[key] as string);
  }

  extract(ctx: Context, carrier: HeaderRecord, getter: TextMapGetter<HeaderRecord>): Context {
    let out = ctx;
    for (const r of this.#readers) out = r.extract(out, carrier, getter);
    return out;
  }

  fields(): string[] {
    return [...this.#fields];
  }
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * A version-00 `traceparent` as a remote span context; undefined for
 * anything else (other versions, invalid ids), which the full parser handles.
 */
function parseTraceparent(value: string): { traceId: string; spanId: string; traceFlags: number; isRemote: true; traceState?: TraceState } | undefined {
  if (value.length !== 55) return undefined;
  const m = TRACEPARENT.exec(value);
  if (m === null || m[1] !== '00' || m[2] === ZERO_TRACE || m[3] === ZERO_SPAN) return undefined;
  return { traceId: m[2]!, spanId: m[3]!, traceFlags: parseInt(m[4]!, 16), isRemote: true };
}
