/**
 * The per-type protocol rules (SotW and delta) as pure functions over a
 * TypeState. Decoding is passed in, so these use a tiny JSON decoder; the
 * client tests (ads-client.test.ts) run the same rules over a real stream with
 * real xDS resources.
 */
import { describe, expect, it } from 'vitest';
import type { AnyMessage } from '../protos.ts';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER } from '../type-urls.ts';
import { applyDeltaResponse, deltaAckRequest, deltaInitialRequest, deltaSubscriptionRequest } from './delta.ts';
import type { DecodeResource } from './messages.ts';
import { applySotwResponse, sotwRequest } from './sotw.ts';
import { TypeState } from './state.ts';

function any(typeUrl: string, name: string, extra: Record<string, unknown> = {}): AnyMessage {
  return { type_url: typeUrl, value: Buffer.from(JSON.stringify({ name, ...extra })) };
}

const decode: DecodeResource = (_typeUrl, a) => {
  const v = JSON.parse(Buffer.from(a.value).toString()) as { name: string; bad?: string };
  if (v.bad !== undefined) throw new Error(`${v.name}: ${v.bad}`);
  return { name: v.name, value: v };
};

describe('SotW', () => {
  it('ACKs with the response version and nonce and replaces a wildcard set', () => {
    const s = new TypeState(CLUSTER, true);
    const r1 = applySotwResponse(s, { version_info: 'v1', nonce: 'n1', type_url: CLUSTER, resources: [any(CLUSTER, 'a'), any(CLUSTER, 'b')] }, decode, 0);
    expect(r1.error).toBeUndefined();
    expect(r1.changed).toBe(true);
    expect(r1.reply).toEqual({ version_info: 'v1', resource_names: [], type_url: CLUSTER, response_nonce: 'n1' });
    const r2 = applySotwResponse(s, { version_info: 'v2', nonce: 'n2', type_url: CLUSTER, resources: [any(CLUSTER, 'b')] }, decode, 0);
    expect(r2.changed).toBe(true);
    expect([...s.resources.keys()]).toEqual(['b']); // absence from a wildcard response is deletion
    const r3 = applySotwResponse(s, { version_info: 'v3', nonce: 'n3', type_url: CLUSTER, resources: [any(CLUSTER, 'b')] }, decode, 0);
    expect(r3.changed).toBe(false);
    expect(s.status()).toMatchObject({ version: 'v3', nonce: 'n3', acked: true });
  });

  it('NACKs the whole response: previous version, new nonce, error_detail; nothing applied', () => {
    const s = new TypeState(CLUSTER, true);
    applySotwResponse(s, { version_info: 'v1', nonce: 'n1', type_url: CLUSTER, resources: [any(CLUSTER, 'a')] }, decode, 0);
    const bad = { version_info: 'v2', nonce: 'n2', type_url: CLUSTER, resources: [any(CLUSTER, 'a', { x: 1 }), any(CLUSTER, 'c', { bad: 'lb_policy is unknown' })] };
    const r = applySotwResponse(s, bad, decode, 1234);
    expect(r.changed).toBe(false);
    expect(r.reply).toEqual({
      version_info: 'v1',
      resource_names: [],
      type_url: CLUSTER,
      response_nonce: 'n2',
      error_detail: { code: 3, message: 'c: lb_policy is unknown' },
    });
    expect([...s.resources.keys()]).toEqual(['a']);
    expect(JSON.parse(Buffer.from(s.resources.get('a')!.raw).toString())).toEqual({ name: 'a' }); // sibling not applied
    expect(s.status()).toMatchObject({ version: 'v1', nonce: 'n2', acked: false, lastNack: { nonce: 'n2', rejectedVersion: 'v2', at: 1234 } });
    // Until a response is accepted, requests of this type keep saying "rejected".
    expect(sotwRequest(s).error_detail?.code).toBe(3);
    applySotwResponse(s, { version_info: 'v3', nonce: 'n3', type_url: CLUSTER, resources: [any(CLUSTER, 'a')] }, decode, 0);
    expect(sotwRequest(s).error_detail).toBeUndefined();
  });

  it('rejects a resource of the wrong type and duplicate names', () => {
    const s = new TypeState(CLUSTER, true);
    const r = applySotwResponse(s, { version_info: 'v1', nonce: 'n1', type_url: CLUSTER, resources: [any(LISTENER, 'l'), any(CLUSTER, 'a'), any(CLUSTER, 'a')] }, decode, 0);
    expect(r.error).toMatch(/Listener in a .*Cluster response/);
    expect(r.error).toMatch(/"a" appears twice/);
  });

  it('a named type keeps only what it subscribed to and names it in resource_names', () => {
    const s = new TypeState(CLUSTER_LOAD_ASSIGNMENT, false);
    s.subscribed.add('x');
    const r = applySotwResponse(s, { version_info: '1', nonce: 'n', type_url: CLUSTER_LOAD_ASSIGNMENT, resources: [any(CLUSTER_LOAD_ASSIGNMENT, 'x'), any(CLUSTER_LOAD_ASSIGNMENT, 'y')] }, decode, 0);
    expect(r.received).toEqual(['x']);
    expect([...s.resources.keys()]).toEqual(['x']);
    expect(r.reply.resource_names).toEqual(['x']);
  });
});

describe('delta', () => {
  it('applies valid siblings, keeps the last good version of an invalid one, and NACKs naming it', () => {
    const s = new TypeState(CLUSTER, true);
    applyDeltaResponse(s, { system_version_info: 's1', nonce: 'n1', type_url: CLUSTER, resources: [
      { name: 'a', version: '1', resource: any(CLUSTER, 'a') },
      { name: 'b', version: '1', resource: any(CLUSTER, 'b') },
    ] }, decode, 0);
    const r = applyDeltaResponse(s, { system_version_info: 's2', nonce: 'n2', type_url: CLUSTER, resources: [
      { name: 'a', version: '2', resource: any(CLUSTER, 'a', { bad: 'connect_timeout is negative' }) },
      { name: 'b', version: '2', resource: any(CLUSTER, 'b', { weight: 2 }) },
      { name: 'c', version: '1', resource: any(CLUSTER, 'c') },
    ] }, decode, 99);
    expect(r.changed).toBe(true);
    expect(r.reply).toMatchObject({ type_url: CLUSTER, response_nonce: 'n2', error_detail: { code: 3, message: 'a: connect_timeout is negative' } });
    expect(s.resources.get('a')!.version).toBe('1');
    expect(s.resources.get('b')!.version).toBe('2');
    expect(s.resources.has('c')).toBe(true);
    expect(s.status()).toMatchObject({ version: 's1', acked: false, lastNack: { nonce: 'n2', rejectedVersion: 's2' } });
  });

  it('ACKs with the nonce, removes removed resources, and a removed subscribed name is known missing', () => {
    const s = new TypeState(CLUSTER_LOAD_ASSIGNMENT, false);
    s.subscribed.add('x');
    s.subscribed.add('y');
    applyDeltaResponse(s, { nonce: 'n1', type_url: CLUSTER_LOAD_ASSIGNMENT, resources: [{ name: 'x', version: '1', resource: any(CLUSTER_LOAD_ASSIGNMENT, 'x') }] }, decode, 0);
    expect(s.pending()).toEqual(['y']);
    const r = applyDeltaResponse(s, { nonce: 'n2', type_url: CLUSTER_LOAD_ASSIGNMENT, resources: [], removed_resources: ['x', 'y'] }, decode, 0);
    expect(r.changed).toBe(true);
    expect(r.reply).toEqual({ type_url: CLUSTER_LOAD_ASSIGNMENT, resource_names_subscribe: [], resource_names_unsubscribe: [], initial_resource_versions: {}, response_nonce: 'n2' });
    expect(s.resources.size).toBe(0);
    expect(s.pending()).toEqual([]);
    expect([...s.missing]).toEqual(['x', 'y']);
  });

  it('rejects a resource whose body names another resource, or has no body', () => {
    const s = new TypeState(CLUSTER, true);
    const r = applyDeltaResponse(s, { nonce: 'n', type_url: CLUSTER, resources: [{ name: 'a', version: '1', resource: any(CLUSTER, 'b') }, { name: 'z', version: '1' }] }, decode, 0);
    expect(r.error).toContain('named "b"');
    expect(r.error).toContain('"z" has no body');
    expect(s.resources.size).toBe(0);
  });

  it('skips decoding an unchanged resend but records its new version', () => {
    const s = new TypeState(CLUSTER, true);
    let calls = 0;
    const counting: DecodeResource = (t, a) => {
      calls++;
      return decode(t, a);
    };
    applyDeltaResponse(s, { nonce: '1', type_url: CLUSTER, resources: [{ name: 'a', version: '1', resource: any(CLUSTER, 'a') }] }, counting, 0);
    const r = applyDeltaResponse(s, { nonce: '2', type_url: CLUSTER, resources: [{ name: 'a', version: '7', resource: any(CLUSTER, 'a') }] }, counting, 0);
    expect(calls).toBe(1);
    expect(r.changed).toBe(false);
    expect(s.resources.get('a')!.version).toBe('7');
  });

  it('resubscribes on a new stream with initial_resource_versions, then sends only subscription diffs', () => {
    const s = new TypeState(CLUSTER_LOAD_ASSIGNMENT, false);
    s.subscribed.add('x');
    applyDeltaResponse(s, { nonce: 'n1', type_url: CLUSTER_LOAD_ASSIGNMENT, resources: [{ name: 'x', version: 'vx', resource: any(CLUSTER_LOAD_ASSIGNMENT, 'x') }] }, decode, 0);
    s.resetStream();
    s.subscribed.add('y');
    const init = deltaInitialRequest(s);
    expect(init.resource_names_subscribe).toEqual(['x', 'y']);
    expect(init.initial_resource_versions).toEqual({ x: 'vx' });
    expect(deltaSubscriptionRequest(s)).toBeUndefined();
    s.subscribed.delete('x');
    s.subscribed.add('z');
    expect(deltaSubscriptionRequest(s)).toMatchObject({ resource_names_subscribe: ['z'], resource_names_unsubscribe: ['x'] });
    expect(deltaSubscriptionRequest(s)).toBeUndefined();
  });

  it('a wildcard type subscribes with an empty first request (the form every server reads as wildcard)', () => {
    const s = new TypeState(LISTENER, true);
    expect(deltaInitialRequest(s)).toEqual({
      type_url: LISTENER,
      resource_names_subscribe: [],
      resource_names_unsubscribe: [],
      initial_resource_versions: {},
      response_nonce: '',
    });
    expect(deltaAckRequest(s).error_detail).toBeUndefined();
  });
});
