/** The fault proxy against a real echo server: each fault, and switching faults on open connections. */
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy } from './fault-proxy.ts';
import type { FaultProxy } from './fault-proxy.ts';

let echo: net.Server;
let echoPort: number;
let upstreamConnections = 0;
let proxy: FaultProxy;

beforeAll(async () => {
  echo = net.createServer((s) => {
    upstreamConnections++;
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((r) => echo.close(() => r())));
afterEach(async () => proxy?.close());

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Writes `data` and resolves with the echo once `data.length` bytes came back, or with what came within `timeoutMs`. */
function roundTrip(s: Socket, data: Buffer, timeoutMs = 5000): Promise<{ bytes: number; ms: number; error?: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let bytes = 0;
    const done = (error?: string): void => {
      clearTimeout(timer);
      s.off('data', onData);
      s.off('error', onError);
      resolve({ bytes, ms: performance.now() - t0, ...(error === undefined ? {} : { error }) });
    };
    const onData = (c: Buffer): void => {
      bytes += c.length;
      if (bytes >= data.length) done();
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    s.on('data', onData);
    const onError = (e: NodeJS.ErrnoException): void => done(e.code ?? e.message);
    s.once('error', onError);
    s.write(data);
  });
}

describe('fault proxy', () => {
  it('forwards bytes both ways unchanged', async () => {
    proxy = await startFaultProxy({ port: echoPort });
    const s = await connect(proxy.port);
    const payload = Buffer.alloc(100_000, 7);
    const r = await roundTrip(s, payload);
    expect(r).toMatchObject({ bytes: payload.length });
    expect(proxy.stats.bytesUp).toBe(payload.length);
    expect(proxy.stats.bytesDown).toBe(payload.length);
    s.destroy();
  });

  it('adds latency each way, spread by jitter, switchable on an open connection', async () => {
    proxy = await startFaultProxy({ port: echoPort });
    const s = await connect(proxy.port);
    const base = await roundTrip(s, Buffer.from('x'));
    proxy.set({ latencyMs: 100, jitterMs: 40 });
    const delayed: number[] = [];
    for (let i = 0; i < 8; i++) delayed.push((await roundTrip(s, Buffer.from('y'))).ms);
    // Two ways of 100 ± 40 ms: 120..280 ms plus scheduling.
    for (const ms of delayed) expect(ms).toBeGreaterThanOrEqual(115);
    expect(Math.max(...delayed)).toBeLessThan(1000);
    expect(Math.max(...delayed) - Math.min(...delayed)).toBeGreaterThan(5);
    proxy.heal();
    expect((await roundTrip(s, Buffer.from('z'))).ms).toBeLessThan(base.ms + 100);
    s.destroy();
  });

  it('limits bandwidth', async () => {
    proxy = await startFaultProxy({ port: echoPort }, { bytesPerSecond: 100_000 });
    const s = await connect(proxy.port);
    // 60 kB each way through a 100 kB/s link per direction: the two directions overlap, about 0.6 s.
    const r = await roundTrip(s, Buffer.alloc(60_000, 1), 10_000);
    expect(r.bytes).toBe(60_000);
    expect(r.ms).toBeGreaterThan(550);
    expect(r.ms).toBeLessThan(5000);
    s.destroy();
  });

  it('blackholes: accepts, never forwards, and silences open connections', async () => {
    proxy = await startFaultProxy({ port: echoPort });
    const open = await connect(proxy.port);
    expect((await roundTrip(open, Buffer.from('a'))).bytes).toBe(1);
    proxy.set({ mode: 'blackhole' });
    const before = upstreamConnections;
    const fresh = await connect(proxy.port); // accepted
    expect(await roundTrip(fresh, Buffer.from('b'), 300)).toMatchObject({ bytes: 0, error: 'timeout' });
    expect(await roundTrip(open, Buffer.from('c'), 300)).toMatchObject({ bytes: 0, error: 'timeout' });
    expect(upstreamConnections).toBe(before);
    open.destroy();
    fresh.destroy();
  });

  it('resets new and open connections with an RST', async () => {
    proxy = await startFaultProxy({ port: echoPort });
    const open = await connect(proxy.port);
    expect((await roundTrip(open, Buffer.from('a'))).bytes).toBe(1);
    const reset = new Promise<string>((r) => open.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? '')));
    proxy.set({ mode: 'reset' });
    expect(await reset).toBe('ECONNRESET');
    const fresh = net.connect({ host: '127.0.0.1', port: proxy.port });
    const code = await new Promise<string>((r) => {
      fresh.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? ''));
      fresh.once('close', () => r('closed'));
      fresh.write('x');
    });
    expect(code).toBe('ECONNRESET');
    expect(proxy.stats.resets).toBeGreaterThanOrEqual(2);
  });

  it('half-open: stops reading one direction while the connection stays up, and resumes', async () => {
    proxy = await startFaultProxy({ port: echoPort });
    const s = await connect(proxy.port);
    expect((await roundTrip(s, Buffer.from('a'))).bytes).toBe(1);
    proxy.set({ mode: 'half-open', direction: 'up' });
    const upBefore = proxy.stats.bytesUp;
    expect(await roundTrip(s, Buffer.from('bb'), 300)).toMatchObject({ bytes: 0, error: 'timeout' });
    expect(proxy.stats.bytesUp).toBe(upBefore);
    expect(s.destroyed).toBe(false);
    // Reading resumes: the held bytes go through.
    const late = new Promise<number>((r) => s.once('data', (c: Buffer) => r(c.length)));
    proxy.heal();
    expect(await late).toBe(2);

    proxy.set({ mode: 'half-open', direction: 'down' });
    const downBefore = proxy.stats.bytesDown;
    expect(await roundTrip(s, Buffer.from('ccc'), 300)).toMatchObject({ bytes: 0, error: 'timeout' });
    expect(proxy.stats.bytesUp).toBe(upBefore + 5);
    expect(proxy.stats.bytesDown).toBe(downBefore);
    s.destroy();
  });
});
