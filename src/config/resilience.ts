/**
 * Readers for the resilience keys of a service that go beyond the basic
 * shapes: circuit breaker, adaptive concurrency, success-rate outlier
 * ejection and rate-limit descriptors. Split from validate.ts so each file
 * stays about one part of mesh.yaml.
 */
import type {
  AdaptiveConcurrencyModel,
  CircuitBreakerModel,
  RateLimitDescriptorModel,
  SuccessRateModel,
} from '../model/types.ts';
import { compact } from './check.ts';
import type { Checker } from './check.ts';
import type { KeyPath } from './issues.ts';
import { TOKEN } from './routes.ts';

const MAX_INT = 2_147_483_647;
const BREAKER_KEYS = ['errorThresholdPercent', 'volumeThreshold', 'window', 'resetTimeout', 'halfOpenRequests'];
const ADAPTIVE_KEYS = ['dryRun', 'initialLimit', 'minLimit', 'maxLimit', 'interval', 'tolerance', 'maxEventLoopDelay'];
const SUCCESS_RATE_KEYS = ['minimumHosts', 'requestVolume', 'stdevFactor'];
const DESCRIPTOR_KEYS = ['by', 'header', 'value', 'requestsPerSecond', 'burst'];
const DESCRIPTOR_KINDS = ['source-service', 'header', 'path', 'route'] as const;

/** A duration that must be longer than 0. */
function positiveDuration(c: Checker, value: unknown, at: KeyPath): number | undefined {
  const ms = c.duration(value, at);
  if (ms === 0) c.report(at, `${String(at[at.length - 1])} must be longer than 0s`);
  return ms;
}

export function readCircuitBreaker(c: Checker, value: unknown, at: KeyPath): CircuitBreakerModel | undefined {
  const m = c.mapping(value, at, BREAKER_KEYS);
  if (m === undefined) return undefined;
  return {
    errorThresholdPercent: c.percent(m.errorThresholdPercent, [...at, 'errorThresholdPercent']) ?? 50,
    volumeThreshold: c.int(m.volumeThreshold, [...at, 'volumeThreshold'], 1, MAX_INT, 'an integer') ?? 20,
    windowMs: positiveDuration(c, m.window, [...at, 'window']) ?? 10_000,
    resetTimeoutMs: positiveDuration(c, m.resetTimeout, [...at, 'resetTimeout']) ?? 30_000,
    halfOpenRequests: c.int(m.halfOpenRequests, [...at, 'halfOpenRequests'], 1, 1000, 'an integer') ?? 1,
  };
}

export function readAdaptiveConcurrency(c: Checker, value: unknown, at: KeyPath): AdaptiveConcurrencyModel | undefined {
  const m = c.mapping(value, at, ADAPTIVE_KEYS);
  if (m === undefined) return undefined;
  const minLimit = c.int(m.minLimit, [...at, 'minLimit'], 1, MAX_INT, 'an integer') ?? 1;
  const maxLimit = c.int(m.maxLimit, [...at, 'maxLimit'], 1, MAX_INT, 'an integer') ?? 1000;
  if (minLimit > maxLimit) c.report([...at, 'minLimit'], `minLimit (${minLimit}) must not exceed maxLimit (${maxLimit})`);
  const initial = c.int(m.initialLimit, [...at, 'initialLimit'], 1, MAX_INT, 'an integer');
  if (initial !== undefined && (initial < minLimit || initial > maxLimit)) {
    c.report([...at, 'initialLimit'], `initialLimit (${initial}) must lie between minLimit (${minLimit}) and maxLimit (${maxLimit})`);
  }
  return {
    dryRun: c.bool(m.dryRun, [...at, 'dryRun']) ?? false,
    initialLimit: initial ?? Math.min(maxLimit, Math.max(minLimit, 20)),
    minLimit,
    maxLimit,
    intervalMs: positiveDuration(c, m.interval, [...at, 'interval']) ?? 250,
    tolerance: c.number(m.tolerance, [...at, 'tolerance'], 1, 100, 'a factor') ?? 1.5,
    // A threshold compared with measured delay, not a timer: no timer limit.
    maxEventLoopDelayMs: c.duration(m.maxEventLoopDelay, [...at, 'maxEventLoopDelay'], Number.MAX_SAFE_INTEGER) ?? 100,
  };
}

export function readSuccessRate(c: Checker, value: unknown, at: KeyPath): SuccessRateModel | undefined {
  const m = c.mapping(value, at, SUCCESS_RATE_KEYS);
  if (m === undefined) return undefined;
  return {
    minimumHosts: c.int(m.minimumHosts, [...at, 'minimumHosts'], 1, MAX_INT, 'an integer') ?? 5,
    requestVolume: c.int(m.requestVolume, [...at, 'requestVolume'], 1, MAX_INT, 'an integer') ?? 100,
    stdevFactor: c.number(m.stdevFactor, [...at, 'stdevFactor'], 0, 100, 'a factor') ?? 1.9,
  };
}

export function readRateLimitDescriptors(c: Checker, value: unknown, at: KeyPath): RateLimitDescriptorModel[] | undefined {
  const list = c.list(value, at, 'rate-limit descriptors');
  if (list === undefined) return undefined;
  const out: RateLimitDescriptorModel[] = [];
  list.forEach((raw, i) => {
    const here: KeyPath = [...at, i];
    const m = c.mapping(raw, here, DESCRIPTOR_KEYS);
    if (m === undefined) return;
    const by = c.oneOf(c.required(m, 'by', here, DESCRIPTOR_KINDS.join(' | ')), [...here, 'by'], DESCRIPTOR_KINDS);
    let header: string | undefined;
    if (by === 'header') {
      header = c.pattern(c.required(m, 'header', here, 'the header name, e.g. x-user'), [...here, 'header'], TOKEN, 'a header name like x-user')?.toLowerCase();
    } else if (m.header !== undefined) {
      c.report([...here, 'header'], `header is only used with by: header (this descriptor is by: ${String(m.by)})`);
    }
    const v = c.string(m.value, [...here, 'value'], 'the value to limit');
    if (by === 'path' && v !== undefined && !v.startsWith('/')) c.report([...here, 'value'], `a path value is a prefix starting with /, got "${v}"`);
    const rps = c.number(c.required(m, 'requestsPerSecond', here, 'the sustained rate, e.g. 10'), [...here, 'requestsPerSecond'], 0.001, 1e9, 'a rate');
    out.push(
      compact<RateLimitDescriptorModel>({
        by: by ?? 'route',
        header,
        value: v,
        requestsPerSecond: rps ?? 1,
        burst: c.int(m.burst, [...here, 'burst'], 1, MAX_INT, 'an integer') ?? Math.max(1, Math.ceil(rps ?? 1)),
      }),
    );
  });
  return out;
}
