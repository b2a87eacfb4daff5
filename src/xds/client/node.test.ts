import { describe, expect, it } from 'vitest';
import { serviceDefinitions } from '../protos.ts';
import { DRAINING_KEY, REGISTRATION_KEY, buildNode, readRegistration } from './node.ts';

/** Round-trips a node through the real DiscoveryRequest serializer, as the control plane will see it. */
function overTheWire(node: object): unknown {
  const def = serviceDefinitions()['envoy.service.discovery.v3.AggregatedDiscoveryService'] as unknown as Record<
    string,
    { requestSerialize: (v: object) => Buffer; requestDeserialize: (b: Buffer) => { node: unknown } }
  >;
  const m = def.StreamAggregatedResources;
  return m.requestDeserialize(m.requestSerialize({ node })).node;
}

const registration = { service: 'reviews', host: '10.0.0.7', port: 9080, labels: { version: 'v2' }, zone: 'zone-b' };

describe('node', () => {
  it('identifies the SDK and its locality', () => {
    const n = overTheWire(buildNode({ id: 'reviews-1', locality: { zone: 'zone-a' } }, undefined, false)) as Record<string, unknown>;
    expect(n.id).toBe('reviews-1');
    expect(n.user_agent_name).toBe('enmesh');
    expect(n.user_agent_version).toMatch(/^\d+\.\d+\.\d+/);
    expect((n.locality as { zone: string }).zone).toBe('zone-a');
    const short = overTheWire(buildNode({ id: 'r', zone: 'zone-c' }, undefined, false)) as { locality: { zone: string } };
    expect(short.locality.zone).toBe('zone-c');
  });

  it('carries the registration as a Struct that survives serialization', () => {
    const wire = overTheWire(buildNode({ id: 'reviews-1', metadata: { team: 'books' } }, registration, false));
    expect(readRegistration(wire)).toEqual({ registration, draining: false });
    const fields = (wire as { metadata: { fields: Record<string, unknown> } }).metadata.fields;
    expect(Object.keys(fields).sort()).toEqual([REGISTRATION_KEY, 'team']);
  });

  it('marks draining only when asked', () => {
    const wire = overTheWire(buildNode({ id: 'r' }, registration, true));
    expect(readRegistration(wire).draining).toBe(true);
    const fields = (wire as { metadata: { fields: Record<string, unknown> } }).metadata.fields;
    expect(fields[DRAINING_KEY]).toBeDefined();
  });

  it('ignores a malformed registration instead of trusting it', () => {
    const wire = overTheWire(buildNode({ id: 'r', metadata: { [REGISTRATION_KEY]: { service: 'x', host: 'h', port: 0 } } }, undefined, false));
    expect(readRegistration(wire)).toEqual({ draining: false });
    expect(readRegistration(undefined)).toEqual({ draining: false });
  });
});
