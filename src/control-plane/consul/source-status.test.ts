import { describe, expect, it } from 'vitest';
import { SourceStatus } from './source-status.ts';

describe('SourceStatus', () => {
  it('is down while any watch fails, shows the latest failure, and is up again once all succeeded', () => {
    const s = new SourceStatus('consul', 'http://c:8500');
    const changes: boolean[] = [];
    s.onChange((v) => changes.push(v.up));
    s.ok('a', 10, true);
    s.failed('a', 'HTTP 500: x');
    s.failed('b', 'timed out');
    expect(s.view()).toMatchObject({ up: false, error: 'b: timed out', failing: ['a', 'b'], index: 10 });
    s.ok('b', 12, false);
    expect(s.view()).toMatchObject({ up: false, error: 'a: HTTP 500: x', knownLeader: false });
    s.forget('a');
    expect(s.view()).toMatchObject({ up: true, error: null, failing: [], index: 12 });
    expect(changes).toEqual([false, true]);
  });

  it('keeps knownLeader as the last read said when a success carries no leader information', () => {
    const s = new SourceStatus('consul', 'http://c:8500');
    s.ok('catalog/services', 5, false);
    s.ok('agent', 0);
    expect(s.view()).toMatchObject({ knownLeader: false, index: 5 });
    s.ok('catalog/services', 6, true);
    expect(s.view().knownLeader).toBe(true);
  });
});
