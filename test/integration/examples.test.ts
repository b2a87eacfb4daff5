/**
 * The example application end to end, as `npm run demo -- --duration N` runs
 * it: a control plane (the real CLI) and five processes under
 * `--import enmesh/register` that register themselves and call each other by
 * service name over node:http, fetch and gRPC (`xds:///ratings`), driven over
 * undici.request; then the same in local-file mode.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('../..', import.meta.url).pathname;

interface Summary {
  mode: 'control-plane' | 'file';
  sent: number;
  successRate: number;
  answeredBy: Record<string, number>;
  registered: number;
  adminUrl: string | null;
  services: { service: string; version: string; protocol: string; origin: string; requests: number; rps: number; success: number }[];
}

async function demo(args: readonly string[]): Promise<Summary> {
  const { stdout, stderr } = await run(process.execPath, ['--conditions=enmesh-source', 'examples/demo.ts', ...args], { cwd: root, timeout: 40_000 });
  const line = stdout.split('\n').find((l) => l.startsWith('DEMO_SUMMARY '));
  expect(line, `${stdout}\n${stderr}`).toBeDefined();
  return JSON.parse(line!.slice('DEMO_SUMMARY '.length)) as Summary;
}

const row = (s: Summary, service: string, version = 'v1'): Summary['services'][number] => {
  const r = s.services.find((x) => x.service === service && x.version === version);
  if (r === undefined) throw new Error(`no row for ${service} ${version} in ${JSON.stringify(s.services)}`);
  return r;
};

describe('npm run demo', () => {
  it('runs bookinfo on the control plane: every instance registered, healthy, 80/20 reviews split, gRPC ratings', async () => {
    const s = await demo(['--duration', '6', '--rate', '40']);
    expect(s.mode).toBe('control-plane');
    expect(s.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(s.services.map((r) => `${r.service}-${r.version}`).sort()).toEqual(['details-v1', 'productpage-v1', 'ratings-v1', 'reviews-v1', 'reviews-v2']);
    // The control plane lists every instance, and only as registered (mesh.yaml has no endpoints).
    expect(s.services.map((r) => r.origin)).toEqual(Array(5).fill('registered'));
    expect(s.registered).toBe(5);
    expect(s.sent).toBeGreaterThan(150);
    expect(s.successRate).toBeGreaterThanOrEqual(0.99);
    const v2Share = (s.answeredBy.v2 ?? 0) / s.sent;
    expect(v2Share).toBeGreaterThan(0.1);
    expect(v2Share).toBeLessThan(0.3);
    // Every page reviews v2 built asked ratings over gRPC (xds:///ratings); ratings counted those calls.
    const ratings = row(s, 'ratings');
    expect(ratings.protocol).toBe('grpc');
    expect(ratings.requests).toBeGreaterThanOrEqual(s.answeredBy.v2 ?? 1);
    expect(ratings.success).toBe(100);
    expect(row(s, 'reviews', 'v1').requests).toBeGreaterThan(0);
  }, 45_000);

  it('runs the same in local-file mode, with static endpoints and no control plane', async () => {
    const s = await demo(['--duration', '3', '--rate', '40', '--file-mode']);
    expect(s.mode).toBe('file');
    expect(s.adminUrl).toBeNull();
    expect(s.sent).toBeGreaterThan(70);
    expect(s.successRate).toBeGreaterThanOrEqual(0.99);
    expect(s.answeredBy.v1).toBeGreaterThan(0);
    expect(s.answeredBy.v2).toBeGreaterThan(0);
    expect(row(s, 'details').origin).toBe('static');
    expect(row(s, 'ratings').origin).toBe('direct');
    expect(row(s, 'ratings').requests).toBeGreaterThanOrEqual(s.answeredBy.v2!);
  }, 30_000);

  it('rejects a bad option with the usage and exit code 2', async () => {
    const err = await run(process.execPath, ['--conditions=enmesh-source', 'examples/demo.ts', '--canary-step', '0'], { cwd: root, timeout: 20_000 }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(2);
    expect(err?.stderr).toContain('--canary-step must be at least 1 second');
    expect(err?.stderr).toContain('usage: npm run demo');
  }, 20_000);
});
