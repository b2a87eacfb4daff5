import { describe, expect, it } from 'vitest';
import { seeded } from '../../test/helpers/seeded.ts';
import { Mirror, shadowHost, type MirrorRequest } from './mirror.ts';

const POLICY = { service: 'reviews', subset: 'v2', percent: 100 };

async function* chunks(parts: string[]): AsyncGenerator<string> {
  for (const p of parts) yield p;
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<string> {
  let s = '';
  for await (const c of body) s += Buffer.from(c).toString();
  return s;
}

describe('Mirror', () => {
  it('mirrors the configured share of requests', () => {
    const m = new Mirror('r', { ...POLICY, percent: 20 }, () => undefined, { random: seeded(3) });
    let n = 0;
    for (let i = 0; i < 5_000; i++) if (m.shouldMirror()) n++;
    expect(Math.abs(n / 5_000 - 0.2)).toBeLessThan(0.02);
    expect(new Mirror('r', { ...POLICY, percent: 0 }, () => undefined).shouldMirror()).toBe(false);
  });

  it('sends a copy with a -shadow host and the same body; the caller never sees its failure', async () => {
    const sent: MirrorRequest[] = [];
    const headers = { host: 'reviews:9080', 'x-a': ['1', '2'], 'x-gone': undefined };
    const ok = new Mirror('r', POLICY, (req) => void sent.push(req));
    ok.send('PUT', '/items/1', headers, 'payload');
    expect(sent).toEqual([{ method: 'PUT', path: '/items/1', headers: { host: 'reviews-shadow:9080', 'x-a': ['1', '2'] }, body: 'payload' }]);
    expect(headers.host).toBe('reviews:9080'); // the caller's headers are untouched

    const throwing = new Mirror('r', POLICY, () => {
      throw new Error('boom');
    });
    expect(() => throwing.send('GET', '/', {}, undefined)).not.toThrow();
    const rejecting = new Mirror('r', POLICY, () => Promise.reject(new Error('refused')));
    rejecting.send('GET', '/', {}, undefined);
    await new Promise((r) => setImmediate(r));
    expect([throwing.counters.failed, rejecting.counters.failed, rejecting.inFlight]).toEqual([1, 1, 0]);
  });

  it('drops mirrors beyond the in-flight cap instead of piling them up', async () => {
    const pending: (() => void)[] = [];
    const m = new Mirror('r', POLICY, () => new Promise<void>((r) => pending.push(r)), { maxInFlight: 2 });
    for (let i = 0; i < 5; i++) m.send('GET', '/', {}, undefined);
    expect(m.snapshot()).toMatchObject({ inFlight: 2, target: 'reviews/v2', counters: { mirrored: 2, dropped: 3 } });
    for (const r of pending) r();
    await new Promise((r) => setImmediate(r));
    expect(m.inFlight).toBe(0);
  });

  it('tees a streamed body: the main request gets every chunk, the mirror a copy once it ended', async () => {
    const sent: MirrorRequest[] = [];
    const m = new Mirror('r', POLICY, (req) => void sent.push(req));
    const body = m.tee(chunks(['ab', 'cd']), 'POST', '/up', { host: 'reviews' });
    expect(sent).toHaveLength(0);
    expect(await drain(body)).toBe('abcd');
    expect(sent).toHaveLength(1);
    expect(Buffer.from(sent[0].body as Uint8Array).toString()).toBe('abcd');
    expect(sent[0].headers.host).toBe('reviews-shadow');
  });

  it('sends no mirror for a streamed body over the limit, but forwards all of it', async () => {
    const sent: MirrorRequest[] = [];
    const m = new Mirror('r', POLICY, (req) => void sent.push(req), { bodyLimit: 3 });
    expect(await drain(m.tee(chunks(['ab', 'cd', 'ef']), 'POST', '/up', {}))).toBe('abcdef');
    expect(sent).toHaveLength(0);
    expect(m.counters.tooLarge).toBe(1);
  });

  it('suffixes host names with or without a port', () => {
    expect(shadowHost('reviews')).toBe('reviews-shadow');
    expect(shadowHost('reviews:9080')).toBe('reviews-shadow:9080');
    expect(shadowHost('[::1]:80')).toBe('[::1]-shadow:80');
  });
});
