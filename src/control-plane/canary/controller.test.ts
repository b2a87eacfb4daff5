import { describe, expect, it } from 'vitest';
import { parseMeshYaml } from '../../config/load.ts';
import type { MeshModel } from '../../model/types.ts';
import { CanaryController } from './controller.ts';
import type { CanaryAuditInput, CanaryClock, CanaryView } from './controller.ts';
import type { StepFigures } from './judge.ts';
import { judge, percent } from './judge.ts';
import { CanaryRejection, parseCanaryRequest } from './spec.ts';

const MODEL: MeshModel = parseMeshYaml(
  `
services:
  reviews:
    protocol: http
    port: 9080
    endpoints:
      - { address: 127.0.0.1:9081, labels: { version: v1 } }
      - { address: 127.0.0.1:9082, labels: { version: v2 } }
      - { address: 127.0.0.1:9083, labels: { version: v3 } }
    subsets: { v1: { version: v1 }, v2: { version: v2 }, v3: { version: v3 } }
    routes:
      - name: default
        backends: [{ subset: v1, weight: 100 }]
  ratings:
    protocol: http
    port: 8080
    endpoints: [{ address: 127.0.0.1:9091 }]
`,
  'test.yaml',
);

const V1 = 'outbound|9080|v1|reviews';
const V2 = 'outbound|9080|v2|reviews';

/** Timers that fire only when the test advances time. */
class FakeClock implements CanaryClock {
  t = Date.parse('2026-01-01T00:00:00Z');
  timers = new Set<{ at: number; fn: () => void }>();
  now = (): number => this.t;
  setTimeout = (fn: () => void, ms: number): unknown => {
    const timer = { at: this.t + ms, fn };
    this.timers.add(timer);
    return timer;
  };
  clearTimeout = (h: unknown): void => void this.timers.delete(h as { at: number; fn: () => void });
  /** Moves time forward in small steps, firing due timers and letting their async work settle. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    while (this.t < end) {
      this.t = Math.min(end, this.t + 50);
      for (const timer of [...this.timers].sort((a, b) => a.at - b.at)) {
        if (timer.at > this.t) continue;
        this.timers.delete(timer);
        timer.fn();
      }
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    }
  }
}

interface Harness {
  clock: FakeClock;
  controller: CanaryController;
  weights: { route: string; weights: Record<string, number>; actor: string }[];
  events: CanaryView[];
  /** What the load reports say per cluster: set by the test, read as figures since a step began. */
  load: Map<string, StepFigures>;
  sinceAsked: number[];
  failSetWeights: { next: boolean };
  audits: CanaryAuditInput[];
}

function harness(maxWaitIntervals?: number): Harness {
  const clock = new FakeClock();
  const h: Harness = { clock, weights: [], events: [], load: new Map(), sinceAsked: [], failSetWeights: { next: false }, audits: [] } as unknown as Harness;
  h.controller = new CanaryController({
    clock,
    model: () => MODEL,
    setWeights: async (_service, route, weights, actor) => {
      if (h.failSetWeights.next) {
        h.failSetWeights.next = false;
        throw new Error('refused by validation');
      }
      h.weights.push({ route, weights: { ...weights }, actor });
      return { version: `v${h.weights.length}` };
    },
    traffic: (cluster, since) => {
      h.sinceAsked.push(since);
      return h.load.get(cluster);
    },
    onChange: (c) => h.events.push(c),
    audit: (e) => h.audits.push(e),
    ...(maxWaitIntervals === undefined ? {} : { maxWaitIntervals }),
  });
  return h;
}

const spec = (extra: Record<string, unknown> = {}) =>
  parseCanaryRequest({ service: 'reviews', to: 'v2', steps: [10, 50, 100], interval: '1s', maxErrorRate: 0.01, maxP99Ms: 200, minRequests: 20, ...extra });
const healthy = (requests: number): StepFigures => ({ requests, errorRate: 0, p99Ms: 40 });

describe('judge', () => {
  it('waits below the minimum of requests, then applies the error and latency bounds', () => {
    const bounds = { maxErrorRate: 0.01, maxP99Ms: 200, minRequests: 20 };
    expect(judge({ requests: 19, errorRate: 0.5, p99Ms: 999 }, bounds, 5)).toEqual({ kind: 'wait', note: '19 of 20 requests needed' });
    expect(judge({ requests: 20, errorRate: 0.01, p99Ms: 200 }, bounds, 5)).toEqual({ kind: 'healthy' });
    expect(judge({ requests: 100, errorRate: 0.051, p99Ms: 10 }, bounds, 25)).toEqual({ kind: 'breach', reason: 'error rate 5.1% > 1% at step 25%' });
    expect(judge({ requests: 100, errorRate: 0, p99Ms: 350.4 }, bounds, 50)).toEqual({ kind: 'breach', reason: 'p99 latency 350ms > 200ms at step 50%' });
    // No latency buckets (a grpc-js-xds reporter): latency cannot be judged, errors still are.
    expect(judge({ requests: 100, errorRate: 0, p99Ms: null }, bounds, 50)).toEqual({ kind: 'healthy' });
    expect(judge({ requests: 100, errorRate: 0, p99Ms: 999 }, { maxErrorRate: 0.01, minRequests: 1 }, 50)).toEqual({ kind: 'healthy' });
  });

  it('formats shares as percentages', () => {
    expect(percent(0.01)).toBe('1%');
    expect(percent(0.051)).toBe('5.1%');
    expect(percent(0.0005)).toBe('0.05%');
    expect(percent(0)).toBe('0%');
  });
});

describe('parseCanaryRequest', () => {
  it('fills the defaults', () => {
    expect(parseCanaryRequest({ service: 'reviews', to: 'v2' })).toEqual({
      service: 'reviews',
      to: 'v2',
      route: 'default',
      steps: [5, 25, 50, 100],
      interval: '30s',
      intervalMs: 30_000,
      maxErrorRate: 0.01,
      minRequests: 20,
    });
  });

  it('names every bad field', () => {
    let err: CanaryRejection | undefined;
    try {
      parseCanaryRequest({ service: 'reviews', steps: [50, 25], interval: '30', maxErrorRate: 5, colour: 'red' });
    } catch (e) {
      err = e as CanaryRejection;
    }
    expect(err?.status).toBe(400);
    expect(err?.issues?.map((i) => i.path).sort()).toEqual(['colour', 'interval', 'maxErrorRate', 'steps', 'to']);
    expect(err?.issues?.find((i) => i.path === 'steps')?.message).toMatch(/must increase/);
    expect(err?.issues?.find((i) => i.path === 'maxErrorRate')?.message).toMatch(/0\.01 is 1%/);
  });
});

describe('CanaryController', () => {
  it('steps through the weights and promotes a healthy canary, every change as actor "canary"', async () => {
    const h = harness();
    const started = await h.controller.start(spec(), 'alice');
    expect(started).toMatchObject({ service: 'reviews', from: 'v1', to: 'v2', route: 'default', state: 'progressing', weight: 10, step: 0, actor: 'alice' });
    expect(h.weights).toEqual([{ route: 'default', weights: { v1: 90, v2: 10 }, actor: 'canary' }]);

    h.load.set(V2, healthy(50));
    h.load.set(V1, healthy(400));
    await h.clock.advance(900);
    expect(h.weights).toHaveLength(1); // the step lasts its interval even when healthy early
    await h.clock.advance(400);
    expect(h.weights.at(-1)?.weights).toEqual({ v1: 50, v2: 50 });
    await h.clock.advance(1300);
    expect(h.weights.at(-1)?.weights).toEqual({ v1: 0, v2: 100 });
    await h.clock.advance(1300);
    const done = h.controller.get('reviews')!;
    expect(done.state).toBe('promoted');
    expect(done.weight).toBe(100);
    expect(done.reason).toBeUndefined();
    expect(done.history.map((e) => e.decision.split(':')[0])).toEqual(['start', 'advance', 'advance', 'promote']);
    expect(done.history[1]).toMatchObject({ weight: 10, requests: 50, errorRate: 0, p99Ms: 40, baseline: healthy(400) });
    expect(h.weights.every((w) => w.actor === 'canary')).toBe(true);
    expect(h.weights).toHaveLength(3); // 10, 50, 100: promotion at the last step needs no extra change
    expect(h.events.at(-1)?.state).toBe('promoted');
    expect(h.clock.timers.size).toBe(0);
    expect(h.audits).toEqual([
      { actor: 'alice', action: 'canary.start', target: 'reviews', version: 'v1', diff: '', result: 'applied' },
      { actor: 'canary', action: 'canary.promote', target: 'reviews', version: 'v3', diff: '', result: 'applied' },
    ]);
  });

  it('judges each step only on reports since it began', async () => {
    const h = harness();
    await h.controller.start(spec());
    const firstStep = h.clock.now();
    h.load.set(V2, healthy(50));
    await h.clock.advance(1300);
    const secondStep = h.controller.get('reviews')!;
    expect(secondStep.weight).toBe(50);
    h.sinceAsked.length = 0;
    await h.clock.advance(300);
    expect(Math.min(...h.sinceAsked)).toBeGreaterThan(firstStep);
  });

  it('rolls back to 100 % baseline as soon as the error rate crosses the bound, and says why', async () => {
    const h = harness();
    await h.controller.start(spec());
    h.load.set(V2, healthy(50));
    await h.clock.advance(1300);
    expect(h.controller.get('reviews')?.weight).toBe(50);
    h.load.set(V2, { requests: 98, errorRate: 0.051, p99Ms: 30 });
    await h.clock.advance(300); // one check, well inside the step's interval
    const c = h.controller.get('reviews')!;
    expect(c.state).toBe('rolled-back');
    expect(c.reason).toBe('error rate 5.1% > 1% at step 50%');
    expect(c.weight).toBe(0);
    expect(h.weights.at(-1)).toEqual({ route: 'default', weights: { v1: 100, v2: 0 }, actor: 'canary' });
    expect(c.history.at(-1)).toMatchObject({ weight: 50, requests: 98, errorRate: 0.051, decision: 'rollback: error rate 5.1% > 1% at step 50%' });
    expect(h.events.at(-1)?.state).toBe('rolled-back');
    expect(h.audits.at(-1)).toMatchObject({ actor: 'canary', action: 'canary.rollback', result: 'applied', error: 'error rate 5.1% > 1% at step 50%' });
    const changes = h.weights.length;
    await h.clock.advance(5000);
    expect(h.weights).toHaveLength(changes); // finished: nothing more happens
  });

  it('rolls back on p99 latency over the bound', async () => {
    const h = harness();
    await h.controller.start(spec());
    h.load.set(V2, { requests: 40, errorRate: 0, p99Ms: 480 });
    await h.clock.advance(300);
    expect(h.controller.get('reviews')).toMatchObject({ state: 'rolled-back', reason: 'p99 latency 480ms > 200ms at step 10%' });
  });

  it('does not judge a step before it has the minimum of requests, and gives up after the wait bound', async () => {
    const h = harness(3);
    await h.controller.start(spec());
    // Two failures in five calls is not evidence yet.
    h.load.set(V2, { requests: 5, errorRate: 0.4, p99Ms: 30 });
    await h.clock.advance(2100);
    let c = h.controller.get('reviews')!;
    expect(c.state).toBe('progressing');
    expect(c.weight).toBe(10);
    expect(c.history.filter((e) => e.decision.startsWith('wait')).map((e) => e.decision)).toEqual(['wait: 5 of 20 requests needed', 'wait: 5 of 20 requests needed']);
    await h.clock.advance(1200);
    c = h.controller.get('reviews')!;
    expect(c.state).toBe('rolled-back');
    expect(c.reason).toMatch(/^only 5 requests reached v2 in 3 intervals at step 10% \(need 20\)/);
    expect(h.weights.at(-1)?.weights).toEqual({ v1: 100, v2: 0 });
  });

  it('aborts: weights back to baseline, state aborted, no further steps', async () => {
    const h = harness();
    await h.controller.start(spec());
    h.load.set(V2, healthy(50));
    const aborted = await h.controller.abort('reviews', 'bob');
    expect(aborted).toMatchObject({ state: 'aborted', reason: 'aborted by bob at step 10%', weight: 0 });
    expect(h.weights.at(-1)?.weights).toEqual({ v1: 100, v2: 0 });
    expect(h.audits.at(-1)).toMatchObject({ actor: 'bob', action: 'canary.abort', error: 'aborted by bob at step 10%' });
    await h.clock.advance(3000);
    expect(h.weights).toHaveLength(2);
    await expect(h.controller.abort('reviews')).rejects.toMatchObject({ status: 409 });
    expect(h.audits.at(-1)).toMatchObject({ actor: 'admin', action: 'canary.abort', target: 'reviews', result: 'rejected', error: expect.stringMatching(/already aborted/) });
    await expect(h.controller.abort('ratings')).rejects.toMatchObject({ status: 404 });
    expect(h.audits.at(-1)).toMatchObject({ action: 'canary.abort', target: 'ratings', result: 'rejected' });
  });

  it('refuses a second canary of the same service while one progresses, and allows one after', async () => {
    const h = harness();
    await h.controller.start(spec());
    await expect(h.controller.start(spec())).rejects.toMatchObject({ status: 409, message: expect.stringMatching(/already progressing at 10%/) });
    expect(h.audits.at(-1)).toMatchObject({ action: 'canary.start', target: 'reviews', result: 'rejected', error: expect.stringMatching(/already progressing/) });
    await h.controller.abort('reviews');
    await expect(h.controller.start(spec())).resolves.toMatchObject({ state: 'progressing' });
    expect(h.controller.list()).toHaveLength(1);
  });

  it('lets only one of two simultaneous starts of the same service through', async () => {
    const h = harness();
    const results = await Promise.allSettled([h.controller.start(spec()), h.controller.start(spec())]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(h.weights).toHaveLength(1);
  });

  it('refuses unknown services, routes and versions, and an ambiguous baseline, without changing weights', async () => {
    const h = harness();
    await expect(h.controller.start(spec({ service: 'nope' }))).rejects.toMatchObject({ status: 404, message: expect.stringMatching(/unknown service "nope"; services: reviews, ratings/) });
    await expect(h.controller.start(spec({ route: 'canary' }))).rejects.toMatchObject({ status: 404, message: expect.stringMatching(/no route "canary"; its routes: default/) });
    await expect(h.controller.start(spec({ to: 'v9' }))).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/"v9" is neither a subset of reviews \(v1, v2, v3\)/) });
    // A route to the whole service with three subsets: which one is the baseline?
    const model = parseMeshYaml('services:\n  reviews:\n    protocol: http\n    port: 9080\n    subsets: { v1: { version: v1 }, v2: { version: v2 }, v3: { version: v3 } }\n', 'x.yaml');
    const other = new CanaryController({ model: () => model, setWeights: async () => ({}), traffic: () => undefined, clock: h.clock });
    await expect(other.start(spec())).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/name it with "from"/) });
    await expect(other.start(spec({ from: 'v1' }))).resolves.toMatchObject({ from: 'v1', to: 'v2' });
    other.close();
    expect(h.weights).toEqual([]);
  });

  it('holds the route\'s other backends at 0 while the canary runs', async () => {
    const model = parseMeshYaml(
      'services:\n  reviews:\n    protocol: http\n    port: 9080\n    subsets: { v1: { version: v1 }, v2: { version: v2 }, v3: { version: v3 } }\n    routes:\n      - name: default\n        backends: [{ subset: v1, weight: 90 }, { subset: v3, weight: 10 }]\n',
      'x.yaml',
    );
    const seen: Record<string, number>[] = [];
    const clock = new FakeClock();
    const c = new CanaryController({ model: () => model, setWeights: async (_s, _r, w) => void seen.push({ ...w }), traffic: () => undefined, clock });
    await c.start(spec({ from: 'v1' }));
    expect(seen).toEqual([{ v1: 90, v2: 10, v3: 0 }]);
    c.close();
  });

  it('keeps watching when reading the load fails once', async () => {
    const clock = new FakeClock();
    let calls = 0;
    const c = new CanaryController({
      clock,
      model: () => MODEL,
      setWeights: async () => ({}),
      traffic: () => {
        if (++calls === 1) throw new Error('view unavailable');
        return healthy(50);
      },
    });
    await c.start(spec());
    await clock.advance(1300);
    expect(c.get('reviews')?.weight).toBe(50);
    c.close();
  });

  it('rolls back when a step\'s weight change is refused, and reports a refused first step to the caller', async () => {
    const h = harness();
    h.failSetWeights.next = true;
    await expect(h.controller.start(spec())).rejects.toThrow(/refused by validation/);
    expect(h.audits).toEqual([{ actor: 'admin', action: 'canary.start', target: 'reviews', version: null, diff: '', result: 'rejected', error: 'refused by validation' }]);
    expect(h.controller.get('reviews')).toBeUndefined();
    await h.controller.start(spec());
    h.load.set(V2, healthy(50));
    h.failSetWeights.next = true;
    await h.clock.advance(1300);
    const c = h.controller.get('reviews')!;
    expect(c.state).toBe('rolled-back');
    expect(c.reason).toBe('could not set step 50%: refused by validation');
    expect(h.weights.at(-1)?.weights).toEqual({ v1: 100, v2: 0 });
  });
});
