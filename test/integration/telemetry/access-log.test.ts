/**
 * The access log must never stall the event loop: a burst of lines goes to a
 * named pipe whose reader only shows up a second later. A blocking writer
 * would freeze the process for that second (opening a FIFO for writing waits
 * for a reader; a full pipe blocks a write); the async one keeps the loop free.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccessLog } from '../../../src/telemetry/access-log.ts';

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
