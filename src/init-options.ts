import type { TracingOptions } from './telemetry/tracing.ts';
import type { AccessLogOptions } from './telemetry/access-log.ts';

/** Options of {@link init}. Every field has an `ENMESH_*` environment variable (see docs/getting-started.md). */
export interface InitOptions {
  /** This process's own service: how it is named, and (with a control plane) how it registers. */
  readonly service?: {
    readonly name: string;
    /** The port this instance serves on; with a control plane, the instance registers itself. */
    readonly port?: number;
    readonly labels?: Readonly<Record<string, string>>;
    /** Locality zone, for same-zone preference. */
    readonly zone?: string;
    /** Address other instances reach this one at. Default 127.0.0.1. */
    readonly host?: string;
  };
  /** Path to mesh.yaml (local-file mode, watched for changes). `ENMESH_CONFIG`. */
  readonly config?: string;
  /** Control-plane address(es), `xds://host:port` (control-plane mode). `ENMESH_CONTROL_PLANE`. */
  readonly controlPlane?: string | readonly string[];
  /** ADS flavour. Default `delta`. `ENMESH_XDS_MODE`. */
  readonly xdsMode?: 'delta' | 'sotw';
  /** Which transports to hook. Default: all. With all false, use `mesh.interceptor()` / `mesh.dispatcher` yourself. */
  readonly hooks?: { readonly undici?: boolean; readonly http?: boolean; readonly grpc?: boolean };
  /** Watch the config file for changes. Default true. */
  readonly watch?: boolean;
  /**
   * Redis URL for `rateLimit.scope: global` (buckets shared by every replica).
   * Without it, global limits are enforced per process. `ENMESH_REDIS_URL`.
   */
  readonly redis?: string;
  /**
   * Serve Prometheus metrics (Istio's standard request metrics and `enmesh_*`)
   * on this port at `/metrics`. Requests are always counted; without a port
   * they are only served by `mesh.metrics()`. `ENMESH_METRICS_PORT`.
   */
  readonly metrics?: false | { readonly port?: number; readonly host?: string };
  /**
   * Distributed tracing (OpenTelemetry; W3C traceparent and B3 read and written):
   * `{ exporter: 'otlp' | 'zipkin' | 'console' | 'memory', endpoint?, sampleRate? }`.
   * Off by default. Joins the application's own tracer provider if it has one.
   */
  readonly tracing?: TracingOptions;
  /**
   * Access log of outbound calls as JSON lines (Envoy/Istio fields), written without blocking:
   * `{ destination?: path | fd (default stdout), filter?: 'all' | 'errors', sampleRate? }`. Off by default.
   */
  readonly accessLog?: false | AccessLogOptions;
  /** Largest request body (bytes) kept to replay on retry. Default 64 KiB. */
  readonly replayLimit?: number;
}
