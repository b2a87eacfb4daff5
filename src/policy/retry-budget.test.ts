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
  it('accrues the floor at minPerSecond per second of history, capped at the window, and counts exhaustion', () => {
    const c = clock(3_000);
    const budget = new RetryBudget({ percent: 20, minPerSecond: 10 }, c.now);
    const drain = (): number => {
      let n = 0;
      while (budget.tryAcquireRetry()) n++;
      return n;
    };
    // The first second of traffic: one second of floor, not the whole window's worth.
    expect(drain()).toBe(10);
    expect(budget.exhausted).toBe(1);
    expect(budget.tryAcquireRetry()).toBe(false);
    expect(budget.exhausted).toBe(2);
    // Each further second adds minPerSecond, whether or not it is spent at once.
    c.set(4_000);
    expect(drain()).toBe(10);
    c.set(7_500); // seconds 3..7: five seconds of history, 20 already spent
    expect(drain()).toBe(30);
    expect(budget.retriesInWindow).toBe(50);
    c.set(12_000); // seconds 3..12: the full window, 100
    expect(drain()).toBe(50);
    // Past the window the floor stays at minPerSecond × window: the retries of second 3 left with it.
    c.set(13_000);
    expect(budget.retriesInWindow).toBe(90);
    expect(drain()).toBe(10);
    expect(budget.retriesInWindow).toBe(100);
  });

  it('starts the accrual again once the window has been idle long enough to be empty', () => {
    const c = clock(0);
    const budget = new RetryBudget({ percent: 20, minPerSecond: 10 }, c.now);
    budget.recordRequest(); // second 0 starts the history
    c.set(9_000);
    // Second 0 still in the window: ten seconds of history.
    let granted = 0;
    while (budget.tryAcquireRetry()) granted++;
    expect(granted).toBe(100);

    // Idle until every bucket has left one at a time (second 9's retries leave at second 19).
    c.set(15_000);
    expect(budget.retriesInWindow).toBe(100);
    c.set(19_000);
    expect(budget.retriesInWindow).toBe(0);
    granted = 0;
    while (budget.tryAcquireRetry()) granted++;
    expect(granted).toBe(10);

    // The same after one jump longer than the window.
    c.set(60_000);
    budget.recordRequest();
    granted = 0;
    while (budget.tryAcquireRetry()) granted++;
    expect(granted).toBe(10);
  });

  it('gives a low-traffic service minPerSecond retries in its first second', () => {
    const c = clock(123_456);
    const budget = new RetryBudget({ percent: 20, minPerSecond: 3 }, c.now);
    budget.recordRequest();
    expect(budget.tryAcquireRetry()).toBe(true);
    expect(budget.tryAcquireRetry()).toBe(true);
    expect(budget.tryAcquireRetry()).toBe(true);
    expect(budget.tryAcquireRetry()).toBe(false);
  });

  it('uses the larger of floor and percentage, not their sum', () => {
    const c = clock();
    const budget = new RetryBudget({ percent: 20, minPerSecond: 10 }, c.now);
    budget.recordRequest();
    c.set(9_000); // ten seconds of history: the floor is 100
    for (let i = 0; i < 999; i++) budget.recordRequest();
    let granted = 0;
    while (budget.tryAcquireRetry()) granted++;
    expect(granted).toBe(200); // max(100, 0.2 × 1000); a sum would give 300

    const small = new RetryBudget({ percent: 20, minPerSecond: 10 }, c.now);
    small.recordRequest(); // second 9
    c.set(18_000);
    for (let i = 0; i < 99; i++) small.recordRequest();
    granted = 0;
    while (small.tryAcquireRetry()) granted++;
    expect(granted).toBe(100); // the floor wins over 0.2 × 100

    const fresh = new RetryBudget({ percent: 20, minPerSecond: 10 }, c.now);
    for (let i = 0; i < 100; i++) fresh.recordRequest();
    granted = 0;
    while (fresh.tryAcquireRetry()) granted++;
    expect(granted).toBe(20); // first second: max(10, 0.2 × 100)
  });

  it('holds a storm of 200 failing requests/s for 30 s to 20 % of the requests, wherever in a clock second it starts', () => {
    for (let start = 1_000_000; start < 1_001_000; start += 50) {
      const c = clock(start - 123_000); // constructed long before the storm
      const budget = new RetryBudget({ percent: 20, minPerSecond: 10 }, c.now);
      let requests = 0;
      let retries = 0;
      // Every 5 ms one request, and each failure asks for up to 3 retries at once (all fail too).
      for (let i = 0; i < 200 * 30; i++) {
        c.set(start + i * 5);
        budget.recordRequest();
        requests++;
        for (let r = 0; r < 3 && budget.tryAcquireRetry(); r++) retries++;
      }
      expect(requests).toBe(6000);
      // Exactly: a floor granted whole for a part-second of requests would add up to 10, a
      // fractional allowance rounded up 1 per window.
      expect(retries, `storm starting at ${start} ms`).toBeLessThanOrEqual(0.2 * requests);
      // The budget is spent, not refused outright.
      expect(retries).toBeGreaterThanOrEqual(0.2 * requests - 10);
      expect(budget.exhausted).toBeGreaterThan(0);
    }
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
    // The bound holds over every 10-second window (with a sum instead of a max as the floor, it
    // would be 1.25×), give or take the retries granted at the end of the second before and sent
    // a backoff (≤ 250 ms) later: at most 20 % of 250 ms of requests...
    for (let s = 0; s + BUDGET_WINDOW_SECONDS <= 30; s++) {
      expect(sum(s, s + BUDGET_WINDOW_SECONDS), `window from second ${s}`).toBeLessThanOrEqual(1.2 * rps * BUDGET_WINDOW_SECONDS + 0.2 * rps * 0.25);
    }
    // ...and, with the floor accruing by the second instead of granted whole at the start, no
    // single second gets a burst beyond one second's floor either.
    for (let s = 0; s < 30; s++) expect(perSecond[s], `second ${s}`).toBeLessThanOrEqual(1.2 * rps + 10);
  });

  it('lets the floor decide at low load', () => {
    // 20 rps × 20 % = 4 retries/s, but the floor allows 10/s.
    const perSecond = simulate(20, 30);
    const steady = perSecond.slice(BUDGET_WINDOW_SECONDS).reduce((a, b) => a + b, 0) / (30 - BUDGET_WINDOW_SECONDS);
    expect(steady).toBeGreaterThan(28);
    expect(steady).toBeLessThanOrEqual(31);
  });
});
