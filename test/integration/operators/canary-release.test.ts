/**
 * Automated canary releases end to end: the control plane, three instances
 * of the example reviews service (examples/bookinfo/reviews.ts under
 * `--import enmesh/register`, each registering itself with a `release`
 * label), and a client process sending real traffic by service name and
 * reporting its load (LRS). `enmesh canary start ... --wait` drives it.
 *
 * A healthy v2 is promoted step by step; then a v3 answering 5 % of its
 * requests with 503 is rolled back to 100 % v2, with the reason recorded.
 * All three run the example's v1 code path (v2's calls ratings over gRPC,
 * which is beside the point here); the subsets select them by `release`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import { captureIo, type CapturedIo } from '../../helpers/cli-io.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { freePort } from '../../../examples/demo/processes.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';
import { spawnSdk } from '../../helpers/cp/sdk-process.ts';
import type { RunningLoad, SdkProcess } from '../../helpers/cp/sdk-process.ts';
import { until } from '../../helpers/cp/wait.ts';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const REVIEWS = fileURLToPath(new URL('../../../examples/bookinfo/reviews.ts', import.meta.url));
const TOKEN = 'canary-test-token';

const MESH = `
services:
  productpage:
    protocol: http
    port: 9080
  reviews:
    protocol: http
    port: 9080
    subsets:
      v1: { release: v1 }
      v2: { release: v2 }
      v3: { release: v3 }
    routes:
      - name: default
        backends: [{ subset: v1, weight: 100 }]
`;

let file: MeshFile;
let cp: ControlPlane;
let server: string;
const instances: ChildProcess[] = [];
let client: SdkProcess;
let load: RunningLoad;

async function startReviews(release: string, failPercent: number): Promise<void> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['ENMESH_CONFIG', 'ENMESH_TOKEN', 'GRPC_XDS_BOOTSTRAP', 'GRPC_XDS_BOOTSTRAP_CONFIG']) delete env[k];
  const child = spawn(process.execPath, ['--conditions=enmesh-source', '--import', 'enmesh/register', REVIEWS], {
    cwd: ROOT,
    env: {
      ...env,
      ENMESH_CONTROL_PLANE: `xds://127.0.0.1:${cp.xdsPort}`,
      ENMESH_SERVICE: 'reviews',
      ENMESH_PORT: String(port),
      ENMESH_LABELS: `version=v1,release=${release}`,
      REVIEWS_FAIL_PERCENT: String(failPercent),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  instances.push(child);
  try {
    await until(() => cp.cache.model()?.services.get('reviews')?.endpoints.some((e) => e.port === port && e.labels.release === release) ?? false, 20_000, `reviews ${release} registered`, 50);
  } catch (err) {
    throw new Error(`${(err as Error).message}; its stderr: ${stderr.slice(-1000)}`);
  }
}

const capture = (): CapturedIo => captureIo();

/** The `canary` events the admin event stream sends, read while the test runs. */
function watchEvents(): { text: () => string; close: () => void } {
  const abort = new AbortController();
  let text = '';
  void (async () => {
    try {
      const res = await fetch(`${server}/api/v1/events`, { signal: abort.signal });
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk, { stream: true });
    } catch {
      // closed by the test
    }
  })();
  return { text: () => text, close: () => abort.abort() };
}

beforeAll(async () => {
  file = await createMeshFile(MESH);
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, startupHoldMs: 0, loadReportIntervalMs: 250, adminToken: TOKEN, log: silentLogger });
  server = `http://127.0.0.1:${cp.adminPort}`;
  await Promise.all([startReviews('v1', 0), startReviews('v2', 0), startReviews('v3', 5)]);
  client = await spawnSdk({ controlPlane: [`xds://127.0.0.1:${cp.xdsPort}`], service: 'productpage' });
  await client.waitForConfig((c) => (c.services.reviews?.endpoints.length ?? 0) === 3, 15_000);
  // Open-loop traffic for the whole file, bounded in count and time.
  load = client.load({ url: 'http://reviews:9080/reviews/1', count: 12_000, maxMs: 90_000, rps: 120 });
}, 60_000);

afterAll(async () => {
  await load?.stop().catch(() => {});
  await client?.kill();
  for (const c of instances) c.kill('SIGKILL');
  await cp?.close();
  await file?.remove();
});

describe('enmesh canary start --wait', () => {
  it('promotes a healthy v2 step by step, each step a versioned change by actor "canary"', async () => {
    const events = watchEvents();
    const io = capture();
    const started = Date.now();
    const code = await main(
      ['canary', 'start', 'reviews', '--to', 'v2', '--steps', '10,50,100', '--interval', '1s', '--max-error-rate', '1%', '--max-p99', '5s', '--min-requests', '20', '--wait', '--server', server, '--token', TOKEN],
      io,
    );
    events.close();
    expect(code, `${io.out}\n${io.err}`).toBe(0);
    expect(Date.now() - started).toBeLessThan(45_000);
    expect(io.out).toMatch(/^promoted: reviews v2 at 100%/m);
    // Progress went to stderr, one line per change (not a terminal).
    expect(io.err).toMatch(/reviews v1→v2 \[#+\.*\] 10% step 1\/3/);
    expect(io.err).toMatch(/50% step 2\/3/);

    const { canary } = (await (await fetch(`${server}/api/v1/canaries/reviews`)).json()) as { canary: { state: string; weight: number; history: { decision: string; requests: number; errorRate: number }[] } };
    expect(canary.state).toBe('promoted');
    expect(canary.history.map((h) => h.decision.split(':')[0])).toEqual(['start', ...canary.history.slice(1, -1).map((h) => h.decision.split(':')[0]), 'promote']);
    const judged = canary.history.filter((h) => /^(advance|promote)/.test(h.decision));
    expect(judged).toHaveLength(3);
    for (const h of judged) {
      expect(h.requests).toBeGreaterThanOrEqual(20);
      expect(h.errorRate).toBe(0);
    }
    // The route now sends everything to v2; the client sees it.
    const reviews = cp.cache.model()!.services.get('reviews')!;
    expect(reviews.routes[0]!.backends!.map((b) => [b.subset, b.weight])).toEqual([
      ['v1', 0],
      ['v2', 100],
    ]);
    await client.waitForConfig((c) => c.services.reviews?.routes[0]?.backends.some((b) => b.subset === 'v2' && b.weight === 100) ?? false, 10_000);

    // Every step went through the mutation path: audited as "canary", one config version each.
    const audit = (await (await fetch(`${server}/api/v1/audit`)).json()) as { entries: { actor: string; action: string; target: string; result: string }[] };
    const steps = audit.entries.filter((e) => e.actor === 'canary' && e.target === 'reviews/routes/default');
    expect(steps.map((e) => e.result)).toEqual(['applied', 'applied', 'applied']);
    expect(audit.entries.filter((e) => e.action.startsWith('canary.')).map((e) => e.action)).toEqual(['canary.promote', 'canary.start']);
    const history = (await (await fetch(`${server}/api/v1/history`)).json()) as { versions: { actor: string }[] };
    expect(history.versions.filter((v) => v.actor === 'canary').length).toBeGreaterThanOrEqual(3);
    // The dashboard's event stream carried the canary's progress.
    expect(events.text()).toMatch(/event: canary\ndata: \{"canary":\{"service":"reviews".*"state":"progressing"/);
    expect(events.text()).toMatch(/"state":"promoted"/);
  }, 60_000);

  it('rolls a v3 that fails 5 % of requests back to 100 % v2, and says why', async () => {
    const io = capture();
    const code = await main(
      ['canary', 'start', 'reviews', '--to', 'v3', '--steps', '25,50,100', '--interval', '2s', '--max-error-rate', '1%', '--min-requests', '20', '--wait', '--server', server, '--token', TOKEN],
      io,
    );
    expect(code, `${io.out}\n${io.err}`).toBe(1);
    expect(io.out).toMatch(/^rolled-back: reviews back to v2 100%: error rate \d+(\.\d)?% > 1% at step (25|50|100)%/m);
    const { canary } = (await (await fetch(`${server}/api/v1/canaries/reviews`)).json()) as { canary: { state: string; from: string; weight: number; reason: string } };
    expect(canary).toMatchObject({ state: 'rolled-back', from: 'v2', weight: 0 });
    const share = Number(/error rate (\d+(?:\.\d+)?)%/.exec(canary.reason)![1]);
    expect(share).toBeGreaterThan(1);
    const reviews = cp.cache.model()!.services.get('reviews')!;
    // v1, promoted away from in the first test, stays at 0.
    expect(reviews.routes[0]!.backends!.map((b) => [b.subset, b.weight])).toEqual([
      ['v1', 0],
      ['v2', 100],
      ['v3', 0],
    ]);
    // After the rollback the client's calls go to v2 only.
    await client.waitForConfig((c) => c.services.reviews?.routes[0]?.backends.some((b) => b.subset === 'v3' && b.weight === 0) ?? false, 10_000);
    // The audit log has the rollback with its reason, after the weight change that made it.
    const audit = (await (await fetch(`${server}/api/v1/audit`)).json()) as { entries: { actor: string; action: string; diff: string; error?: string }[] };
    expect(audit.entries[0]).toMatchObject({ actor: 'canary', action: 'canary.rollback', error: canary.reason });
    expect(audit.entries[1]).toMatchObject({ actor: 'canary', action: 'route.weights' });
    expect(audit.entries[1]!.diff).toMatch(/^\+.*subset: v2, weight: 100/m);
  }, 60_000);
});
