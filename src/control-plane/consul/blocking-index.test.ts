import { describe, expect, it } from 'vitest';
import { nextIndex } from './blocking-index.ts';

describe('nextIndex', () => {
  it('moves forward with the index Consul returned', () => {
    expect(nextIndex(0, 17)).toBe(17);
    expect(nextIndex(17, 17)).toBe(17);
    expect(nextIndex(17, 42)).toBe(42);
  });
  it('resets to 0 when the index goes backwards', () => {
    expect(nextIndex(42, 7)).toBe(0);
  });
  it('never blocks on an index below 1', () => {
    expect(nextIndex(42, 0)).toBe(1);
    expect(nextIndex(0, 0)).toBe(1);
    expect(nextIndex(5, Number.NaN)).toBe(1);
    expect(nextIndex(5, -3)).toBe(1);
  });
});
