import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CircuitBreakerModel } from '../model/types.ts';
import { CircuitBreaker } from './circuit-breaker.ts';

const MODEL: CircuitBreakerModel = { errorThresholdPercent: 50, volumeThreshold: 10, windowMs: 10_000, resetTimeoutMs: 5_000, halfOpenRequests: 1 };

let breaker: CircuitBreaker | undefined;
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  breaker?.close();
  breaker = undefined;
  vi.useRealTimers();
});

function make(model: Partial<CircuitBreakerModel> = {}): CircuitBreaker {
  breaker = new CircuitBreaker('reviews', { ...MODEL, ...model });
  return breaker;
}

/** Sends `n` requests through the breaker, failing those `fail(i)` picks; returns how many were admitted. */
function send(b: CircuitBreaker, n: number, fail: (i: number) => boolean): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) {
    if (!b.tryAcquire()) continue;
    admitted++;
    if (fail(i)) b.onFailure();
    else b.onSuccess();
  }
  return admitted;
}

describe('CircuitBreaker', () => {
  it('opens when failures exceed the threshold within the window, and then refuses', () => {
    const b = make();
    send(b, 10, (i) => i < 5); // exactly 50 %: not above the threshold
    expect(b.state).toBe('closed');
    send(b, 1, () => true); // 6 of 11
    expect(b.state).toBe('open');
    expect(b.tryAcquire()).toBe(false);
    expect(b.counters).toMatchObject({ opened: 1, rejected: 1 });
  });

  it('does not open below the volume threshold, however bad the ratio', () => {
    const b = make();
    send(b, 9, () => true);
    expect(b.state).toBe('closed');
    send(b, 1, () => true);
    expect(b.state).toBe('open');
  });

  it('forgets failures older than the window', () => {
    const b = make();
    send(b, 9, () => true);
    vi.advanceTimersByTime(10_000); // the whole window has rolled over
    send(b, 9, (i) => i < 4);
    expect(b.state).toBe('closed');
    expect(b.snapshot()).toMatchObject({ requests: 9, failures: 4 });
  });

  it('rolls the window bucket by bucket', () => {
    const b = make();
    send(b, 6, () => true); // at t = 0
    vi.advanceTimersByTime(5_000);
    send(b, 6, () => false); // at t = 5 s: 6 of 12 failed
    vi.advanceTimersByTime(5_000); // t = 10 s: the first bucket leaves
    expect(b.snapshot()).toMatchObject({ requests: 6, failures: 0 });
  });

  it('half-opens after the reset timeout, lets one probe through, and closes on its success', () => {
    const b = make();
    send(b, 10, () => true);
    expect(b.state).toBe('open');
    vi.advanceTimersByTime(4_999);
    expect(b.state).toBe('open');
    vi.advanceTimersByTime(1);
    expect(b.state).toBe('half-open');
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false); // one probe at a time
    b.onSuccess();
    expect(b.state).toBe('closed');
    expect(b.counters).toMatchObject({ opened: 1, halfOpened: 1, closed: 1 });
    // A fresh window: the failures that opened it are gone.
    expect(b.snapshot()).toMatchObject({ requests: 0, failures: 0 });
  });

  it('reopens when the probe fails, and half-opens again after another reset timeout', () => {
    const b = make();
    send(b, 10, () => true);
    vi.advanceTimersByTime(5_000);
    expect(b.tryAcquire()).toBe(true);
    b.onFailure();
    expect(b.state).toBe('open');
    vi.advanceTimersByTime(5_000);
    expect(b.state).toBe('half-open');
    expect(b.counters.opened).toBe(2);
  });

  it('frees the probe slot of a cancelled probe', () => {
    const b = make({ halfOpenRequests: 2 });
    send(b, 10, () => true);
    vi.advanceTimersByTime(5_000);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false);
    b.onCancel();
    expect(b.tryAcquire()).toBe(true);
  });

  it('never blocks once closed with its config', () => {
    const b = make();
    send(b, 10, () => true);
    b.close();
    expect(b.tryAcquire()).toBe(true);
  });
});
