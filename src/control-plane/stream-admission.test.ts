import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import { DEFAULT_STREAM_ADMISSION, StreamAdmission, pacedDetails } from './stream-admission.ts';

/** A clock the test moves by hand. */
function manualClock(start = 5_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/** Admits as many as it will at this instant; returns how many. */
function drain(a: StreamAdmission, connected: number, max = 10_000): number {
  let n = 0;
  while (n < max && a.tryAdmit(connected)) n++;
  return n;
}

describe('StreamAdmission', () => {
  it('admits the floor per second on a fresh control plane, then refuses and counts the rest', () => {
    const clock = manualClock();
    const a = new StreamAdmission({}, clock.now);
    expect(DEFAULT_STREAM_ADMISSION).toEqual({ floor: 20, ratio: 0.2 });
    expect(drain(a, 0)).toBe(20);
    expect(a.tryAdmit(0)).toBe(false);
    expect(a.tryAdmit(0)).toBe(false);
    expect(a.paced).toBe(3); // the 21st, refused inside drain(), and these two
  });

  it('grows the allowance with the connected streams: max(floor, ratio × connected)', () => {
    const a = new StreamAdmission({ floor: 20, ratio: 0.2 }, manualClock().now);
    expect(a.limit(0)).toBe(20);
    expect(a.limit(100)).toBe(20);
    expect(a.limit(104)).toBe(20);
    expect(a.limit(105)).toBe(21);
    expect(a.limit(1000)).toBe(200);
    expect(drain(a, 1000)).toBe(200);
  });

  it('frees a bucket only once it is more than a second old', () => {
    const clock = manualClock(10_000); // the start of a bucket
    const a = new StreamAdmission({ floor: 10, ratio: 0 }, clock.now);
    expect(drain(a, 0)).toBe(10);
    clock.advance(999);
    expect(a.tryAdmit(0)).toBe(false);
    clock.advance(1); // 1000 ms: the bucket of the first ten still counts (it may have ended at 10 099 ms)
    expect(a.tryAdmit(0)).toBe(false);
    clock.advance(100); // 1100 ms: it has left the window
    expect(drain(a, 0)).toBe(10);
  });

  it('never lets a 1 s window hold more than the limit, wherever the window is placed', () => {
    const clock = manualClock(0);
    const a = new StreamAdmission({ floor: 7, ratio: 0 }, clock.now);
    const admitted: number[] = [];
    // An attempt every 13 ms for 20 s: the limit binds all the time.
    for (let t = 0; t < 20_000; t += 13) {
      if (a.tryAdmit(0)) admitted.push(t);
      clock.advance(13);
    }
    let busiest = 0;
    for (let i = 0, j = 0; i < admitted.length; i++) {
      while (admitted[i]! - admitted[j]! >= 1000) j++;
      busiest = Math.max(busiest, i - j + 1);
    }
    expect(busiest).toBe(7);
    // And it does pace, not starve: about 7 per 1.1 s on average.
    expect(admitted.length).toBeGreaterThan(20 * 7 * 0.8);
    expect(a.paced).toBe(Math.ceil(20_000 / 13) - admitted.length);
  });

  it('slides bucket by bucket: counts leave the window in the order they came', () => {
    const clock = manualClock(0);
    const a = new StreamAdmission({ floor: 6, ratio: 0 }, clock.now);
    for (let i = 0; i < 3; i++) {
      expect(drain(a, 0, 2)).toBe(2); // two in each of buckets 0, 1, 2
      clock.advance(100);
    }
    expect(a.tryAdmit(0)).toBe(false); // 300 ms: six in the window
    clock.advance(800); // 1100 ms: bucket 0 left
    expect(drain(a, 0)).toBe(2);
    clock.advance(100); // 1200 ms: bucket 1 left
    expect(drain(a, 0)).toBe(2);
  });

  it('starts over after a long quiet time, and tolerates a clock that steps back', () => {
    const clock = manualClock();
    const a = new StreamAdmission({ floor: 5, ratio: 0 }, clock.now);
    expect(drain(a, 0)).toBe(5);
    clock.advance(60_000);
    expect(drain(a, 0)).toBe(5);
    clock.advance(-5_000);
    expect(a.tryAdmit(0)).toBe(false);
  });

  it('tells whether it refused a stream recently', () => {
    const clock = manualClock();
    const a = new StreamAdmission({ floor: 1, ratio: 0 }, clock.now);
    expect(a.pacedWithin(1000)).toBe(false);
    expect(a.tryAdmit(0)).toBe(true);
    expect(a.pacedWithin(1000)).toBe(false);
    expect(a.tryAdmit(0)).toBe(false);
    clock.advance(999);
    expect(a.pacedWithin(1000)).toBe(true);
    clock.advance(1);
    expect(a.pacedWithin(1000)).toBe(false);
  });

  it('floor 0 turns pacing off, whatever the ratio', () => {
    const a = new StreamAdmission({ floor: 0, ratio: 0.2 }, manualClock().now);
    expect(a.enabled).toBe(false);
    expect(drain(a, 0, 5000)).toBe(5000);
    expect(a.paced).toBe(0);
  });

  it('refuses bad settings with an error naming the setting and its range', () => {
    for (const [options, name] of [
      [{ floor: -1 }, 'floor'],
      [{ floor: 2.5 }, 'floor'],
      [{ floor: Number.NaN }, 'floor'],
      [{ ratio: -0.1 }, 'ratio'],
      [{ ratio: Number.POSITIVE_INFINITY }, 'ratio'],
      [{ ratio: 11 }, 'ratio'],
    ] as const) {
      let caught: unknown;
      try {
        new StreamAdmission(options);
      } catch (err) {
        caught = err;
      }
      expect(isEnmeshError(caught), JSON.stringify(options)).toBe(true);
      expect((caught as Error).message).toMatch(new RegExp(`admission ${name} must be .* from 0`));
    }
  });

  it('tells a paced client what happened and what to do', () => {
    expect(pacedDetails(20)).toBe('control plane is admitting at most 20 new xDS streams per second; retry with backoff');
  });
});
