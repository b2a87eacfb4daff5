import { describe, expect, it } from 'vitest';
import { headerValue, toHeaderRecord } from './headers.ts';

describe('toHeaderRecord', () => {
  it('accepts every undici header shape with lower-case names', () => {
    expect(toHeaderRecord({ 'X-A': '1', 'x-b': ['2', '3'], n: 4 })).toEqual({ 'x-a': '1', 'x-b': ['2', '3'], n: '4' });
    expect(toHeaderRecord(['X-A', '1', 'x-a', '2'])).toEqual({ 'x-a': ['1', '2'] });
    expect(toHeaderRecord([['X-A', '1']])).toEqual({ 'x-a': '1' });
    expect(toHeaderRecord(new Map([['X-A', '1']]))).toEqual({ 'x-a': '1' });
    expect(toHeaderRecord(null)).toEqual({});
  });

  it('joins several values for matching', () => {
    expect(headerValue({ a: ['1', '2'] }, 'a')).toBe('1, 2');
    expect(headerValue({}, 'a')).toBeUndefined();
  });
});
