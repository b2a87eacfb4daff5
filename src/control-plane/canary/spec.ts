/**
 * A canary request (`POST /api/v1/canaries`) checked field by field into a
 * spec the controller runs. Every problem is reported at once, named by its
 * field, with what would be accepted.
 */
import { parseDuration } from '../../config/duration.ts';
import { EnmeshError } from '../../errors.ts';
import type { ConfigIssue } from '../../errors.ts';

export interface CanarySpec {
  readonly service: string;
  /** The new version: a subset of the service or a backend service (a key of the route's weights). */
  readonly to: string;
  /** The baseline; resolved from the route when not given. */
  readonly from?: string;
  /** Route name; `default` when not given. */
  readonly route: string;
  /** Canary weights in percent, ascending, each 1..100. */
  readonly steps: readonly number[];
  readonly interval: string;
  readonly intervalMs: number;
  readonly maxErrorRate: number;
  readonly maxP99Ms?: number;
  readonly minRequests: number;
}

export const DEFAULT_STEPS: readonly number[] = Object.freeze([5, 25, 50, 100]);
export const DEFAULT_INTERVAL = '30s';
export const DEFAULT_MAX_ERROR_RATE = 0.01;
export const DEFAULT_MIN_REQUESTS = 20;
/** Below this, a step is shorter than a load report interval can describe. */
const MIN_INTERVAL_MS = 100;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A refused canary request or operation, with the HTTP status that says why. */
export class CanaryRejection extends EnmeshError {
  readonly status: number;

  constructor(status: number, message: string, issues?: readonly ConfigIssue[]) {
    super(status === 400 ? 'ENMESH_ERR_CONFIG_INVALID' : 'ENMESH_ERR_CONTROL_PLANE', message, issues === undefined ? undefined : { issues });
    this.status = status;
  }
}

export function parseCanaryRequest(body: unknown): CanarySpec {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new CanaryRejection(400, 'expected a JSON object like {"service":"reviews","to":"v2"}');
  }
  const b = body as Record<string, unknown>;
  const issues: ConfigIssue[] = [];
  const known = new Set(['service', 'to', 'from', 'route', 'steps', 'interval', 'maxErrorRate', 'maxP99Ms', 'minRequests']);
  for (const key of Object.keys(b)) if (!known.has(key)) issues.push({ path: key, message: `unknown field; expected one of ${[...known].join(', ')}` });

  const name = (key: string, required: boolean): string | undefined => {
    const v = b[key];
    if (v === undefined) {
      if (required) issues.push({ path: key, message: 'required' });
      return undefined;
    }
    if (typeof v !== 'string' || !NAME.test(v)) {
      issues.push({ path: key, message: `expected a name (letters, digits, . _ -), got ${JSON.stringify(v)}` });
      return undefined;
    }
    return v;
  };
  const service = name('service', true);
  const to = name('to', true);
  const from = name('from', false);
  const route = name('route', false) ?? 'default';
  if (to !== undefined && to === from) issues.push({ path: 'to', message: `"to" and "from" are both "${to}"; the canary needs two versions` });

  let steps = DEFAULT_STEPS;
  if (b.steps !== undefined) {
    const s = b.steps;
    if (!Array.isArray(s) || s.length === 0 || s.length > 100 || !s.every((w) => typeof w === 'number' && Number.isInteger(w) && w >= 1 && w <= 100)) {
      issues.push({ path: 'steps', message: `expected a list of whole percentages 1..100, e.g. [5, 25, 50, 100], got ${JSON.stringify(s)}` });
    } else if (s.some((w, i) => i > 0 && (w as number) <= (s[i - 1] as number))) {
      issues.push({ path: 'steps', message: `steps must increase, got ${JSON.stringify(s)}` });
    } else {
      steps = Object.freeze([...(s as number[])]);
    }
  }

  let interval = DEFAULT_INTERVAL;
  let intervalMs = parseDuration(DEFAULT_INTERVAL);
  if (b.interval !== undefined) {
    try {
      intervalMs = parseDuration(b.interval as string);
      interval = b.interval as string;
      if (intervalMs < MIN_INTERVAL_MS) issues.push({ path: 'interval', message: `must be at least ${MIN_INTERVAL_MS}ms, got ${interval}` });
    } catch (err) {
      issues.push({ path: 'interval', message: (err as Error).message });
    }
  }

  let maxErrorRate = DEFAULT_MAX_ERROR_RATE;
  if (b.maxErrorRate !== undefined) {
    const v = b.maxErrorRate;
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) issues.push({ path: 'maxErrorRate', message: `expected a share 0 <= x < 1 (0.01 is 1%), got ${JSON.stringify(v)}` });
    else maxErrorRate = v;
  }

  let maxP99Ms: number | undefined;
  if (b.maxP99Ms !== undefined && b.maxP99Ms !== null) {
    const v = b.maxP99Ms;
    if (typeof v !== 'number' || !(v > 0) || !Number.isFinite(v)) issues.push({ path: 'maxP99Ms', message: `expected milliseconds > 0, got ${JSON.stringify(v)}` });
    else maxP99Ms = v;
  }

  let minRequests = DEFAULT_MIN_REQUESTS;
  if (b.minRequests !== undefined) {
    const v = b.minRequests;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1_000_000) issues.push({ path: 'minRequests', message: `expected a whole number 1..1000000, got ${JSON.stringify(v)}` });
    else minRequests = v;
  }

  if (issues.length > 0 || service === undefined || to === undefined) {
    const first = issues[0];
    throw new CanaryRejection(400, `invalid canary request: ${issues.length === 1 && first !== undefined ? `${first.path}: ${first.message}` : `${issues.length} problems`}`, issues);
  }
  return {
    service,
    to,
    ...(from === undefined ? {} : { from }),
    route,
    steps,
    interval,
    intervalMs,
    maxErrorRate,
    ...(maxP99Ms === undefined ? {} : { maxP99Ms }),
    minRequests,
  };
}
