/**
 * The resilience policies, transport-neutral: each is a small state machine
 * the outbound call or the inbound hook consults and reports to. See
 * docs/resilience.md for where each one plugs in.
 *
 * The global (Redis) rate limiter is not re-exported here: loading ioredis
 * costs tens of milliseconds at startup, so import `./global-rate-limiter.ts`
 * dynamically, only when a `scope: global` limit is configured.
 */
export { AdaptiveConcurrencyLimiter, type AdaptiveCounters, type AdaptiveOptions, type AdaptiveSnapshot, type EventLoopDelaySource } from './adaptive-concurrency.ts';
export { CircuitBreaker, type BreakerCounters, type BreakerSnapshot, type BreakerState } from './circuit-breaker.ts';
export {
  ADMITTED,
  ConcurrencyLimit,
  DEFAULT_MAX_PENDING,
  OVERFLOW,
  QUEUED,
  type AcquireResult,
  type ConcurrencyCounters,
  type ConcurrencySnapshot,
  type SlotWaiter,
} from './concurrency-limit.ts';
export { FAULT_ABORT, FAULT_DELAY, FAULT_NONE, FaultInjector, type FaultCounters, type FaultRequest, type FaultSnapshot } from './fault.ts';
export { HedgePolicy, HedgeTimer, NO_HEDGE, type HedgeCounters, type HedgeSnapshot } from './hedge.ts';
export { LatencyHistogram, type LatencyHistogramOptions } from './latency-histogram.ts';
export { Mirror, shadowHeaders, shadowHost, type MirrorCounters, type MirrorOptions, type MirrorRequest, type MirrorSender, type MirrorSnapshot } from './mirror.ts';
export {
  OutlierDetector,
  outcomeForError,
  outcomeForGrpcStatus,
  outcomeForStatus,
  type EjectedEndpoint,
  type EjectionReason,
  type Outcome,
  type OutlierCounters,
  type OutlierSnapshot,
} from './outlier-detector.ts';
export { descriptorKey, retryAfterSeconds, type RateLimitRequest } from './rate-limit-descriptors.ts';
export { LocalRateLimiter, type LocalRateLimiterOptions, type RateLimitCounters, type RateLimitSnapshot } from './rate-limiter.ts';
export { TokenBucket } from './token-bucket.ts';
