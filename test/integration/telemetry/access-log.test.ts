/**
 * The access log must never stall the event loop: a burst of lines goes to a
 * named pipe whose reader only shows up a second later. A blocking writer
 * would freeze the process for that second (opening a FIFO for writing waits
 * for a reader; a full pipe blocks a write); the async one keeps the loop free.
 * Past `maxBufferBytes` unwritten, lines are dropped and counted
 * (`enmesh_access_log_dropped_total`), and `flushIntervalMs` writes a line
 * smaller than `bufferBytes` without waiting for more.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessLog, type AccessLogEntry } from '../../../src/telemetry/access-log.ts';
import { startTelemetry } from '../../../src/telemetry/index.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'enmesh-access-burst-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const LINES = 20_000;
const CHUNK = 500;

describe('access log under a burst', () => {
  it('writes every line of a burst to a slow pipe without blocking the event loop', async () => {
    const fifo = join(dir, 'access.fifo');
    const out = join(dir, 'access.out');
    execFileSync('mkfifo', [fifo]);
    // The reader arrives a second late, then copies the pipe to a file.
    const reader = spawn('sh', ['-c', `sleep 1; cat "${fifo}" > "${out}"`], { stdio: 'ignore' });
    const readerDone = new Promise<number | null>((resolve) => reader.once('exit', (code) => resolve(code)));

    const h = monitorEventLoopDelay({ resolution: 5 });
    h.enable();
    // Let the monitor's timer run before anything could block.
    await new Promise((r) => setTimeout(r, 50));
    const log = new AccessLog({ destination: fifo });
    const started = Date.now();
    for (let i = 0; i < LINES; i += CHUNK) {
      for (let j = i; j < i + CHUNK; j++) {
        if (!log.wants(200, '')) continue;
        log.write({
          direction: 'outbound',
          startTime: Date.now(),
          method: 'GET',
          authority: 'reviews:9080',
          path: `/reviews/${j}`,
          protocol: 'HTTP/1.1',
          status: 200,
          flags: '',
          durationMs: 1.5,
          bytesReceived: 0,
          bytesSent: 100,
          upstreamHost: '127.0.0.1:9081',
          attempts: 1,
        });
      }
      // Yield between chunks, as request handling would.
      await new Promise((r) => setImmediate(r));
    }
    const issuedMs = Date.now() - started;
    // Keep the loop turning until the reader has started.
    await new Promise((r) => setTimeout(r, 1200));
    h.disable();
    await log.close();
    expect(await readerDone).toBe(0);

    // The burst was issued while nobody read the pipe, in far less than the reader's delay.
    expect(issuedMs).toBeLessThan(1000);
    expect(h.max / 1e6).toBeLessThan(250);
    const lines = (await readFile(out, 'utf8')).split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(LINES);
    expect(log.dropped).toBe(0);
    const paths = new Set(lines.map((l) => (JSON.parse(l) as { path: string }).path));
    expect(paths.size).toBe(LINES);
  });
});

function entry(i: number): AccessLogEntry {
  return {
    direction: 'inbound',
    startTime: Date.now(),
    method: 'GET',
    authority: 'reviews:9080',
    path: `/reviews/${i}`,
    protocol: 'HTTP/1.1',
    status: 200,
    flags: '',
    durationMs: 1,
    bytesReceived: 0,
    bytesSent: 5,
  };
}

describe('access log tuning', () => {
  it('drops lines beyond maxBufferBytes while the destination is blocked, and counts them', async () => {
    const fifo = join(dir, 'blocked.fifo');
    const out = join(dir, 'blocked.out');
    execFileSync('mkfifo', [fifo]);
    // Nobody reads the pipe yet: opening it for writing waits, so every line stays unwritten.
    const telemetry = await startTelemetry({ service: 'reviews' }, { accessLog: { destination: fifo, bufferBytes: 1024, maxBufferBytes: 16 * 1024, flushIntervalMs: 50 } });
    const log = telemetry.accessLog!;
    let reader: ReturnType<typeof spawn> | undefined;
    try {
      const LINES_OFFERED = 1000; // ~250 KiB against a 16 KiB cap
      for (let i = 1000; i < 1000 + LINES_OFFERED; i++) log.write(entry(i));
      expect(log.written).toBe(LINES_OFFERED);
      const dropped = log.dropped;
      const kept = LINES_OFFERED - dropped;
      // Lines are about 250 bytes: the cap keeps some 60 of them.
      expect(kept).toBeGreaterThan(30);
      expect(kept).toBeLessThan(100);
      const text = await telemetry.metrics.registry.metrics();
      expect(text).toContain(`enmesh_access_log_dropped_total ${dropped}\n`);

      // Once a reader comes, the lines that were kept are written, in order; then lines pass again.
      reader = spawn('sh', ['-c', `cat "${fifo}" > "${out}"`], { stdio: 'ignore' });
      const done = new Promise<number | null>((resolve) => reader!.once('exit', (code) => resolve(code)));
      const deadline = Date.now() + 5000;
      const count = async (): Promise<number> => (await readFile(out, 'utf8').catch(() => '')).split('\n').length - 1;
      while ((await count()) < kept && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (let i = 2000; i < 2010; i++) log.write(entry(i));
      await telemetry.close();
      expect(await done).toBe(0);
      const lines = (await readFile(out, 'utf8')).split('\n').filter((l) => l !== '');
      // What was kept fitted under the cap, and the next line would not have.
      const keptBytes = lines.slice(0, kept).reduce((n, l) => n + l.length + 1, 0);
      expect(keptBytes).toBeLessThanOrEqual(16 * 1024);
      expect(keptBytes + lines[0]!.length + 1).toBeGreaterThan(16 * 1024);
      const expected = [...Array.from({ length: kept }, (_, k) => `/reviews/${1000 + k}`), ...Array.from({ length: 10 }, (_, k) => `/reviews/${2000 + k}`)];
      expect(lines.map((l) => (JSON.parse(l) as { path: string }).path)).toEqual(expected);
      expect(log.dropped).toBe(dropped);
    } finally {
      // A reader unblocks the pending open whatever happened above, so the test never hangs.
      if (reader === undefined) spawn('sh', ['-c', `cat "${fifo}" > /dev/null`], { stdio: 'ignore' });
      await telemetry.close();
    }
  });

  it('writes a line smaller than bufferBytes within flushIntervalMs', async () => {
    const path = join(dir, 'periodic.log');
    const log = new AccessLog({ destination: path, bufferBytes: 8 * 1024, flushIntervalMs: 100 });
    try {
      // Let the file open (the flush timer starts then).
      const deadline = Date.now() + 3000;
      while ((await stat(path).catch(() => undefined)) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      log.write(entry(1));
      await new Promise((r) => setTimeout(r, 20));
      expect(await readFile(path, 'utf8')).toBe(''); // buffered: far below bufferBytes
      let text = '';
      while (text === '' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 25));
        text = await readFile(path, 'utf8');
      }
      expect(JSON.parse(text)).toMatchObject({ path: '/reviews/1', bytes_sent: 5 });
    } finally {
      await log.close();
    }
  });
});
