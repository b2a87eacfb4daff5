import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { DeadlineList, deadlineListFor, type DeadlineEntry } from './deadline-list.ts';

function entry(name: string, fired: string[]): DeadlineEntry {
  return {
    dlNext: null,
    dlPrev: null,
    dlAt: 0,
    dlList: null,
    onDeadline() {
      fired.push(name);
    },
  };
}

describe('DeadlineList', () => {
  it('expires entries in order once their time has passed', async () => {
    const fired: string[] = [];
    const list = new DeadlineList(30);
    const a = entry('a', fired);
    const b = entry('b', fired);
    list.add(a, performance.now());
    await sleep(10);
    list.add(b, performance.now());
    expect(list.size).toBe(2);
    await sleep(25);
    expect(fired).toEqual(['a']);
    await sleep(20);
    expect(fired).toEqual(['a', 'b']);
    expect(list.size).toBe(0);
    expect(a.dlList).toBeNull();
  });

  it('keeps expiring the other entries when one callback throws', async () => {
    const fired: string[] = [];
    const list = new DeadlineList(15);
    const boom = entry('boom', fired);
    boom.onDeadline = () => {
      fired.push('boom');
      throw new Error('handler failed');
    };
    const later = entry('later', fired);
    // The throw leaves the timer callback as an uncaught exception: caught here instead of by the runner.
    const runners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    const uncaught: Error[] = [];
    process.on('uncaughtException', (err) => uncaught.push(err));
    try {
      list.add(boom, performance.now());
      await sleep(5);
      list.add(later, performance.now());
      await sleep(60);
    } finally {
      process.removeAllListeners('uncaughtException');
      for (const l of runners) process.on('uncaughtException', l);
    }
    expect(uncaught.map((e) => e.message)).toEqual(['handler failed']);
    expect(fired).toEqual(['boom', 'later']);
    expect(list.size).toBe(0);
  });

  it('never fires an entry that was removed, from the head, middle or tail', async () => {
    const fired: string[] = [];
    const list = new DeadlineList(20);
    const es = ['a', 'b', 'c', 'd'].map((n) => entry(n, fired));
    const now = performance.now();
    for (const e of es) list.add(e, now);
    list.remove(es[0]!);
    list.remove(es[2]!);
    list.remove(es[3]!);
    list.remove(es[3]!); // twice: a no-op
    expect(list.size).toBe(1);
    await sleep(40);
    expect(fired).toEqual(['b']);
  });

  it('re-arms for a later entry when the entry its timer was armed for has left', async () => {
    const fired: string[] = [];
    const list = new DeadlineList(20);
    const a = entry('a', fired);
    const b = entry('b', fired);
    list.add(a, performance.now());
    await sleep(10);
    list.add(b, performance.now());
    list.remove(a);
    await sleep(15);
    expect(fired).toEqual([]);
    await sleep(25);
    expect(fired).toEqual(['b']);
  });

  it('lets a callback add entries to the same list', async () => {
    const fired: string[] = [];
    const list = new DeadlineList(10);
    const again = entry('again', fired);
    const first: DeadlineEntry = { ...entry('first', fired), onDeadline: () => (fired.push('first'), list.add(again, performance.now())) };
    list.add(first, performance.now());
    await sleep(50);
    expect(fired).toEqual(['first', 'again']);
  });

  it('shares one list per duration', () => {
    expect(deadlineListFor(1234)).toBe(deadlineListFor(1234));
    expect(deadlineListFor(1234)).not.toBe(deadlineListFor(1235));
  });
});
