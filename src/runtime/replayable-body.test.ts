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

  it('knows which bodies are static', () => {
    expect(isStaticBody(null)).toBe(true);
    expect(isStaticBody('x')).toBe(true);
    expect(isStaticBody(Buffer.from('x'))).toBe(true);
    expect(isStaticBody(source([]))).toBe(false);
  });
});
