import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.ts';

describe('TokenBucket', () => {
  it('starts full, refuses when empty with the wait for the next token, refills at the rate', () => {
    const b = new TokenBucket(10, 3, 0);
    expect([b.take(0), b.take(0), b.take(0)]).toEqual([0, 0, 0]);
    expect(b.take(0)).toBe(100);
    expect(b.take(40)).toBe(60);
    expect(b.take(100)).toBe(0);
    expect(b.take(100)).toBe(100);
  });

  it('never holds more than burst, however long it was idle', () => {
    const b = new TokenBucket(10, 3, 0);
    b.take(0);
    expect(b.refill(1_000_000)).toBe(3);
    expect(b.isFull(1_000_000)).toBe(true);
  });

  it('supports rates below one per second', () => {
    const b = new TokenBucket(0.5, 1, 0);
    expect(b.take(0)).toBe(0);
    expect(b.take(0)).toBe(2_000);
    expect(b.take(1_999)).toBe(1);
    expect(b.take(2_000)).toBe(0);
  });
});
