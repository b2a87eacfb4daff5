/**
 * The config model: the one immutable description of the mesh that every
 * policy reads. It is built from mesh.yaml (local-file mode) or from xDS
 * (control-plane mode); policies never see YAML or xDS messages.
 *
 * All durations are milliseconds. All objects are frozen after construction
 * (see `finalizeModel` in finalize.ts), so a model may be shared freely between requests.
 */

export type MtlsMode = 'disabled' | 'permissive' | 'strict';
export type Protocol = 'http' | 'grpc';
export type LoadBalancerKind = 'round-robin' | 'random' | 'least-request' | 'ring-hash' | 'peak-ewma';
export type Labels = Readonly<Record<string, string>>;

export interface MeshModel {
  /** Content version: equal content gives an equal version string. */
  readonly version: string;
  /** Where the model came from, for error messages and the admin API (a file path or `xds`). */
  readonly source: string;
  readonly mesh: MeshSettings;
  /** Services by name, in declaration order. */
  readonly services: ReadonlyMap<string, ServiceModel>;
  readonly policies: PoliciesModel;
}

export interface MeshSettings {
  readonly name: string;
  readonly trustDomain: string;
  readonly mtls: MtlsMode;
}

export interface EndpointModel {
  /** IP literal or host name, without port. */
  readonly host: string;
  readonly port: number;
  readonly labels: Labels;
  /** Relative weight for balancing, >= 1. Default 1. */
  readonly weight: number;
  /** Locality zone; empty string when unknown. */
  readonly zone: string;
  /** False when health information says the endpoint must not get traffic. */
  readonly healthy: boolean;
  /** An operator drained it (EDS health DRAINING): listed, but no new requests; `healthy` is then false. */
  readonly draining?: boolean;
  /** Where this endpoint came from: `static` (mesh.yaml), `registered` (self-registration), `consul`. */
  readonly origin: 'static' | 'registered' | 'consul';
}

export interface HashOn {
  readonly header?: string;
  readonly cookie?: string;
  readonly sourceIp?: boolean;
}

export interface ConnectionPoolModel {
  readonly maxRequests?: number;
  readonly maxPendingRequests?: number;
  readonly maxConnections?: number;
}

export interface OutlierDetectionModel {
  readonly consecutive5xx: number;
  readonly consecutiveGatewayErrors?: number;
  readonly consecutiveLocalOriginFailures?: number;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionPercent: number;
  /** Longest ejection however often an endpoint was ejected; absent: 300 s (Envoy's default). */
  readonly maxEjectionTimeMs?: number;
  /** Success-rate ejection, reviewed every interval; off when absent. */
  readonly successRate?: SuccessRateModel;
  /** Below this share (0..100) of available endpoints, ejected ones get traffic again (panic); absent: 50. */
  readonly panicThresholdPercent?: number;
}

export interface SuccessRateModel {
  /** Endpoints with enough requests needed before any is judged. */
  readonly minimumHosts: number;
  /** Requests an endpoint needs in one interval to be judged. */
  readonly requestVolume: number;
  /** Ejected below mean - stdevFactor × standard deviation of the success rates. */
  readonly stdevFactor: number;
}

export interface RateLimitModel {
  readonly requestsPerSecond: number;
  readonly burst: number;
  readonly scope: 'local' | 'global';
  /** Who enforces it: each calling process (`client`, default) or the service's own instances (`server`, inbound). */
  readonly side?: 'client' | 'server';
  /** Extra buckets for slices of the traffic; a request must pass every bucket that applies to it. */
  readonly descriptors?: readonly RateLimitDescriptorModel[];
}

export interface RateLimitDescriptorModel {
  /** What the bucket is keyed by. */
  readonly by: 'source-service' | 'header' | 'path' | 'route';
  /** Lower-case header name, for `by: header`. */
  readonly header?: string;
  /** Only this value is limited (a prefix for `path`); absent: one bucket per distinct value. */
  readonly value?: string;
  readonly requestsPerSecond: number;
  readonly burst: number;
}

/** A rolling-window circuit breaker over the whole service (all endpoints). */
export interface CircuitBreakerModel {
  /** Opens when failures exceed this share (0..100) of the requests in the window. */
  readonly errorThresholdPercent: number;
  /** Requests the window must hold before it may open. */
  readonly volumeThreshold: number;
  readonly windowMs: number;
  /** Time open before probing (half-open). */
  readonly resetTimeoutMs: number;
  /** Probe requests let through while half-open. */
  readonly halfOpenRequests: number;
}

/** Inbound concurrency limit that adapts to latency and event-loop delay (gradient algorithm). */
export interface AdaptiveConcurrencyModel {
  /** Count what would be shed, shed nothing. */
  readonly dryRun: boolean;
  readonly initialLimit: number;
  readonly minLimit: number;
  readonly maxLimit: number;
  /** How often the limit is recomputed. */
  readonly intervalMs: number;
  /** Latency growth tolerated before the limit shrinks (1.5: 50 % over the long-term average). */
  readonly tolerance: number;
  /** Event-loop delay (p99) above which the limit shrinks whatever the latency says; 0: ignore. */
  readonly maxEventLoopDelayMs: number;
}

export interface ServiceModel {
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
  readonly endpoints: readonly EndpointModel[];
  /** Subset name to the labels an endpoint must carry to be in it. */
  readonly subsets: ReadonlyMap<string, Labels>;
  readonly loadBalancer: LoadBalancerKind;
  readonly hashOn?: HashOn;
  readonly connectionPool?: ConnectionPoolModel;
  readonly outlierDetection?: OutlierDetectionModel;
  readonly rateLimit?: RateLimitModel;
  readonly circuitBreaker?: CircuitBreakerModel;
  readonly adaptiveConcurrency?: AdaptiveConcurrencyModel;
  /** Faults injected into requests this service receives (chaos testing of its own instances). */
  readonly inboundFault?: FaultPolicyModel;
  /** First match wins. Never empty: a service without routes gets one default route. */
  readonly routes: readonly RouteModel[];
}

// ---- matching -------------------------------------------------------------

export type StringMatch =
  | { readonly kind: 'exact'; readonly value: string }
  | { readonly kind: 'prefix'; readonly value: string }
  | { readonly kind: 'suffix'; readonly value: string }
  | { readonly kind: 'regex'; readonly value: string }
  | { readonly kind: 'present' }
  | { readonly kind: 'absent' };

export interface NamedMatch {
  /** Header names are lower-case. */
  readonly name: string;
  readonly match: StringMatch;
}

export interface RouteMatchModel {
  /** Path match; only exact, prefix and regex are used for paths. Absent: any path. */
  readonly path?: StringMatch;
  /** Upper-case methods; empty: any method. For gRPC, method matching uses `path`. */
  readonly methods: readonly string[];
  readonly headers: readonly NamedMatch[];
  readonly query: readonly NamedMatch[];
}

// ---- actions --------------------------------------------------------------

export interface BackendRef {
  /** Target service; defaults to the service the route belongs to. */
  readonly service: string;
  /** Subset name; absent means all endpoints of the service. */
  readonly subset?: string;
  /** Relative weight; all backends of a route share one scale. */
  readonly weight: number;
}

export type RetryCondition =
  | '5xx'
  | 'gateway-error'
  | 'reset'
  | 'connect-failure'
  | 'retriable-status-codes'
  | 'refused-stream'
  // gRPC status conditions
  | 'cancelled'
  | 'deadline-exceeded'
  | 'internal'
  | 'resource-exhausted'
  | 'unavailable';

/** Every retry condition, in the order documented. */
export const RETRY_CONDITIONS: readonly RetryCondition[] = Object.freeze([
  '5xx',
  'gateway-error',
  'reset',
  'connect-failure',
  'retriable-status-codes',
  'refused-stream',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
] as const);

export interface RetryBudgetModel {
  /** Retries allowed as a percentage of active/recent requests. Default 20. */
  readonly percent: number;
  /** Retries always allowed per second, whatever the percentage says. Default 10. */
  readonly minPerSecond: number;
}

export interface RetryPolicyModel {
  /** Retries after the first try (as Istio's `attempts`). 0 disables retries. */
  readonly attempts: number;
  /** Per-try timeout; 0 means none (the route timeout still applies). */
  readonly perTryTimeoutMs: number;
  readonly on: readonly RetryCondition[];
  /** Extra status codes retried when `retriable-status-codes` is in `on` (or always, when listed). */
  readonly statusCodes: readonly number[];
  /** Methods that may be retried. Default: idempotent methods (GET HEAD OPTIONS PUT DELETE TRACE). */
  readonly methods: readonly string[];
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
  readonly budget: RetryBudgetModel;
}

export interface HedgePolicyModel {
  readonly delayMs: number;
  /** Total attempts in flight at most, including the first. */
  readonly maxAttempts: number;
  /** Hedge after this latency percentile (e.g. 95) of the backend; `delayMs` is then the floor. */
  readonly percentile?: number;
}

export interface MirrorPolicyModel {
  readonly service: string;
  readonly subset?: string;
  /** 0..100 */
  readonly percent: number;
}

export interface FaultPolicyModel {
  readonly delay?: { readonly percent: number; readonly durationMs: number };
  readonly abort?: { readonly percent: number; readonly status: number };
  /** When set, faults apply only to requests carrying this header. */
  readonly header?: string;
  /** Faulted requests in progress at most; beyond it requests pass untouched. */
  readonly maxActive?: number;
}

export interface HeaderMutationModel {
  /** Lower-case names to values; replaces existing values. */
  readonly set: readonly (readonly [string, string])[];
  /** Lower-case names to values; appended to existing values. */
  readonly add: readonly (readonly [string, string])[];
  /** Lower-case names to remove. */
  readonly remove: readonly string[];
}

export interface RedirectModel {
  readonly scheme?: 'http' | 'https';
  readonly host?: string;
  readonly port?: number;
  /** Replace the whole path (query kept unless `stripQuery`). */
  readonly path?: string;
  /** Replace the matched path prefix. */
  readonly prefixRewrite?: string;
  readonly status: 301 | 302 | 303 | 307 | 308;
  readonly stripQuery: boolean;
}

export interface DirectResponseModel {
  readonly status: number;
  readonly body: string;
  readonly headers: readonly (readonly [string, string])[];
}

export interface RouteModel {
  readonly name: string;
  readonly match: RouteMatchModel;
  /** Exactly one of backends / redirect / directResponse is set. */
  readonly backends?: readonly BackendRef[];
  readonly redirect?: RedirectModel;
  readonly directResponse?: DirectResponseModel;
  /** Replace the matched path prefix before forwarding (route must match on a prefix). */
  readonly rewritePrefix?: string;
  /** Total timeout across all tries; 0 means none. */
  readonly timeoutMs: number;
  readonly retries?: RetryPolicyModel;
  readonly hedge?: HedgePolicyModel;
  readonly mirror?: MirrorPolicyModel;
  readonly fault?: FaultPolicyModel;
  readonly requestHeaders?: HeaderMutationModel;
  readonly responseHeaders?: HeaderMutationModel;
}

// ---- policies -------------------------------------------------------------

export interface AuthorizationSource {
  readonly service?: string;
  readonly principal?: string;
  readonly namespace?: string;
  /** The verified JWT's `<iss>/<sub>` (pattern). */
  readonly requestPrincipal?: string;
}

export interface AuthorizationOperation {
  readonly methods: readonly string[];
  readonly paths: readonly string[];
  /** Lower-case header name → pattern; every one must match. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** `when` condition: `request.auth.claims[name]`, `request.auth.principal`, `request.headers[name]` or `source.principal`. */
export interface AuthorizationCondition {
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

export interface AuthorizationPolicyModel {
  readonly name: string;
  readonly target: string;
  readonly action: 'allow' | 'deny';
  readonly dryRun: boolean;
  readonly from: readonly AuthorizationSource[];
  readonly to: readonly AuthorizationOperation[];
  /** All must hold. */
  readonly when?: readonly AuthorizationCondition[];
}

export interface AuthenticationPolicyModel {
  readonly name: string;
  readonly target: string;
  readonly jwt: {
    readonly issuer: string;
    readonly jwksUri?: string;
    readonly jwks?: unknown;
    readonly audiences: readonly string[];
  };
}

export interface PoliciesModel {
  readonly authorization: readonly AuthorizationPolicyModel[];
  readonly authentication: readonly AuthenticationPolicyModel[];
}

/** Methods retried by default: the idempotent ones (RFC 9110 §9.2.2). */
export const IDEMPOTENT_METHODS: readonly string[] = Object.freeze(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

export const DEFAULT_RETRY_BUDGET: RetryBudgetModel = Object.freeze({ percent: 20, minPerSecond: 10 });
export const DEFAULT_BACKOFF = Object.freeze({ baseMs: 25, maxMs: 250 });
