import { isEnmeshError } from '../errors.ts';
import type { RetryPolicyModel } from '../model/types.ts';

/**
 * A retry policy precompiled for the hot path: the `on` list turned into
 * booleans, methods and status codes into Sets, gRPC conditions into a bit
 * mask. Built once per policy; every per-request check is a few comparisons.
 */
export interface CompiledRetryPolicy {
  readonly policy: RetryPolicyModel;
  /** Retries after the first try. */
  readonly attempts: number;
  readonly perTryTimeoutMs: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** `*` in methods: every method may be retried. */
  readonly allMethods: boolean;
  /** Upper-case method names. */
  readonly methods: ReadonlySet<string>;
  readonly on5xx: boolean;
  readonly onGatewayError: boolean;
  readonly onConnectFailure: boolean;
  readonly onRefusedStream: boolean;
  /** `reset`, `5xx` or `gateway-error`: any failure before a response is retried. */
  readonly onTransportFailure: boolean;
  /** Statuses retried whatever the other conditions say. */
  readonly statusCodes: ReadonlySet<number>;
  /** Bit `1 << code` is set for each retriable gRPC status code. */
  readonly grpcMask: number;
  /** At least one condition is configured: per-try timeouts are then retried too. */
  readonly anyCondition: boolean;
}

/** gRPC status codes named by retry conditions. */
export const GRPC_STATUS = Object.freeze({
  CANCELLED: 1,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
});

const GRPC_CONDITION_BITS: Readonly<Record<string, number>> = Object.freeze({
  cancelled: 1 << GRPC_STATUS.CANCELLED,
  'deadline-exceeded': 1 << GRPC_STATUS.DEADLINE_EXCEEDED,
  'resource-exhausted': 1 << GRPC_STATUS.RESOURCE_EXHAUSTED,
  internal: 1 << GRPC_STATUS.INTERNAL,
  unavailable: 1 << GRPC_STATUS.UNAVAILABLE,
});

// Model objects are frozen and shared, so one compilation per policy object suffices.
const compiled = new WeakMap<RetryPolicyModel, CompiledRetryPolicy>();

/** Compiles a retry policy; the result is cached per policy object, so calling it per request is cheap. */
export function compileRetryPolicy(policy: RetryPolicyModel): CompiledRetryPolicy {
  let c = compiled.get(policy);
  if (c === undefined) {
    c = build(policy);
    compiled.set(policy, c);
  }
  return c;
}

function build(policy: RetryPolicyModel): CompiledRetryPolicy {
  const on = new Set<string>(policy.on);
  let grpcMask = 0;
  for (const cond of on) grpcMask |= GRPC_CONDITION_BITS[cond] ?? 0;
  const methods = new Set(policy.methods.map((m) => m.toUpperCase()));
  return Object.freeze({
    policy,
    attempts: Math.max(0, Math.floor(policy.attempts)),
    perTryTimeoutMs: policy.perTryTimeoutMs,
    backoffBaseMs: policy.backoff.baseMs,
    backoffMaxMs: policy.backoff.maxMs,
    allMethods: methods.has('*'),
    methods,
    on5xx: on.has('5xx'),
    onGatewayError: on.has('gateway-error'),
    onConnectFailure: on.has('connect-failure'),
    onRefusedStream: on.has('refused-stream'),
    onTransportFailure: on.has('reset') || on.has('5xx') || on.has('gateway-error'),
    statusCodes: new Set(policy.statusCodes),
    grpcMask,
    anyCondition: on.size > 0 || policy.statusCodes.length > 0,
  });
}

/** True when requests with this method may be retried. `method` is upper-case, as the route tier sees it. */
export function isRetriableMethod(policy: CompiledRetryPolicy, method: string): boolean {
  return policy.allMethods || policy.methods.has(method);
}

/** True when an upstream response with this HTTP status should be retried. */
export function isRetriableStatus(policy: CompiledRetryPolicy, status: number): boolean {
  if (status >= 500 && status <= 599) {
    if (policy.on5xx) return true;
    if (policy.onGatewayError && status >= 502 && status <= 504) return true;
  }
  return policy.statusCodes.size > 0 && policy.statusCodes.has(status);
}

/** True when a gRPC call that ended with this status code should be retried. */
export function isRetriableGrpcStatus(policy: CompiledRetryPolicy, code: number): boolean {
  return code > 0 && code < 31 && (policy.grpcMask & (1 << code)) !== 0;
}

/**
 * What kind of failure an error thrown by a transport is:
 * - `connect-failure`: no connection was made, so the request never left;
 * - `refused-stream`: an HTTP/2 stream the server refused before processing;
 * - `reset`: the connection or stream broke before a response arrived;
 * - `per-try-timeout`: enmesh's own per-try timer fired;
 * - `other`: anything else (including total timeouts, expired deadlines and
 *   cancellation by the caller), never retried.
 */
export type ErrorClass = 'connect-failure' | 'refused-stream' | 'reset' | 'per-try-timeout' | 'other';

const CONNECT_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);
const RESET_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  // No response headers at all within undici's own limit: the "read timeout" case of a reset.
  'UND_ERR_HEADERS_TIMEOUT',
]);

/** Errors wrap errors (fetch's TypeError → undici error → socket error); look this deep at most. */
const MAX_CAUSE_DEPTH = 4;

/** Classifies an error from any transport (undici, fetch, node:http, http2) by its code. */
export function classifyError(err: unknown): ErrorClass {
  let e: unknown = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && typeof e === 'object' && e !== null; depth++) {
    const cls = classifyOne(e as ErrorLike);
    if (cls !== 'other') return cls;
    // Happy-eyeballs connects fail with an AggregateError of one error per address.
    const errors = (e as ErrorLike).errors;
    if (Array.isArray(errors) && errors.length > 0) {
      const first = classifyOne(errors[0] as ErrorLike);
      if (first !== 'other') return first;
    }
    e = (e as ErrorLike).cause;
  }
  return 'other';
}

interface ErrorLike {
  readonly code?: unknown;
  readonly syscall?: unknown;
  readonly message?: unknown;
  readonly cause?: unknown;
  readonly errors?: unknown;
}

function classifyOne(e: ErrorLike): ErrorClass {
  if (e === null || typeof e !== 'object') return 'other';
  const code = e.code;
  if (isEnmeshError(e)) return code === 'ENMESH_ERR_PER_TRY_TIMEOUT' ? 'per-try-timeout' : 'other';
  if (typeof code === 'string') {
    if (CONNECT_CODES.has(code)) return 'connect-failure';
    if (code === 'ETIMEDOUT') return e.syscall === 'connect' ? 'connect-failure' : 'reset';
    if (RESET_CODES.has(code)) return 'reset';
    if (code === 'ERR_HTTP2_STREAM_ERROR' || code === 'NGHTTP2_REFUSED_STREAM') {
      return typeof e.message === 'string' && e.message.includes('REFUSED_STREAM') ? 'refused-stream' : 'reset';
    }
  }
  if (e.message === 'other side closed') return 'reset';
  return 'other';
}

/** True when a transport error should be retried under this policy (the condition check only). */
export function isRetriableError(policy: CompiledRetryPolicy, err: unknown): boolean {
  return isRetriableErrorClass(policy, classifyError(err));
}

/**
 * The condition check for an already classified error. As in Envoy, the
 * conditions nest: `reset` covers every failure before a response (connect
 * failures and refused streams included), and `5xx` / `gateway-error` cover
 * them too, because enmesh answers such a failure with a local 503.
 */
export function isRetriableErrorClass(policy: CompiledRetryPolicy, cls: ErrorClass): boolean {
  switch (cls) {
    case 'connect-failure':
      return policy.onConnectFailure || policy.onTransportFailure;
    case 'refused-stream':
      return policy.onRefusedStream || policy.onTransportFailure;
    case 'reset':
      return policy.onTransportFailure;
    case 'per-try-timeout':
      // As Envoy does: a per-try timeout is retried under any retry condition.
      return policy.anyCondition;
    default:
      return false;
  }
}
