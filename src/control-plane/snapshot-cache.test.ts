import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EnmeshError } from '../errors.ts';
import type { MeshModel } from '../model/types.ts';
import type { Snapshot } from './snapshot.ts';
import { SnapshotCache } from './snapshot-cache.ts';
import type { ModelChange } from './snapshot-cache.ts';

const model = (version: string): MeshModel => ({ version }) as MeshModel;

function fakeSnapshot(m: MeshModel, profile: { kind: string }): Snapshot {
  return {
    version: `${m.version}/${profile.kind}`,
    modelVersion: m.version,
    profile: profile.kind,
    resources: new Map(),
    typeVersions: new Map(),
    degradations: [],
  };
}

const build = vi.fn((m: MeshModel, p: { kind: string }): Snapshot => {
  if (m.version.startsWith('bad')) throw new EnmeshError('ENMESH_ERR_CONTROL_PLANE', `refusing ${m.version}`, { issues: [{ path: 'Cluster x', message: 'dangling' }] });
  return fakeSnapshot(m, p);
});

beforeEach(() => {
  build.mockClear();
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('SnapshotCache', () => {
  it('publishes a burst of setModel calls once, with the last model, after 50 ms of quiet', () => {
    const cache = new SnapshotCache({ build });
    const changes: ModelChange[] = [];
    cache.onChange((c) => changes.push(c));
    cache.setModel(model('a'));
    vi.advanceTimersByTime(30);
    cache.setModel(model('b'));
    vi.advanceTimersByTime(30);
    cache.setModel(model('c'));
    vi.advanceTimersByTime(49);
    expect(changes).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(changes).toEqual([{ modelVersion: 'c', previousModelVersion: undefined }]);
    expect(cache.model()!.version).toBe('c');
  });

  it('never delays a publish more than 250 ms, however long the burst', () => {
    const cache = new SnapshotCache({ build });
    const at: number[] = [];
    const start = Date.now();
    cache.onChange(() => at.push(Date.now() - start));
    for (let i = 0; i < 20; i++) {
      cache.setModel(model(`m${i}`));
      vi.advanceTimersByTime(40);
    }
    vi.advanceTimersByTime(100);
    expect(at[0]).toBe(250);
    expect(at.length).toBeGreaterThanOrEqual(3);
    expect(cache.model()!.version).toBe('m19');
  });

  it('refuses a model whose snapshot is inconsistent and keeps the previous one', () => {
    const refused: string[] = [];
    const cache = new SnapshotCache({ build, profiles: [{ kind: 'enmesh' }], onRefused: (e) => refused.push(e.modelVersion) });
    const listener = vi.fn();
    cache.publish(model('good'));
    cache.onChange(listener);
    expect(() => cache.publish(model('bad-1'))).toThrow(/refusing bad-1/);
    cache.setModel(model('bad-2'));
    vi.advanceTimersByTime(50);
    expect(listener).not.toHaveBeenCalled();
    expect(cache.model()!.version).toBe('good');
    expect(cache.current({ kind: 'enmesh' })!.version).toBe('good/enmesh');
    expect(cache.lastError()).toMatchObject({ modelVersion: 'bad-2', message: 'refusing bad-2', issues: [{ path: 'Cluster x' }] });
    expect(refused).toEqual(['bad-1', 'bad-2']);
    cache.publish(model('better'));
    expect(cache.lastError()).toBeUndefined();
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it('builds a profile only once asked for, then keeps it current on every publish', () => {
    const cache = new SnapshotCache({ build });
    cache.publish(model('a'));
    expect(build).not.toHaveBeenCalled();
    const first = cache.current({ kind: 'grpc-xds' });
    expect(cache.current({ kind: 'grpc-xds' })).toBe(first);
    expect(build).toHaveBeenCalledTimes(1);
    cache.publish(model('b'));
    expect(build).toHaveBeenCalledTimes(2);
    expect(cache.snapshots().get('grpc-xds')!.modelVersion).toBe('b');
  });

  it('ignores a publish of the model already current', () => {
    const cache = new SnapshotCache({ build });
    const listener = vi.fn();
    cache.onChange(listener);
    cache.publish(model('a'));
    cache.publish(model('a'));
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it('keeps the last N published models', () => {
    const cache = new SnapshotCache({ build, historySize: 3 });
    for (const v of ['a', 'b', 'c', 'd', 'e']) cache.publish(model(v));
    expect(cache.history().map((h) => h.modelVersion)).toEqual(['c', 'd', 'e']);
  });
});
