import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { OutlierDetectionModel } from '../model/types.ts';
import { createRoundRobin } from '../cluster/balancers/round-robin.ts';
import { states } from '../../test/helpers/endpoints.ts';
import { OutlierDetector, outcomeForError, outcomeForGrpcStatus, outcomeForStatus } from './outlier-detector.ts';
import { EnmeshError } from '../errors.ts';

const BASE: OutlierDetectionModel = { consecutive5xx: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100, panicThresholdPercent: 0 };

let detector: OutlierDetector | undefined;
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  detector?.close();
  detector = undefined;
  vi.useRealTimers();
});

function make(model: Partial<OutlierDetectionModel>, n = 4): { d: OutlierDetector; eps: ReturnType<typeof states> } {
  const eps = states(n);
  detector = new OutlierDetector('reviews', { ...BASE, ...model }, eps);
  return { d: detector, eps };
}

describe('outcome mapping', () => {
  it('maps statuses, gRPC codes and errors', () => {
    expect([200, 404, 429, 500, 501, 502, 503, 504, 505].map(outcomeForStatus)).toEqual(['success', 'success', 'success', '5xx', '5xx', 'gateway', 'gateway', 'gateway', '5xx']);
    expect([0, 5, 8, 4, 14, 13, 2].map(outcomeForGrpcStatus)).toEqual(['success', 'success', 'success', 'gateway', 'gateway', '5xx', '5xx']);
    expect(outcomeForError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe('local-failure');
    expect(outcomeForError(new EnmeshError('ENMESH_ERR_PER_TRY_TIMEOUT', 'slow'))).toBe('local-failure');
    // The caller's abort and the route's total timeout are not the endpoint's fault.
    expect(outcomeForError(new EnmeshError('ENMESH_ERR_TIMEOUT', 'route timeout'))).toBeUndefined();
    expect(outcomeForError(new DOMException('aborted', 'AbortError'))).toBeUndefined();
  });
});

describe('consecutive errors', () => {
  it('ejects after N consecutive 5xx and a success in between resets the count', () => {
    const { d, eps } = make({});
    for (let i = 0; i < 4; i++) d.onResult(eps[0], '5xx');
    d.onResult(eps[0], 'success');
    for (let i = 0; i < 4; i++) d.onResult(eps[0], '5xx');
    expect(eps[0].available).toBe(true);
    d.onResult(eps[0], '5xx');
    expect(eps[0].available).toBe(false);
    expect(d.counters.ejectedConsecutive5xx).toBe(1);
    const snap = d.snapshot();
    expect(snap.ejected).toEqual([{ endpoint: '10.0.0.1:8080', since: Date.now(), until: Date.now() + 30_000, reason: 'consecutive-5xx', multiplier: 1 }]);
  });

  it('restores after base ejection time, and a repeat ejection lasts base × 2', () => {
    const { d, eps } = make({});
    const fail = (): void => {
      for (let i = 0; i < 5; i++) d.onResult(eps[0], '5xx');
    };
    fail();
    vi.advanceTimersByTime(29_999);
    expect(eps[0].available).toBe(false);
    vi.advanceTimersByTime(1);
    expect(eps[0].available).toBe(true);
    expect(d.counters.unejections).toBe(1);

    vi.advanceTimersByTime(5_000); // t = 35 s: still within the interval after the restore
    fail();
    expect(d.snapshot().ejected[0].multiplier).toBe(2);
    vi.advanceTimersByTime(59_999);
    expect(eps[0].available).toBe(false);
    vi.advanceTimersByTime(1);
    expect(eps[0].available).toBe(true);
  });

  it('forgives one ejection per interval spent in service, and caps the ejection time', () => {
    const { d, eps } = make({ maxEjectionTimeMs: 50_000 });
    const fail = (): void => {
      for (let i = 0; i < 5; i++) d.onResult(eps[0], '5xx');
    };
    fail();
    vi.advanceTimersByTime(30_000);
    fail(); // multiplier 2 → 60 s, capped at 50 s
    expect(d.snapshot().ejected[0].until - Date.now()).toBe(50_000);
    vi.advanceTimersByTime(50_000);
    expect(eps[0].available).toBe(true);
    vi.advanceTimersByTime(30_000); // three intervals in service: 2 → 0
    fail();
    expect(d.snapshot().ejected[0].multiplier).toBe(1);
  });

  it('counts gateway errors separately when configured', () => {
    const { d, eps } = make({ consecutiveGatewayErrors: 2 });
    d.onResult(eps[0], 'gateway');
    d.onResult(eps[0], 'gateway');
    expect(eps[0].available).toBe(false);
    expect(d.counters.ejectedConsecutiveGateway).toBe(1);
    // A 500 is a 5xx but not a gateway error: it breaks the gateway run.
    d.onResult(eps[1], 'gateway');
    d.onResult(eps[1], '5xx');
    d.onResult(eps[1], 'gateway');
    expect(eps[1].available).toBe(true);
  });

  it('treats local-origin failures as gateway errors unless they have their own threshold', () => {
    const merged = make({ consecutive5xx: 3 });
    for (let i = 0; i < 3; i++) merged.d.onResult(merged.eps[0], 'local-failure');
    expect(merged.eps[0].available).toBe(false);
    merged.d.close();

    const split = make({ consecutive5xx: 3, consecutiveLocalOriginFailures: 2 });
    split.d.onResult(split.eps[0], 'local-failure');
    split.d.onResult(split.eps[0], '5xx'); // a response: the endpoint is reachable again
    split.d.onResult(split.eps[0], 'local-failure');
    expect(split.eps[0].available).toBe(true);
    split.d.onResult(split.eps[0], 'local-failure');
    expect(split.eps[0].available).toBe(false);
    expect(split.d.counters.ejectedConsecutiveLocalOrigin).toBe(1);
  });
});

describe('maxEjectionPercent', () => {
  it('stops ejecting once the share of ejected endpoints reaches it', () => {
    const { d, eps } = make({ maxEjectionPercent: 50 }, 10);
    for (const ep of eps) for (let i = 0; i < 5; i++) d.onResult(ep, '5xx');
    expect(eps.filter((e) => !e.available)).toHaveLength(5);
    expect(d.counters.ejectionsOverflow).toBe(5);
  });

  it('always allows one ejection when above 0, as Envoy does, and none at 0', () => {
    const some = make({ maxEjectionPercent: 10 }, 3);
    for (const ep of some.eps) for (let i = 0; i < 5; i++) some.d.onResult(ep, '5xx');
    expect(some.eps.filter((e) => !e.available)).toHaveLength(1);
    some.d.close();

    const none = make({ maxEjectionPercent: 0 }, 3);
    for (let i = 0; i < 5; i++) none.d.onResult(none.eps[0], '5xx');
    expect(none.eps[0].available).toBe(true);
  });
});

describe('panic', () => {
  it('gives ejected endpoints traffic again while too few are available, and leaves panic as they recover', () => {
    const { d, eps } = make({ panicThresholdPercent: 50 }, 4);
    const balancer = createRoundRobin(eps);
    const fail = (i: number): void => {
      for (let k = 0; k < 5; k++) d.onResult(eps[i], '5xx');
    };
    fail(0);
    fail(1);
    expect(d.panic).toBe(false); // 2 of 4 available: exactly at the threshold
    expect(eps.filter((e) => e.available)).toHaveLength(2);

    vi.advanceTimersByTime(1_000);
    fail(2); // 1 of 4 available: panic
    expect(d.panic).toBe(true);
    expect(d.counters.panics).toBe(1);
    expect(eps.every((e) => e.available)).toBe(true);
    const picked = new Set(Array.from({ length: 8 }, () => balancer.pick({})!.authority));
    expect(picked.size).toBe(4);
    expect(d.snapshot()).toMatchObject({ panic: true, endpoints: 4 });
    expect(d.snapshot().ejected).toHaveLength(3);

    vi.advanceTimersByTime(29_000); // the first two are restored: 3 of 4 available
    expect(d.panic).toBe(false);
    expect(eps.map((e) => e.available)).toEqual([true, true, false, true]);
  });
});

describe('success rate', () => {
  it('ejects an endpoint far below its peers at the interval', () => {
    const { d, eps } = make({ successRate: { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 } }, 6);
    for (let i = 0; i < 100; i++) {
      for (let e = 0; e < 5; e++) d.onResult(eps[e], i < 99 ? 'success' : '5xx');
      d.onResult(eps[5], i % 2 === 0 ? 'success' : '5xx');
    }
    expect(eps[5].available).toBe(true); // judged only at the interval
    vi.advanceTimersByTime(10_000);
    expect(eps.map((e) => e.available)).toEqual([true, true, true, true, true, false]);
    expect(d.counters.ejectedSuccessRate).toBe(1);
  });

  it('judges no one with too few endpoints or too few requests', () => {
    const { d, eps } = make({ successRate: { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 } }, 6);
    for (let i = 0; i < 99; i++) {
      for (let e = 0; e < 5; e++) d.onResult(eps[e], 'success');
      d.onResult(eps[5], i % 2 === 0 ? 'success' : 'gateway');
    }
    vi.advanceTimersByTime(10_000);
    expect(eps.every((e) => e.available)).toBe(true);
  });
});

describe('lifecycle', () => {
  it('keeps ejections of endpoints that stay across an update, forgets those that leave, and close restores all', () => {
    const { d, eps } = make({});
    for (let i = 0; i < 5; i++) d.onResult(eps[0], '5xx');
    for (let i = 0; i < 5; i++) d.onResult(eps[1], '5xx');
    d.update({ ...BASE, consecutive5xx: 2 }, [eps[0], eps[2], eps[3]]);
    expect(d.ejectedCount).toBe(1);
    expect(d.snapshot().endpoints).toBe(3);
    d.onResult(eps[2], '5xx');
    d.onResult(eps[2], '5xx');
    expect(eps[2].available).toBe(false);
    d.close();
    expect(eps[0].available && eps[2].available).toBe(true);
  });

  it('restores an endpoint to its health, not blindly to available', () => {
    const eps = states(2);
    const sick = { ...eps[0], endpoint: { ...eps[0].endpoint, healthy: false } };
    detector = new OutlierDetector('x', BASE, [sick, eps[1]]);
    for (let i = 0; i < 5; i++) detector.onResult(sick, '5xx');
    vi.advanceTimersByTime(30_000);
    expect(sick.available).toBe(false);
  });
});
