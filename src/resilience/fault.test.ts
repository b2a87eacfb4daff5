import { describe, expect, it } from 'vitest';
import { seeded } from '../../test/helpers/seeded.ts';
import { FAULT_ABORT, FAULT_DELAY, FAULT_NONE, FaultInjector, type FaultRequest } from './fault.ts';

const plain: FaultRequest = { header: () => undefined };
const flagged: FaultRequest = { header: (n) => (n === 'x-enmesh-fault' ? '1' : undefined) };

describe('FaultInjector', () => {
  it('delays and aborts the configured percentages within ±3 % over 2,000 requests', () => {
    const f = new FaultInjector('reviews/default', { delay: { percent: 10, durationMs: 100 }, abort: { percent: 25, status: 503 } }, seeded(7));
    let delays = 0;
    let aborts = 0;
    for (let i = 0; i < 2_000; i++) {
      const d = f.decide(plain);
      if ((d & FAULT_DELAY) !== 0) delays++;
      if ((d & FAULT_ABORT) !== 0) aborts++;
      if (d !== FAULT_NONE) f.release();
    }
    expect(Math.abs(delays / 2_000 - 0.1)).toBeLessThan(0.03);
    expect(Math.abs(aborts / 2_000 - 0.25)).toBeLessThan(0.03);
    expect(f.counters).toEqual({ delays, aborts, overflow: 0 });
    expect(f.delayMs).toBe(100);
    expect(f.abortStatus).toBe(503);
  });

  it('holds across seeds (the bound is not a lucky draw)', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const f = new FaultInjector('r', { abort: { percent: 50, status: 500 } }, seeded(seed));
      let aborts = 0;
      for (let i = 0; i < 2_000; i++) if (f.decide(plain) === FAULT_ABORT) (aborts++, f.release());
      expect(Math.abs(aborts / 2_000 - 0.5)).toBeLessThan(0.03);
    }
  });

  it('applies only to requests carrying the gate header when one is configured', () => {
    const f = new FaultInjector('r', { abort: { percent: 100, status: 503 }, header: 'x-enmesh-fault' });
    expect(f.decide(plain)).toBe(FAULT_NONE);
    expect(f.decide(flagged)).toBe(FAULT_ABORT);
  });

  it('never has more than maxActive faults in progress', () => {
    const f = new FaultInjector('r', { delay: { percent: 100, durationMs: 1_000 }, maxActive: 2 });
    expect([f.decide(plain), f.decide(plain), f.decide(plain)]).toEqual([FAULT_DELAY, FAULT_DELAY, FAULT_NONE]);
    expect(f.snapshot()).toMatchObject({ active: 2, maxActive: 2, counters: { delays: 2, overflow: 1 } });
    f.release();
    expect(f.decide(plain)).toBe(FAULT_DELAY);
  });

  it('injects nothing at 0 %', () => {
    const f = new FaultInjector('r', { delay: { percent: 0, durationMs: 5 }, abort: { percent: 0, status: 500 } }, () => 0);
    expect(f.decide(plain)).toBe(FAULT_NONE);
  });
});
