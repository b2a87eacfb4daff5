import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import {
  MAX_INBOUND_TIMEOUT_MS,
  TIMEOUT_HEADER,
  currentDeadline,
  deadlineExpired,
  deadlineStorage,
  effectiveTimeout,
  outboundTimeoutHeader,
  runWithDeadline,
  scopeFromInboundHeader,
} from './deadline.ts';

describe('scopeFromInboundHeader', () => {
  it('turns remaining milliseconds into an absolute deadline', () => {
    expect(TIMEOUT_HEADER).toBe('x-enmesh-timeout-ms');
    expect(scopeFromInboundHeader('250', 1000)).toEqual({ deadline: 1250 });
    expect(scopeFromInboundHeader(' 40 ', 10.5)).toEqual({ deadline: 50.5 });
    expect(scopeFromInboundHeader('0', 1000)).toEqual({ deadline: 1000 });
  });

  it('ignores a missing, negative or malformed value', () => {
    for (const v of [undefined, '', ' ', '-5', '1.5', '1e3', '100ms', '10, 20', 'abc', '0x10']) {
      expect(scopeFromInboundHeader(v, 1000).deadline, String(v)).toBe(Infinity);
    }
  });

  it('caps what a caller may ask for', () => {
    expect(scopeFromInboundHeader(String(MAX_INBOUND_TIMEOUT_MS + 1), 0).deadline).toBe(MAX_INBOUND_TIMEOUT_MS);
    expect(scopeFromInboundHeader('99999999999999999999999999', 0).deadline).toBe(MAX_INBOUND_TIMEOUT_MS);
    expect(scopeFromInboundHeader('5000', 0, 2000).deadline).toBe(2000);
  });
});

describe('request scope', () => {
  it('has no deadline outside a request', () => {
    expect(currentDeadline()).toBe(Infinity);
    expect(deadlineExpired(1e12)).toBe(false);
  });

  it('follows the handler across awaits and timers', async () => {
    const seen = await deadlineStorage.run(scopeFromInboundHeader('100', 5000), async () => {
      await Promise.resolve();
      const afterAwait = currentDeadline();
      await sleep(1);
      const afterTimer = await new Promise<number>((resolve) => setImmediate(() => resolve(currentDeadline())));
      return [afterAwait, afterTimer];
    });
    expect(seen).toEqual([5100, 5100]);
    expect(currentDeadline()).toBe(Infinity);
  });

  it('keeps concurrent requests apart', async () => {
    const run = (ms: string): Promise<number> =>
      deadlineStorage.run(scopeFromInboundHeader(ms, 0), async () => {
        await sleep(Number(ms) % 3);
        return currentDeadline();
      });
    expect(await Promise.all([run('10'), run('20'), run('30')])).toEqual([10, 20, 30]);
  });

  it('lets nested scopes shorten the deadline but never extend it', () => {
    deadlineStorage.run({ deadline: 1000 }, () => {
      runWithDeadline(500, () => {
        expect(currentDeadline()).toBe(500);
        runWithDeadline(800, () => expect(currentDeadline()).toBe(500));
      });
      runWithDeadline(2000, () => expect(currentDeadline()).toBe(1000));
      expect(currentDeadline()).toBe(1000);
      // A raw nested run replaces the scope (an inbound request inside another's handler).
      deadlineStorage.run({ deadline: 3000 }, () => expect(currentDeadline()).toBe(3000));
      expect(currentDeadline()).toBe(1000);
    });
    runWithDeadline(700, () => expect(currentDeadline()).toBe(700));
  });

  it('reports an expired deadline', () => {
    deadlineStorage.run({ deadline: 1000 }, () => {
      expect(deadlineExpired(999)).toBe(false);
      expect(deadlineExpired(1000)).toBe(true);
    });
  });
});

describe('effectiveTimeout', () => {
  it('is the route timeout outside a deadline (0 = none)', () => {
    expect(effectiveTimeout(2000, 0)).toEqual({ timeoutMs: 2000, fromDeadline: false });
    expect(effectiveTimeout(0, 0)).toEqual({ timeoutMs: 0, fromDeadline: false });
    deadlineStorage.run({ deadline: Infinity }, () => expect(effectiveTimeout(300, 0)).toEqual({ timeoutMs: 300, fromDeadline: false }));
  });

  it('takes the smaller of route timeout and remaining deadline', () => {
    deadlineStorage.run({ deadline: 1100 }, () => {
      expect(effectiveTimeout(2000, 1000)).toEqual({ timeoutMs: 100, fromDeadline: true });
      expect(effectiveTimeout(50, 1000)).toEqual({ timeoutMs: 50, fromDeadline: false });
      expect(effectiveTimeout(100, 1000)).toEqual({ timeoutMs: 100, fromDeadline: false });
      expect(effectiveTimeout(0, 1000)).toEqual({ timeoutMs: 100, fromDeadline: true });
      expect(effectiveTimeout(0, 1000.4)).toEqual({ timeoutMs: 100, fromDeadline: true });
    });
  });

  it('never says "no timeout" for an expired deadline', () => {
    deadlineStorage.run({ deadline: 1000 }, () => {
      expect(effectiveTimeout(0, 1000)).toEqual({ timeoutMs: 1, fromDeadline: true });
      expect(effectiveTimeout(500, 1200)).toEqual({ timeoutMs: 1, fromDeadline: true });
    });
  });
});

describe('outboundTimeoutHeader', () => {
  it('sends whole remaining milliseconds, rounded down', () => {
    expect(outboundTimeoutHeader(Infinity, 0)).toBeUndefined();
    expect(outboundTimeoutHeader(2234.9, 1000)).toBe('1234');
    expect(outboundTimeoutHeader(1000, 1000)).toBe('0');
    expect(outboundTimeoutHeader(900, 1000)).toBe('0');
  });

  it('round-trips through the next hop', () => {
    const hop1 = scopeFromInboundHeader('800', 10_000);
    const header = outboundTimeoutHeader(hop1.deadline, 10_300);
    expect(header).toBe('500');
    // The next hop has its own clock; only the remaining time matters.
    expect(scopeFromInboundHeader(header, 77).deadline).toBe(577);
  });
});
