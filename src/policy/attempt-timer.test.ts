import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import { cancelTimer, deadlineExceededError, perTryTimeoutError, startTimer, totalTimeoutError } from './attempt-timer.ts';
import { localReplyForError } from './response-flags.ts';

describe('startTimer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('fires once after the timeout, not before', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    const t = startTimer(500, fired);
    expect(t).toBeDefined();
    vi.advanceTimersByTime(499);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(10_000);
    expect(fired).toHaveBeenCalledTimes(1);
    cancelTimer(t); // after firing: harmless
  });

  it('does not fire once cancelled', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    const t = startTimer(100, fired);
    vi.advanceTimersByTime(50);
    cancelTimer(t);
    vi.advanceTimersByTime(1000);
    expect(fired).not.toHaveBeenCalled();
    cancelTimer(undefined);
  });

  it('starts nothing for "no timeout"', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    for (const ms of [0, -5, Number.NaN, Infinity]) expect(startTimer(ms, fired), String(ms)).toBeUndefined();
    vi.advanceTimersByTime(100_000);
    expect(fired).not.toHaveBeenCalled();
  });

  it('does not keep the process alive', () => {
    const t = startTimer(60_000, () => {});
    expect(t?.hasRef()).toBe(false);
    cancelTimer(t);
  });

  it('clamps delays Node cannot represent instead of firing at once', async () => {
    const fired = vi.fn();
    const t = startTimer(2 ** 40, fired);
    await sleep(20);
    expect(fired).not.toHaveBeenCalled();
    cancelTimer(t);
  });
});

describe('timeout errors', () => {
  it('carry a stable code, the route and the budget, and map to 504 UT', () => {
    const cases = [
      [totalTimeoutError('reviews/default', 2000), 'ENMESH_ERR_TIMEOUT', '2000 ms'],
      [perTryTimeoutError('reviews/default', 500), 'ENMESH_ERR_PER_TRY_TIMEOUT', '500 ms'],
      [deadlineExceededError('reviews/default', 120), 'ENMESH_ERR_DEADLINE_EXCEEDED', '120 ms'],
    ] as const;
    for (const [err, code, budget] of cases) {
      expect(isEnmeshError(err)).toBe(true);
      expect(err.code).toBe(code);
      expect(err.message).toContain('"reviews/default"');
      expect(err.message).toContain(budget);
      expect(localReplyForError(err)).toEqual({ status: 504, grpcStatus: 4, flag: 'UT' });
    }
  });
});
