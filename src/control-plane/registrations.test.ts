import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseMeshYaml } from '../config/load.ts';
import { buildNode } from '../xds/client/node.ts';
import { toStruct } from '../xds/client/struct.ts';
import { Registrations } from './registrations.ts';

const BASE = parseMeshYaml(
  `
services:
  ratings:
    protocol: grpc
    port: 50051
    endpoints:
      - { address: 10.0.0.1:7000, labels: { version: v1 } }
`,
  'mesh.yaml',
);

const reg = (host: string, port = 7000) => ({ service: 'ratings', host, port, labels: { version: 'v2' }, zone: 'z1' });
const node = (host: string, draining = false, port = 7000) => buildNode({ id: `node-${host}` }, reg(host, port), draining);
const addresses = (r: Registrations): string[] =>
  r.apply(BASE).services.get('ratings')!.endpoints.map((e) => `${e.host}:${e.port}/${e.origin}`);

let onChange: ReturnType<typeof vi.fn<() => void>>;
let r: Registrations;

beforeEach(() => {
  vi.useFakeTimers();
  onChange = vi.fn<() => void>();
  r = new Registrations({ onChange, graceMs: 2000 });
});
afterEach(() => {
  r.close();
  vi.useRealTimers();
});

describe('Registrations', () => {
  it('adds a registered instance after the static endpoints, with its labels and zone', () => {
    expect(r.onNode('s1', 'n1', node('10.0.0.2'), true)).toBe('ratings/10.0.0.2:7000');
    expect(onChange).toHaveBeenCalledTimes(1);
    const eps = r.apply(BASE).services.get('ratings')!.endpoints;
    expect(eps.map((e) => e.origin)).toEqual(['static', 'registered']);
    expect(eps[1]).toMatchObject({ host: '10.0.0.2', port: 7000, labels: { version: 'v2' }, zone: 'z1', weight: 1, healthy: true });
  });

  it('keeps an instance for the grace period after its stream ends, then removes it', () => {
    r.onNode('s1', 'n1', node('10.0.0.2'), true);
    r.onStreamClosed('s1');
    expect(r.list()[0]!.leavingAt).not.toBeNull();
    vi.advanceTimersByTime(1999);
    expect(addresses(r)).toContain('10.0.0.2:7000/registered');
    expect(onChange).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1);
    expect(addresses(r)).toEqual(['10.0.0.1:7000/static']);
    expect(onChange).toHaveBeenCalledTimes(2);
  });

  it('does not flap an instance that registers again within the grace period', () => {
    r.onNode('s1', 'n1', node('10.0.0.2'), true);
    r.onStreamClosed('s1');
    vi.advanceTimersByTime(1500);
    r.onNode('s2', 'n1', node('10.0.0.2'), true);
    vi.advanceTimersByTime(5000);
    expect(addresses(r)).toContain('10.0.0.2:7000/registered');
    expect(onChange).toHaveBeenCalledTimes(1);
    expect(r.list()[0]!.leavingAt).toBeNull();
  });

  it('removes a draining instance at once', () => {
    r.onNode('s1', 'n1', node('10.0.0.2'), true);
    expect(r.onNode('s1', 'n1', node('10.0.0.2', true), false)).toBeUndefined();
    expect(addresses(r)).toEqual(['10.0.0.1:7000/static']);
    expect(onChange).toHaveBeenCalledTimes(2);
    r.onStreamClosed('s1');
    vi.advanceTimersByTime(5000);
    expect(onChange).toHaveBeenCalledTimes(2);
  });

  it('keeps an instance announced by two streams until both are gone', () => {
    r.onNode('s1', 'n1', node('10.0.0.2'), true);
    r.onNode('s2', 'n1', node('10.0.0.2'), true);
    r.onStreamClosed('s1');
    vi.advanceTimersByTime(5000);
    expect(addresses(r)).toContain('10.0.0.2:7000/registered');
    r.onStreamClosed('s2');
    vi.advanceTimersByTime(2000);
    expect(addresses(r)).toEqual(['10.0.0.1:7000/static']);
  });

  it('does not add an instance that is already a static endpoint', () => {
    r.onNode('s1', 'n1', node('10.0.0.1'), true);
    expect(addresses(r)).toEqual(['10.0.0.1:7000/static']);
  });

  it('reports instances of services the model lacks, and malformed registrations', () => {
    r.onNode('s1', 'n1', buildNode({ id: 'n1' }, { service: 'nowhere', host: '10.0.0.3', port: 1 }, false), true);
    r.onNode('s2', 'n2', { id: 'n2', metadata: toStruct({ 'enmesh.registration': { service: 'ratings', host: '10.0.0.4', port: 0 } }) }, true);
    expect(addresses(r)).toEqual(['10.0.0.1:7000/static']);
    const errors = r.errors();
    expect(errors.map((e) => e.instance)).toEqual(['n2', 'nowhere/10.0.0.3:1']);
    expect(errors[0]!.message).toMatch(/malformed/);
    expect(errors[1]!.message).toMatch(/service "nowhere" is not declared/);
    r.onStreamClosed('s2');
    expect(r.errors().map((e) => e.instance)).toEqual(['nowhere/10.0.0.3:1']);
  });
});
