import type { TracingOptions } from './telemetry/tracing.ts';
import type { AccessLogOptions } from './telemetry/access-log.ts';
import type { ConsulRegistrationOptions } from './control-plane/consul/sdk-registration.ts';
import type { SecurityOptions } from './security/mesh-security.ts';

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
  /**
   * Workload identity and mTLS: with a token (`enmesh token create --service <name>`), this
   * process gets an SVID from the control plane's CA and, unless `mesh.mtls` is `disabled`,
   * speaks mTLS to mesh endpoints and on its own HTTP server. `ENMESH_TOKEN`,
   * `ENMESH_TOKEN_FILE`, `ENMESH_CA_URL`, `ENMESH_SVID_DIR`. See docs/security.md.
   */
  readonly security?: SecurityOptions;
  /**
   * Register this instance in Consul (agent service with a TTL or HTTP check; removed on close)
   * instead of with the control plane: `{ address, token?, check?: 'ttl' | 'http' }`. Needs
   * `service.name` and `service.port`. `ENMESH_CONSUL`, `ENMESH_CONSUL_TOKEN`, `ENMESH_CONSUL_CHECK`. See docs/consul.md.
   */
  readonly consul?: ConsulRegistrationOptions;
  /** Largest request body (bytes) kept to replay on retry. Default 64 KiB. */
  readonly replayLimit?: number;
}
