import { afterEach, describe, expect, it, vi } from 'vitest';
import { BlockingWatch } from './blocking-watch.ts';
import type { QueryResult } from './client.ts';
import { SourceStatus } from './source-status.ts';

/** A scripted Consul: each read gets the next answer (or error); the index each read sent is recorded. */
function scripted(answers: (QueryResult<string> | Error)[]) {
  const sent: number[] = [];
  const delivered: [string | undefined, number][] = [];
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const status = new SourceStatus('consul', 'test');
  const ups: boolean[] = [];
  status.onChange((v) => ups.push(v.up));
  const watch = new BlockingWatch<string>({
    name: 'w',
    status,
    backoff: { baseMs: 1, maxMs: 2 },
    read: async (index) => {
      sent.push(index);
      const next = answers.shift();
      if (next === undefined) {
        done();
        return new Promise<never>(() => {});
      }
      if (next instanceof Error) throw next;
      return next;
    },
    onResult: (body, index) => delivered.push([body, index]),
  });
  return { sent, delivered, finished, watch, ups };
}

const ok = (index: number, body: string): QueryResult<string> => ({ index, knownLeader: true, body });

describe('BlockingWatch', () => {
  it('follows the index, delivers changes only, resets on a backwards index and never blocks below 1', async () => {
    const s = scripted([ok(5, 'a'), ok(5, 'a'), ok(9, 'b'), ok(3, 'c'), ok(4, 'c'), ok(0, 'd'), ok(7, 'e')]);
    await s.finished;
    s.watch.close();
    // 0 first; 5; 5 again (unchanged, not delivered); 9; backwards to 3 → reset to 0; 4; 0 → 1; 7.
    expect(s.sent).toEqual([0, 5, 5, 9, 0, 4, 1, 7]);
    expect(s.delivered).toEqual([
      ['a', 5],
      ['b', 9],
      ['c', 3],
      ['c', 4],
      ['d', 0],
      ['e', 7],
    ]);
  });

  it('keeps its index through failures, reports the source down, and up again on the next answer', async () => {
    const s = scripted([ok(5, 'a'), new Error('No cluster leader'), new Error('No cluster leader'), ok(5, 'a'), ok(6, 'b')]);
    await s.finished;
    s.watch.close();
    expect(s.sent).toEqual([0, 5, 5, 5, 5, 6]);
    // An unchanged answer after the outage is not delivered, but it does bring the source back up.
    expect(s.delivered).toEqual([
      ['a', 5],
      ['b', 6],
    ]);
    expect(s.ups).toEqual([false, true]);
  });
});

describe('BlockingWatch retry pacing (defaults)', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  /** Gaps between reads when reads 1-7 fail, read 8 succeeds and reads 9-10 fail again. */
  async function gaps(random: number): Promise<number[]> {
    vi.useFakeTimers();
    vi.spyOn(Math, 'random').mockReturnValue(random);
    const at: number[] = [];
    const watch = new BlockingWatch<string>({
      name: 'w',
      status: new SourceStatus('consul', 'test'),
      read: async () => {
        at.push(Date.now());
        if (at.length === 8) return ok(5, 'a');
        if (at.length <= 10) throw new Error('connect ECONNREFUSED');
        return new Promise<never>(() => {});
      },
      onResult: () => {},
    });
    await vi.advanceTimersByTimeAsync(30_000);
    watch.close();
    return at.slice(1).map((t, i) => t - at[i]!);
  }

  it('waits 250 ms doubling up to 3 s, and starts at 250 ms again after a success', async () => {
    expect(await gaps(0.5)).toEqual([250, 500, 1000, 2000, 3000, 3000, 3000, 0, 250, 500]);
  });

  it('jitters each delay by ±20 %', async () => {
    expect(await gaps(0)).toEqual([200, 400, 800, 1600, 2400, 2400, 2400, 0, 200, 400]);
    expect(await gaps(0.999_999)).toEqual([300, 600, 1200, 2400, 3600, 3600, 3600, 0, 300, 600]);
  });
});
