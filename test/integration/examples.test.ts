/**
 * The example application end to end, as `npm run demo -- --duration N` runs
 * it: five processes under `--import enmesh/register`, calling each other by
 * service name over fetch, undici.request and node:http.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);

it('runs the bookinfo demo healthy, with the configured 80/20 reviews split', async () => {
  const { stdout } = await run(process.execPath, ['--conditions=enmesh-source', 'examples/demo.ts', '--duration', '6', '--rate', '40'], {
    cwd: new URL('../..', import.meta.url).pathname,
    timeout: 45_000,
  });
  const line = stdout.split('\n').find((l) => l.startsWith('DEMO_SUMMARY '));
  expect(line, stdout).toBeDefined();
  const summary = JSON.parse(line!.slice('DEMO_SUMMARY '.length)) as {
    sent: number;
    successRate: number;
    answeredBy: Record<string, number>;
    services: { service: string; version: string; rps: number }[];
  };
  expect(summary.sent).toBeGreaterThan(150);
  expect(summary.successRate).toBeGreaterThanOrEqual(0.99);
  const v2Share = (summary.answeredBy.v2 ?? 0) / summary.sent;
  expect(v2Share).toBeGreaterThan(0.08);
  expect(v2Share).toBeLessThan(0.35);
  // reviews v2 calls ratings over node:http; ratings saw that traffic.
  const ratings = summary.services.find((s) => s.service === 'ratings')!;
  expect(ratings.rps).toBeGreaterThan(0);
}, 60_000);
