/**
 * A minimal OTLP/HTTP trace receiver for tests: accepts
 * `POST /v1/traces` (application/x-protobuf) and decodes the spans with a
 * schema written from the OTLP specification's field numbers (only the
 * fields the tests read; protobuf skips the rest).
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import protobuf from 'protobufjs';

const SCHEMA = `
syntax = "proto3";
package otlp_subset;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { Scope scope = 1; repeated Span spans = 2; }
message Scope { string name = 1; string version = 2; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; }
}
message Span {
  bytes trace_id = 1;
  bytes span_id = 2;
  string trace_state = 3;
  bytes parent_span_id = 4;
  string name = 5;
  int32 kind = 6;
  fixed64 start_time_unix_nano = 7;
  fixed64 end_time_unix_nano = 8;
  repeated KeyValue attributes = 9;
}
`;

const RequestType = protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType('otlp_subset.ExportTraceServiceRequest');

/** OTLP span kinds: 1 internal, 2 server, 3 client. */
export interface ReceivedSpan {
  readonly service: string;
  readonly scope: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
}

export interface OtlpReceiver {
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Requests that were not valid OTLP protobuf. */
  readonly rejected: number;
  close(): Promise<void>;
}

interface AnyValueMsg {
  string_value?: string;
  bool_value?: boolean;
  int_value?: number | string;
  double_value?: number;
}
interface KeyValueMsg {
  key: string;
  value?: AnyValueMsg;
}
interface SpanMsg {
  trace_id: Uint8Array;
  span_id: Uint8Array;
  parent_span_id?: Uint8Array;
  name: string;
  kind?: number;
  attributes?: KeyValueMsg[];
}
interface RequestMsg {
  resource_spans?: { resource?: { attributes?: KeyValueMsg[] }; scope_spans?: { scope?: { name?: string }; spans?: SpanMsg[] }[] }[];
}

function attrs(list: KeyValueMsg[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list ?? []) {
    const v = kv.value ?? {};
    out[kv.key] = v.string_value ?? v.bool_value ?? (v.int_value !== undefined ? Number(v.int_value) : (v.double_value ?? ''));
  }
  return out;
}

const hex = (b: Uint8Array | undefined): string => (b === undefined ? '' : Buffer.from(b).toString('hex'));

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  let rejected = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces' || !String(req.headers['content-type']).startsWith('application/x-protobuf')) {
        rejected++;
        res.writeHead(404).end();
        return;
      }
      try {
        const msg = RequestType.toObject(RequestType.decode(Buffer.concat(chunks)), { longs: String, bytes: Uint8Array }) as RequestMsg;
        for (const rs of msg.resource_spans ?? []) {
          const service = String(attrs(rs.resource?.attributes)['service.name'] ?? '');
          for (const ss of rs.scope_spans ?? []) {
            for (const s of ss.spans ?? []) {
              spans.push({
                service,
                scope: ss.scope?.name ?? '',
                traceId: hex(s.trace_id),
                spanId: hex(s.span_id),
                parentSpanId: hex(s.parent_span_id),
                name: s.name,
                kind: s.kind ?? 0,
                attributes: attrs(s.attributes),
              });
            }
          }
        }
        // An empty ExportTraceServiceResponse.
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      } catch {
        rejected++;
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    get rejected() {
      return rejected;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
