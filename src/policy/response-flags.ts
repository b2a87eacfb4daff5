/**
 * Response flags: short codes telling why enmesh, not the upstream, shaped a
 * response. They use Envoy's names so operators read them as they read
 * Envoy's access logs, and they travel in the {@link RESPONSE_FLAGS_HEADER}
 * response header (several flags comma-separated, e.g. `DI,UT`).
 */
import { isEnmeshError } from '../errors.ts';
import { classifyError } from './retry-classifier.ts';

/** Response header carrying the flags of a response enmesh produced or altered. */
export const RESPONSE_FLAGS_HEADER = 'x-enmesh-response-flags';

export const ResponseFlags = Object.freeze({
  /** UT: the upstream did not answer in time (total or per-try timeout, or the caller's deadline). */
  UPSTREAM_TIMEOUT: 'UT',
  /** UF: no connection could be made to the upstream. */
  UPSTREAM_CONNECT_FAILURE: 'UF',
  /** UR: the upstream reset the connection or stream before answering. */
  UPSTREAM_RESET: 'UR',
  /** URX: the response is a retriable failure but no retry was left (attempts or budget). */
  RETRY_LIMIT_EXCEEDED: 'URX',
  /** NR: no route matched the request. */
  NO_ROUTE: 'NR',
  /** UH: the backend has no healthy endpoint. */
  NO_HEALTHY_UPSTREAM: 'UH',
  /** UO: a circuit breaker or concurrency limit refused the request (overflow). */
  UPSTREAM_OVERFLOW: 'UO',
  /** DI: fault injection delayed the request. */
  DELAY_INJECTED: 'DI',
  /** FI: fault injection aborted the request with a configured status. */
  FAULT_INJECTED: 'FI',
  /** RL: the local rate limit refused the request. */
  RATE_LIMITED: 'RL',
  /** OM: the process shed the request to protect itself (adaptive concurrency). */
  OVERLOADED: 'OM',
  /** DC: the caller gave up (aborted) before the response was complete. */
  DOWNSTREAM_CANCEL: 'DC',
} as const);

export type ResponseFlag = (typeof ResponseFlags)[keyof typeof ResponseFlags];

/** How enmesh answers the application itself when a request fails in the mesh. */
export interface LocalReply {
  /** HTTP status of the local reply. */
  readonly status: number;
  /** gRPC status code for gRPC adapters. */
  readonly grpcStatus: number;
  readonly flag: ResponseFlag;
}

// Preallocated: mapping an error to a reply allocates nothing.
const reply = (status: number, grpcStatus: number, flag: ResponseFlag): LocalReply => Object.freeze({ status, grpcStatus, flag });

/** Local replies by flag (gRPC codes: 4 DEADLINE_EXCEEDED, 8 RESOURCE_EXHAUSTED, 12 UNIMPLEMENTED, 14 UNAVAILABLE). */
export const LocalReplies = Object.freeze({
  UPSTREAM_TIMEOUT: reply(504, 4, 'UT'),
  UPSTREAM_CONNECT_FAILURE: reply(503, 14, 'UF'),
  UPSTREAM_RESET: reply(503, 14, 'UR'),
  RETRY_LIMIT_EXCEEDED: reply(503, 14, 'URX'),
  NO_ROUTE: reply(404, 12, 'NR'),
  NO_HEALTHY_UPSTREAM: reply(503, 14, 'UH'),
  UPSTREAM_OVERFLOW: reply(503, 14, 'UO'),
  RATE_LIMITED: reply(429, 8, 'RL'),
});

/**
 * The local reply for an error that ended a request before any upstream
 * response was delivered, as Envoy would send it: timeouts and expired
 * deadlines give 504 UT, connect failures 503 UF, resets 503 UR, no endpoint
 * 503 UH. Undefined for other errors (including the caller's own abort),
 * which adapters pass to the application unchanged.
 */
export function localReplyForError(err: unknown): LocalReply | undefined {
  if (isEnmeshError(err)) {
    switch (err.code) {
      case 'ENMESH_ERR_TIMEOUT':
      case 'ENMESH_ERR_PER_TRY_TIMEOUT':
      case 'ENMESH_ERR_DEADLINE_EXCEEDED':
        return LocalReplies.UPSTREAM_TIMEOUT;
      case 'ENMESH_ERR_NO_ENDPOINT':
        return LocalReplies.NO_HEALTHY_UPSTREAM;
      case 'ENMESH_ERR_RETRY_BUDGET':
        return LocalReplies.RETRY_LIMIT_EXCEEDED;
      default:
        return undefined;
    }
  }
  switch (classifyError(err)) {
    case 'connect-failure':
      return LocalReplies.UPSTREAM_CONNECT_FAILURE;
    case 'reset':
    case 'refused-stream':
      return LocalReplies.UPSTREAM_RESET;
    default:
      return undefined;
  }
}
