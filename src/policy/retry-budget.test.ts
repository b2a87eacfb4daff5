import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_BACKOFF, IDEMPOTENT_METHODS, type RetryPolicyModel } from '../model/types.ts';
import { BUDGET_WINDOW_SECONDS, RetryBudget } from './retry-budget.ts';
import { compileRetryPolicy } from './retry-classifier.ts';
import { RetryState } from './retry-plan.ts';

function clock(start = 0): { now: () => number; set(ms: number): void } {
  let t = start;
  return { now: () => t, set: (ms) => void (t = ms) };
}

describe('RetryBudget', () => {
  it('always allows minPerSecond × window retries, then refuses and counts exhaustion', () => {
    const c = clock();
    const budget = new RetryBudget({ percent: 20, minPerSecond: 10 }, c.now);
    for (let i = 0; i < 10 * BUDGET_WINDOW_SECONDS; i++) expect(budget.tryAcquireRetry()).toBe(true);
    expect(budget.tryAcquireRetry()).toBe(false);
    expect(budget.tryAcquireRetry()).toBe(false);
    expect(budget.exhausted).toBe(2);
    expect(budget.retriesInWindow).toBe(100);
  });

  it('uses the larger of floor and percentage, not their sum', () => {
    const c = clock();
    const budget = new RetryBudget({ percent: 20, minPerSecond: 10 }, c.now);
    for (let i = 0; i < 1000; i++) budget.recordRequest();
    let granted = 0;
    while (budget.tryAcquireRetry()) granted++;
    expect(granted).toBe(200); // max(100, 0.2 × 1000); a sum would give 300

    const small = new RetryBudget({ percent: 20, minPerSecond: 10 }, c.now);
    for (let i = 0; i < 100; i++) small.recordRequest();
    granted = 0;
    while (small.tryAcquireRetry()) granted++;
    expect(granted).toBe(100); // the floor wins over 0.2 × 100
  });

  it('forgets requests and retries older than the window, one bucket at a time', () => {
    const c = clock(5_000);
    const budget = new RetryBudget({ percent: 50, minPerSecond: 0 }, c.now);
    for (let i = 0; i < 100; i++) budget.recordRequest(); // second 5
    c.set(7_500);
    for (let i = 0; i < 40; i++) budget.recordRequest(); // second 7
    let granted = 0;
    while (budget.tryAcquireRetry()) granted++;
    expect(granted).toBe(70);
    expect(budget.exhausted).toBe(1);

    c.set(14_999); // second 14: second 5 is still in the window
    expect(budget.requestsInWindow).toBe(140);
    expect(budget.tryAcquireRetry()).toBe(false);

    c.set(15_000); // second 15: second 5 has left the window
    expect(budget.requestsInWindow).toBe(40);
    expect(budget.retriesInWindow).toBe(70); // granted in second 7, they stay until it leaves
    c.set(16_999);
    expect(budget.retriesInWindow).toBe(70);
    c.set(17_000);
    expect(budget.requestsInWindow).toBe(0);
    expect(budget.retriesInWindow).toBe(0);
  });

  it('keeps retries in the bucket of the second they were granted in', () => {
    const c = clock(0);
    const budget = new RetryBudget({ percent: 100, minPerSecond: 0 }, c.now);
    for (let i = 0; i < 10; i++) budget.recordRequest();
    c.set(3_000);
    for (let i = 0; i < 4; i++) expect(budget.tryAcquireRetry()).toBe(true);
    c.set(9_999);
    expect(budget.retriesInWindow).toBe(4);
    c.set(10_000);
    expect(budget.requestsInWindow).toBe(0);
    expect(budget.retriesInWindow).toBe(4);
    c.set(13_000);
    expect(budget.retriesInWindow).toBe(0);
  });

  it('clears everything after a gap longer than the window, and tolerates a clock stepping back', () => {
    const c = clock(0);
    const budget = new RetryBudget({ percent: 10, minPerSecond: 0 }, c.now);
    for (let i = 0; i < 50; i++) budget.recordRequest();
    c.set(60_000);
    expect(budget.requestsInWindow).toBe(0);
    budget.recordRequest();
    c.set(59_000);
    budget.recordRequest();
    expect(budget.requestsInWindow).toBe(2);
  });
});

describe('RetryBudget against a backend failing every request', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const policy: RetryPolicyModel = Object.freeze<RetryPolicyModel>({
    attempts: 3,
    perTryTimeoutMs: 0,
    on: ['5xx'],
    statusCodes: [],
    methods: IDEMPOTENT_METHODS,
    backoff: DEFAULT_BACKOFF,
    budget: { percent: 20, minPerSecond: 10 },
  });

  /**
   * Offers `rps` requests per second for `seconds`; every attempt gets a 503
   * at once and the retry loop runs on fake timers. Returns upstream attempts
   * per second.
   */
  function simulate(rps: number, seconds: number): number[] {
    vi.useFakeTimers({ now: 0 });
    const budget = new RetryBudget(policy.budget, () => Date.now());
    const compiled = compileRetryPolicy(policy);
    const perSecond = new Array<number>(seconds).fill(0);
    let seed = 7;
    const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;

    const attempt = (state: RetryState): void => {
      const second = Math.floor(Date.now() / 1000);
      if (second < seconds) perSecond[second]++;
      const delay = state.decideAfterStatus(503, undefined);
      if (delay >= 0) setTimeout(() => attempt(state), delay);
    };
    const interval = 1000 / rps;
    for (let i = 0; i < rps * seconds; i++) {
      setTimeout(() => {
        budget.recordRequest();
        attempt(new RetryState(compiled, budget, 'GET', random));
      }, i * interval);
    }
    vi.advanceTimersByTime(seconds * 1000);
    return perSecond;
  }

  it('keeps upstream attempts within 1.2× the offered load at 200 rps with attempts=3', () => {
    const rps = 200;
    const perSecond = simulate(rps, 30);
    const sum = (from: number, to: number): number => perSecond.slice(from, to).reduce((a, b) => a + b, 0);
    const total = sum(0, 30);
    expect(total).toBeLessThanOrEqual(1.2 * rps * 30);
    // The budget is used, not refused outright: well above the offered load.
    expect(total).toBeGreaterThan(1.15 * rps * 30);
    // The bound holds over every 10-second window (with a sum instead of a max
    // as the floor, it would be 1.25×)...
    for (let s = 0; s + BUDGET_WINDOW_SECONDS <= 30; s++) {
      expect(sum(s, s + BUDGET_WINDOW_SECONDS), `window from second ${s}`).toBeLessThanOrEqual(1.2 * rps * BUDGET_WINDOW_SECONDS);
    }
    // ...while a single second may go higher when a burst of old retries leaves the
    // window (here the floor-funded burst of the first second), but never past the floor's worth.
    for (let s = 0; s < 30; s++) expect(perSecond[s], `second ${s}`).toBeLessThanOrEqual(rps + 10 * BUDGET_WINDOW_SECONDS);
  });

  it('lets the floor decide at low load', () => {
    // 20 rps × 20 % = 4 retries/s, but the floor allows 10/s.
    const perSecond = simulate(20, 30);
    const steady = perSecond.slice(BUDGET_WINDOW_SECONDS).reduce((a, b) => a + b, 0) / (30 - BUDGET_WINDOW_SECONDS);
    expect(steady).toBeGreaterThan(28);
    expect(steady).toBeLessThanOrEqual(31);
  });
});
