import type { TracingOptions } from './telemetry/tracing.ts';
import type { AccessLogOptions } from './telemetry/access-log.ts';
import type { ConsulRegistrationOptions } from './control-plane/consul/sdk-registration.ts';
import type { SecurityOptions } from './security/mesh-security.ts';

/**
 * Options of {@link init}. `init()` without options takes them from `ENMESH_*` environment variables
 * instead (src/env.ts, docs/getting-started.md); given options, it reads none. The variables cover
 * `service` (`ENMESH_SERVICE`, `ENMESH_PORT`, `ENMESH_LABELS`, `ENMESH_ZONE`, `ENMESH_HOST`),
 * `config`, `controlPlane`, `xdsMode`, `redis`, `metrics.port`, tracing's `exporter` (not `memory`),
 * `endpoint` and `sampleRate`, security's `token`, `tokenFile`, `caUrl` and `writeFiles`, and
 * `consul`. The others have none: `hooks`, `watch`, `replayLimit`, `accessLog`, `metrics.host`, the
 * other tracing options (`serviceName`, `propagation`, `register`, `headers`) and security options
 * (`caFile`, `ttl`, `startTimeoutMs`).
 */
export interface InitOptions {
  /**
   * This process's own service: how it is named, and (with a control plane) how it registers.
   * `ENMESH_SERVICE`, `ENMESH_PORT`, `ENMESH_LABELS`, `ENMESH_ZONE`, `ENMESH_HOST`.
   */
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
  /** Which transports to hook. Default: all. With all false, use `mesh.interceptor()` / `mesh.dispatcher` yourself. No variable. */
  readonly hooks?: { readonly undici?: boolean; readonly http?: boolean; readonly grpc?: boolean };
  /** Watch the config file for changes. Default true. No variable. */
  readonly watch?: boolean;
  /**
   * Redis URL for `rateLimit.scope: global` (buckets shared by every replica).
   * Without it, global limits are enforced per process. `ENMESH_REDIS_URL`.
   */
  readonly redis?: string;
  /**
   * Serve Prometheus metrics (Istio's standard request metrics and `enmesh_*`)
   * at `/metrics` and `/stats/prometheus`. Given at all, even `{}`, it starts
   * the server: on `port` (default 15090, Istio's; 0 picks a free one) and
   * `host` (default 127.0.0.1). Absent or false: requests are still counted,
   * and `mesh.metrics()` returns the text for a server of your own.
   * `ENMESH_METRICS_PORT` sets `port`; `host` has no variable. `maxLabelSets`:
   * distinct label sets kept for the request metrics (default 2000; no variable).
   */
  readonly metrics?: false | { readonly port?: number; readonly host?: string; readonly maxLabelSets?: number };
  /**
   * Distributed tracing (OpenTelemetry; W3C traceparent and B3 read and written):
   * `{ exporter: 'otlp' | 'zipkin' | 'console' | 'memory', endpoint?, sampleRate? }`.
   * Off by default. Joins the application's own tracer provider if it has one. Spans are
   * named for `service.name` (else `unknown`) unless `serviceName` is given.
   * `ENMESH_TRACING`, `ENMESH_TRACING_ENDPOINT`, `ENMESH_TRACING_SAMPLE_RATE`.
   */
  readonly tracing?: TracingOptions;
  /**
   * Access log of outbound calls and inbound requests as JSON lines (Envoy/Istio fields), written
   * without blocking: `{ destination?: path | fd (default stdout), filter?: 'all' | 'errors', sampleRate? }`.
   * Off by default. No variable.
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
  /** Largest request body (bytes) kept to replay on retry. Default 64 KiB. No variable. */
  readonly replayLimit?: number;
}
