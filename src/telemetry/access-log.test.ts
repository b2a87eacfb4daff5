import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLog, createAccessLog } from './access-log.ts';
import type { AccessLogEntry } from './access-log.ts';

const dirs: string[] = [];
async function logFile(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'enmesh-access-log-'));
  dirs.push(dir);
  return join(dir, 'logs', 'access.log');
}
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

const entry = (over: Partial<AccessLogEntry> = {}): AccessLogEntry => ({
  direction: 'outbound',
  startTime: Date.UTC(2024, 0, 2, 3, 4, 5, 678),
  method: 'GET',
  authority: 'reviews:9080',
  path: '/reviews/1',
  protocol: 'HTTP/1.1',
  status: 200,
  flags: '',
  durationMs: 12.3456,
  bytesReceived: 0,
  bytesSent: 512,
  ...over,
});

async function lines(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('AccessLog', () => {
  it('writes one JSON line per request with Istio field names and nothing of pino', async () => {
    const file = await logFile();
    const log = new AccessLog({ destination: file });
    log.write(
      entry({
        upstreamHost: '127.0.0.1:9081',
        upstreamCluster: 'outbound|9080|v1|reviews',
        routeName: 'default',
        attempts: 2,
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
        peerPrincipal: 'spiffe://demo.local/service/reviews',
      }),
    );
    log.write(entry({ status: 503, flags: 'UH', direction: 'inbound', grpcStatus: 14 }));
    await log.close();
    const [a, b] = await lines(file);
    expect(a).toEqual({
      start_time: '2024-01-02T03:04:05.678Z',
      direction: 'outbound',
      method: 'GET',
      authority: 'reviews:9080',
      path: '/reviews/1',
      protocol: 'HTTP/1.1',
      response_code: 200,
      response_flags: '-',
      duration: 12.346,
      bytes_received: 0,
      bytes_sent: 512,
      upstream_host: '127.0.0.1:9081',
      upstream_cluster: 'outbound|9080|v1|reviews',
      route_name: 'default',
      upstream_request_attempt_count: 2,
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      peer_principal: 'spiffe://demo.local/service/reviews',
    });
    expect(b).toMatchObject({ response_code: 503, response_flags: 'UH', direction: 'inbound', grpc_status: 14 });
  });

  it('logs only errors with filter "errors"', async () => {
    const log = new AccessLog({ destination: await logFile(), filter: 'errors' });
    const outcomes: [number, string][] = [
      [200, ''],
      [404, ''],
      [200, 'DI'],
      [503, 'UH'],
      [0, 'UF'],
      [302, '-'],
    ];
    expect(outcomes.filter(([s, f]) => log.wants(s, f))).toEqual([
      [404, ''],
      [200, 'DI'],
      [503, 'UH'],
      [0, 'UF'],
    ]);
    await log.close();
  });

  it('samples with the configured rate after filtering', async () => {
    let n = 0;
    // Deterministic sequence 0, 0.1, ..., 0.9, 0, ...
    const log = new AccessLog({ destination: await logFile(), filter: (s) => s >= 500, sampleRate: 0.3, random: () => (n++ % 10) / 10 });
    const taken = Array.from({ length: 20 }, () => log.wants(500, '')).filter(Boolean).length;
    expect(taken).toBe(6);
    expect(n).toBe(20);
    expect(log.wants(200, '')).toBe(false);
    expect(n).toBe(20); // filtered out before any random number is drawn
    await log.close();
  });

  it('is off unless configured', () => {
    expect(createAccessLog(undefined)).toBeUndefined();
    expect(createAccessLog(false)).toBeUndefined();
  });

  it('rejects a sample rate outside 0..1', () => {
    expect(() => new AccessLog({ sampleRate: -1 })).toThrow(/sampleRate/);
  });

  it('rejects a bufferBytes its destination cannot hold, naming the option', () => {
    expect(() => new AccessLog({ bufferBytes: 16 * 1024 })).toThrow(/bufferBytes must be an integer from 0 to 16383, got 16384/);
    expect(() => new AccessLog({ bufferBytes: -1 })).toThrow(/bufferBytes/);
  });
});
