import { describe, expect, it } from 'vitest';
import { FanOut } from './fan-out.ts';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('FanOut', () => {
  it('runs a push on a later turn, once however often it was queued', async () => {
    const fan = new FanOut();
    let runs = 0;
    const push = (): void => void runs++;
    fan.schedule(push);
    fan.schedule(push);
    expect(runs).toBe(0);
    await turn();
    expect(runs).toBe(1);
    expect(fan.pending).toBe(0);
  });

  it('yields to the event loop once a slice has used its time', async () => {
    // A zero-length slice ends after every push: one push per turn.
    const fan = new FanOut({ sliceMs: 0 });
    const ran: string[] = [];
    for (const name of ['a', 'b', 'c']) fan.schedule(() => void ran.push(name));
    await turn();
    expect(ran).toEqual(['a']);
    let io = false;
    setImmediate(() => (io = true));
    await turn();
    await turn();
    expect(io).toBe(true);
    expect(ran).toEqual(['a', 'b', 'c']);
  });

  it('keeps going after a push throws, and reports it', async () => {
    const errors: unknown[] = [];
    const fan = new FanOut({ onError: (e) => errors.push(e) });
    const ran: string[] = [];
    fan.schedule(() => {
      throw new Error('boom');
    });
    fan.schedule(() => void ran.push('after'));
    await turn();
    expect(ran).toEqual(['after']);
    expect(errors).toHaveLength(1);
  });

  it('forgets queued pushes on clear', async () => {
    const fan = new FanOut();
    let runs = 0;
    fan.schedule(() => void runs++);
    fan.clear();
    await turn();
    expect(runs).toBe(0);
    fan.schedule(() => void runs++);
    await turn();
    expect(runs).toBe(1);
  });
});
