import { afterEach, describe, expect, it, vi } from 'vitest';
import { EnmeshError } from '../errors.ts';
import { DEFAULT_BACKOFF, IDEMPOTENT_METHODS, type RetryCondition, type RetryPolicyModel } from '../model/types.ts';
import { RetryBudget } from './retry-budget.ts';
import { compileRetryPolicy } from './retry-classifier.ts';
import { NO_RETRY, RetryState } from './retry-plan.ts';

function compiled(extra: Partial<RetryPolicyModel> = {}, on: RetryCondition[] = ['5xx', 'reset', 'connect-failure']) {
  return compileRetryPolicy(
    Object.freeze({
      attempts: 3,
      perTryTimeoutMs: 500,
      on,
      statusCodes: [],
      methods: IDEMPOTENT_METHODS,
      backoff: DEFAULT_BACKOFF,
      budget: { percent: 20, minPerSecond: 10 },
      ...extra,
    }),
  );
}

/** A budget that always has room (nothing else shares it in these tests). */
const roomyBudget = (): RetryBudget => new RetryBudget({ percent: 100, minPerSecond: 1000 }, () => 0);
const coded = (code: string): Error => Object.assign(new Error(code), { code });
const half = (): number => 0.5;

describe('RetryState', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries until a success, with growing jittered backoff', () => {
    const budget = roomyBudget();
    const s = new RetryState(compiled(), budget, 'GET', half);
    expect(s.perTryTimeoutMs).toBe(500);
    expect(s.decideAfterStatus(503, undefined)).toBe(12.5); // 0.5 × 25
    expect(s.decideAfterError(coded('ECONNRESET'))).toBe(25); // 0.5 × 50
    expect(s.retries).toBe(2);
    expect(s.lastReason).toBeUndefined();
    expect(s.decideAfterStatus(200, undefined)).toBe(NO_RETRY);
    expect(s.lastReason).toBe('not-retriable');
    expect(s.exhaustedReason).toBeUndefined();
    expect(budget.retriesInWindow).toBe(2);
  });

  it('stops after `attempts` retries and says so (URX)', () => {
    const s = new RetryState(compiled(), roomyBudget(), 'GET', half);
    const delays = [s.decideAfterStatus(503, undefined), s.decideAfterStatus(503, undefined), s.decideAfterStatus(503, undefined)];
    expect(delays).toEqual([12.5, 25, 50]);
    expect(s.decideAfterStatus(503, undefined)).toBe(NO_RETRY);
    expect(s.lastReason).toBe('attempts-exhausted');
    expect(s.exhaustedReason).toBe('attempts-exhausted');
    expect(s.retries).toBe(3);
  });

  it('does not call a non-retriable final outcome exhausted', () => {
    const s = new RetryState(compiled({ attempts: 1 }), undefined, 'GET', half);
    expect(s.decideAfterStatus(503, undefined)).toBeGreaterThanOrEqual(0);
    expect(s.decideAfterStatus(404, undefined)).toBe(NO_RETRY);
    expect(s.exhaustedReason).toBeUndefined();
  });

  it('caps the backoff at the policy maximum', () => {
    const s = new RetryState(compiled({ attempts: 10 }), undefined, 'GET', () => 0.999_999);
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) delays.push(s.decideAfterStatus(500, undefined));
    expect(Math.max(...delays)).toBeLessThanOrEqual(DEFAULT_BACKOFF.maxMs);
    expect(delays.at(-1)).toBeGreaterThan(DEFAULT_BACKOFF.maxMs - 0.01);
  });

  it('does not retry POST unless the policy lists it, but for a connection that never opened', () => {
    const budget = roomyBudget();
    const post = new RetryState(compiled(), budget, 'POST', half);
    expect(post.decideAfterStatus(503, undefined)).toBe(NO_RETRY);
    expect(post.lastReason).toBe('method');
    expect(post.decideAfterError(coded('ECONNRESET'))).toBe(NO_RETRY);
    expect(post.lastReason).toBe('method');
    expect(budget.retriesInWindow).toBe(0);
    // The request never reached the server: safe to send again whatever the method.
    expect(post.decideAfterError(coded('ECONNREFUSED'))).toBe(12.5);
    expect(budget.retriesInWindow).toBe(1);
    const strict = new RetryState(compiled({}, ['retriable-status-codes']), budget, 'POST', half);
    expect(strict.decideAfterError(coded('ECONNREFUSED'))).toBe(NO_RETRY); // not a condition of this policy
    expect(strict.lastReason).toBe('not-retriable');

    expect(new RetryState(compiled({ methods: ['POST'] }), budget, 'POST', half).decideAfterStatus(503, undefined)).toBe(12.5);
    expect(new RetryState(compiled({ methods: ['*'] }), budget, 'POST', half).decideAfterStatus(503, undefined)).toBe(12.5);
  });

  it('asks the budget last, and stops when it refuses', () => {
    const budget = new RetryBudget({ percent: 0, minPerSecond: 2 }, () => 0); // 2 retries in its first second
    const a = new RetryState(compiled(), budget, 'GET', half);
    expect(a.decideAfterStatus(404, undefined)).toBe(NO_RETRY); // not spent on non-retriable outcomes
    expect(new RetryState(compiled(), budget, 'POST', half).decideAfterStatus(503, undefined)).toBe(NO_RETRY);
    expect(a.decideAfterStatus(503, undefined, 5)).toBe(NO_RETRY); // ...nor when time is short
    expect(a.lastReason).toBe('deadline');
    expect(budget.exhausted).toBe(0);

    expect(a.decideAfterStatus(503, undefined)).toBe(12.5);
    const b = new RetryState(compiled(), budget, 'GET', half);
    expect(b.decideAfterError(coded('ECONNREFUSED'))).toBe(12.5);
    expect(b.decideAfterError(coded('ECONNREFUSED'))).toBe(NO_RETRY);
    expect(b.lastReason).toBe('budget-exhausted');
    expect(b.exhaustedReason).toBe('budget-exhausted');
    expect(budget.exhausted).toBe(1);
  });

  it('waits at least as long as Retry-After asks, if time allows', () => {
    const s = new RetryState(compiled(), undefined, 'GET', half);
    expect(s.decideAfterStatus(503, '2')).toBe(2000);
    expect(s.decideAfterStatus(503, '2', 1500)).toBe(NO_RETRY);
    expect(s.lastReason).toBe('deadline');
    expect(s.decideAfterStatus(503, 'garbage', 1500)).toBe(25); // falls back to backoff
    vi.useFakeTimers({ now: Date.UTC(2025, 0, 1, 0, 0, 0) });
    expect(s.decideAfterStatus(503, 'Wed, 01 Jan 2025 00:00:03 GMT')).toBe(3000);
  });

  it('retries errors by condition, and per-try timeouts under any condition', () => {
    const connectOnly = (): RetryState => new RetryState(compiled({}, ['connect-failure']), undefined, 'GET', half);
    expect(connectOnly().decideAfterError(coded('ECONNREFUSED'))).toBe(12.5);
    const s = connectOnly();
    expect(s.decideAfterError(coded('ECONNRESET'))).toBe(NO_RETRY);
    expect(s.lastReason).toBe('not-retriable');
    expect(connectOnly().decideAfterError(new EnmeshError('ENMESH_ERR_PER_TRY_TIMEOUT', 'x'))).toBe(12.5);
    expect(connectOnly().decideAfterError(new EnmeshError('ENMESH_ERR_TIMEOUT', 'x'))).toBe(NO_RETRY);
    expect(connectOnly().decideAfterError(new EnmeshError('ENMESH_ERR_PER_TRY_TIMEOUT', 'x'), 0)).toBe(NO_RETRY);
  });

  it('retries gRPC statuses and honours server pushback', () => {
    const grpc = (): RetryState => new RetryState(compiled({ methods: ['*'] }, ['unavailable']), undefined, 'POST', half);
    expect(grpc().decideAfterGrpcStatus(14, undefined)).toBe(12.5);
    expect(grpc().decideAfterGrpcStatus(2, undefined)).toBe(NO_RETRY);
    expect(grpc().decideAfterGrpcStatus(14, '700')).toBe(700);
    expect(grpc().decideAfterGrpcStatus(14, '0')).toBe(0); // replaces the backoff
    const s = grpc();
    expect(s.decideAfterGrpcStatus(14, '-1')).toBe(NO_RETRY);
    expect(s.lastReason).toBe('pushback');
    expect(grpc().decideAfterGrpcStatus(14, 'soon')).toBe(NO_RETRY);
  });

  it('never retries without a policy or with attempts: 0', () => {
    const none = new RetryState(undefined, undefined, 'GET');
    expect(none.decideAfterStatus(503, undefined)).toBe(NO_RETRY);
    expect(none.lastReason).toBe('disabled');
    expect(none.perTryTimeoutMs).toBe(0);
    const zero = new RetryState(compiled({ attempts: 0 }), undefined, 'GET');
    expect(zero.decideAfterError(coded('ECONNREFUSED'))).toBe(NO_RETRY);
    expect(zero.lastReason).toBe('disabled');
  });

  it('drives a whole retry loop on fake timers', async () => {
    vi.useFakeTimers({ now: 0 });
    const budget = roomyBudget();
    const outcomes = [503, 502, 200];
    const sentAt: number[] = [];
    const state = new RetryState(compiled(), budget, 'GET', () => 0.8);
    const deadline = 1000;

    const loop = (async () => {
      for (;;) {
        sentAt.push(Date.now());
        const status = outcomes[sentAt.length - 1];
        if (status < 500) return status;
        const delay = state.decideAfterStatus(status, undefined, deadline - Date.now());
        if (delay === NO_RETRY) return status;
        await new Promise((r) => setTimeout(r, delay));
      }
    })();
    await vi.runAllTimersAsync();
    expect(await loop).toBe(200);
    expect(sentAt).toEqual([0, 20, 60]); // 0.8 of the backoff caps, 25 then 50 ms
    expect(state.retries).toBe(2);
  });
});
