import { describe, expect, it } from 'vitest';
import { ReplayableBody, isStaticBody } from './replayable-body.ts';

async function collect(it: AsyncIterable<Uint8Array>): Promise<string> {
  let s = '';
  for await (const c of it) s += Buffer.from(c).toString();
  return s;
}

async function* source(parts: string[]): AsyncGenerator<string> {
  for (const p of parts) yield p;
}

describe('ReplayableBody', () => {
  it('replays every byte of a body within the limit', async () => {
    const body = new ReplayableBody(source(['ab', 'cd', 'ef']), 16);
    expect(await collect(body.forAttempt())).toBe('abcdef');
    expect(body.replayable).toBe(true);
    expect(await collect(body.forAttempt())).toBe('abcdef');
  });

  it('continues from the source when the first attempt stopped reading early', async () => {
    const body = new ReplayableBody(source(['ab', 'cd', 'ef']), 16);
    const first = body.forAttempt()[Symbol.asyncIterator]();
    expect(Buffer.from((await first.next()).value as Uint8Array).toString()).toBe('ab');
    await first.return?.();
    expect(await collect(body.forAttempt())).toBe('abcdef');
  });

  it('marks a body over the limit non-replayable and refuses a partial replay', async () => {
    const body = new ReplayableBody(source(['aaaa', 'bbbb', 'cccc']), 6);
    expect(await collect(body.forAttempt())).toBe('aaaabbbbcccc');
    expect(body.replayable).toBe(false);
    await expect(collect(body.forAttempt())).rejects.toThrow(/replay limit/);
  });

  it('lets a retry catch up with the read an abandoned attempt left waiting, and stops the abandoned one', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    async function* slow(): AsyncGenerator<string> {
      yield 'ab';
      await gate;
      yield 'cd';
    }
    const body = new ReplayableBody(slow(), 16);
    const first = body.forAttempt()[Symbol.asyncIterator]();
    expect(Buffer.from((await first.next()).value as Uint8Array).toString()).toBe('ab');
    const waiting = first.next(); // the upstream answered while this read was in flight
    const retry = collect(body.forAttempt());
    release();
    expect(await retry).toBe('abcd');
    await expect(waiting).rejects.toThrow(/superseded by a retry/);
  });

  it('keeps a body outgrowing the limit whole for the retry that started within it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    async function* growing(): AsyncGenerator<string> {
      yield 'aaaa';
      await gate;
      yield 'bbbb';
      yield 'cccc';
    }
    const body = new ReplayableBody(growing(), 6);
    const first = body.forAttempt()[Symbol.asyncIterator]();
    await first.next();
    expect(body.replayable).toBe(true);
    const retry = collect(body.forAttempt());
    release();
    expect(await retry).toBe('aaaabbbbcccc');
    expect(body.replayable).toBe(false);
    await expect(collect(body.forAttempt())).rejects.toThrow(/replay limit/);
  });

  it('knows which bodies are static', () => {
    expect(isStaticBody(null)).toBe(true);
    expect(isStaticBody('x')).toBe(true);
    expect(isStaticBody(Buffer.from('x'))).toBe(true);
    expect(isStaticBody(source([]))).toBe(false);
  });
});
