import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import { parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['2s', 2000],
    ['1m', 60_000],
    ['1.5s', 1500],
    ['1h', 3_600_000],
    ['0s', 0],
    ['0ms', 0],
    ['0.5ms', 1],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5', ' 2s', '10 s', '-1s', '1d', 's', '1.s', '.5s', '1e3ms', 'abc', '2S', '1s2ms', '99999999999999999999h'])(
    'rejects %j',
    (text) => {
      try {
        parseDuration(text);
        expect.unreachable();
      } catch (err) {
        expect(isEnmeshError(err) && err.code).toBe('ENMESH_ERR_CONFIG_INVALID');
        expect((err as Error).message).toContain(JSON.stringify(text));
      }
    },
  );

  it('rejects non-strings', () => {
    expect(() => parseDuration(5 as unknown as string)).toThrow(/invalid duration 5/);
  });
});
