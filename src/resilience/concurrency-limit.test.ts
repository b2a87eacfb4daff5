import { describe, expect, it } from 'vitest';
import { ADMITTED, ConcurrencyLimit, DEFAULT_MAX_PENDING, OVERFLOW, QUEUED, type SlotWaiter } from './concurrency-limit.ts';

function waiter(log: string[], name: string): SlotWaiter {
  return { onSlot: () => log.push(name) };
}

describe('ConcurrencyLimit', () => {
  it('admits up to maxRequests, queues up to maxPendingRequests, refuses the rest', () => {
    const log: string[] = [];
    const limit = new ConcurrencyLimit('reviews', { maxRequests: 2, maxPendingRequests: 1 });
    expect(limit.acquire(waiter(log, 'a'))).toBe(ADMITTED);
    expect(limit.acquire(waiter(log, 'b'))).toBe(ADMITTED);
    expect(limit.acquire(waiter(log, 'c'))).toBe(QUEUED);
    expect(limit.acquire(waiter(log, 'd'))).toBe(OVERFLOW);
    expect(limit.snapshot()).toMatchObject({ active: 2, pending: 1, counters: { admitted: 2, queued: 1, overflow: 1, cancelled: 0 } });
    limit.release(); // the slot passes to c
    expect(log).toEqual(['c']);
    expect(limit.active).toBe(2);
    expect(limit.pending).toBe(0);
    limit.release();
    limit.release();
    expect(limit.active).toBe(0);
  });

  it('takes maxConnections as a bound on calls in flight: the smaller limit applies, and a queue is bounded', () => {
    const log: string[] = [];
    const both = new ConcurrencyLimit('reviews', { maxRequests: 5, maxConnections: 2, maxPendingRequests: 1 });
    expect(both.capacity).toBe(2);
    expect(both.acquire(waiter(log, 'a'))).toBe(ADMITTED);
    expect(both.acquire(waiter(log, 'b'))).toBe(ADMITTED);
    expect(both.acquire(waiter(log, 'c'))).toBe(QUEUED);
    expect(both.acquire(waiter(log, 'd'))).toBe(OVERFLOW);
    expect(both.snapshot()).toMatchObject({ maxRequests: 5, maxConnections: 2, maxPendingRequests: 1 });
    const alone = new ConcurrencyLimit('reviews', { maxConnections: 1 });
    expect(alone.capacity).toBe(1);
    expect(alone.maxRequests).toBe(Infinity);
    expect(alone.maxPendingRequests).toBe(DEFAULT_MAX_PENDING);
    expect(new ConcurrencyLimit('reviews', { maxRequests: 1, maxConnections: 4 }).capacity).toBe(1);
  });

  it('hands slots to waiters in arrival order and skips cancelled ones', () => {
    const log: string[] = [];
    const limit = new ConcurrencyLimit('reviews', { maxRequests: 1, maxPendingRequests: 3 });
    limit.acquire(waiter(log, 'first'));
    const ws = ['x', 'y', 'z'].map((n) => waiter(log, n));
    for (const w of ws) expect(limit.acquire(w)).toBe(QUEUED);
    expect(limit.cancel(ws[1])).toBe(true);
    expect(limit.cancel(ws[1])).toBe(false);
    limit.release();
    limit.release();
    limit.release();
    expect(log).toEqual(['x', 'z']);
    expect(limit.active).toBe(0);
    expect(limit.counters.cancelled).toBe(1);
  });

  it('reuses queue places freed by cancelled waiters in the middle of the queue', () => {
    const log: string[] = [];
    const limit = new ConcurrencyLimit('reviews', { maxRequests: 1, maxPendingRequests: 3 });
    limit.acquire(waiter(log, 'first'));
    const ws = ['a', 'b', 'c'].map((n) => waiter(log, n));
    for (const w of ws) limit.acquire(w);
    limit.cancel(ws[1]);
    expect(limit.acquire(waiter(log, 'd'))).toBe(QUEUED);
    expect(limit.acquire(waiter(log, 'e'))).toBe(OVERFLOW);
    for (let i = 0; i < 4; i++) limit.release();
    expect(log).toEqual(['a', 'c', 'd']);
  });

  it('never queues without bound: maxRequests alone gets a default queue bound', () => {
    const limit = new ConcurrencyLimit('reviews', { maxRequests: 1 });
    expect(limit.maxPendingRequests).toBe(DEFAULT_MAX_PENDING);
    const noop: SlotWaiter = { onSlot() {} };
    limit.acquire(noop);
    let queued = 0;
    while (limit.acquire({ onSlot() {} }) === QUEUED) queued++;
    expect(queued).toBe(DEFAULT_MAX_PENDING);
  });

  it('is unlimited without maxRequests and still counts in-flight calls', () => {
    const limit = new ConcurrencyLimit('reviews', undefined);
    for (let i = 0; i < 10_000; i++) expect(limit.acquire({ onSlot() {} })).toBe(ADMITTED);
    expect(limit.active).toBe(10_000);
    limit.release();
    expect(limit.active).toBe(9_999);
  });
});
