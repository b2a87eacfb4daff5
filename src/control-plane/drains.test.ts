import { describe, expect, it } from 'vitest';
import { parseMeshYaml } from '../config/load.ts';
import { decodeAssignment } from '../xds/decode/assignment.ts';
import { translateAssignments } from '../xds/translate/assignment.ts';
import { Degradations } from '../xds/translate/degradations.ts';
import { createEndpointState } from '../cluster/endpoint-state.ts';
import { DrainSet, endpointAddress, normalizeEndpointAddress } from './drains.ts';

const model = parseMeshYaml(
  'services:\n  reviews:\n    protocol: http\n    port: 9080\n    endpoints: [{ address: "10.0.0.1:80" }, { address: "10.0.0.2:80" }, { address: "[::1]:80" }]\n',
  'mesh.yaml',
);

describe('normalizeEndpointAddress', () => {
  it('brackets an IPv6 host given without brackets, and leaves the rest as given', () => {
    expect(normalizeEndpointAddress('::1:9081')).toBe('[::1]:9081');
    expect(normalizeEndpointAddress('fd00::a:b:80')).toBe('[fd00::a:b]:80');
    for (const a of ['[::1]:9081', '10.0.0.1:80', 'reviews.local:9080', 'nohost']) expect(normalizeEndpointAddress(a)).toBe(a);
    expect(normalizeEndpointAddress('::1:80')).toBe(endpointAddress({ host: '::1', port: 80 }));
  });
});

describe('DrainSet', () => {
  it('marks drained endpoints unhealthy and draining, and leaves the model alone otherwise', () => {
    const drains = new DrainSet();
    expect(drains.apply(model)).toBe(model);
    expect(drains.set('reviews', '10.0.0.2:80', true)).toBe(true);
    expect(drains.set('reviews', '10.0.0.2:80', true)).toBe(false);
    expect(drains.set('reviews', '[::1]:80', true)).toBe(true);
    const out = drains.apply(model);
    expect(out.version).not.toBe(model.version);
    expect(out.services.get('reviews')!.endpoints.map((e) => [endpointAddress(e), e.healthy, e.draining === true])).toEqual([
      ['10.0.0.1:80', true, false],
      ['10.0.0.2:80', false, true],
      ['[::1]:80', false, true],
    ]);
    expect(drains.list()).toEqual([
      { service: 'reviews', address: '10.0.0.2:80' },
      { service: 'reviews', address: '[::1]:80' },
    ]);
    drains.set('reviews', '10.0.0.2:80', false);
    drains.set('reviews', '[::1]:80', false);
    expect(drains.apply(model)).toBe(model);
  });

  it('travels as EDS health DRAINING and starts unavailable in the SDK', () => {
    const drains = new DrainSet();
    drains.set('reviews', '10.0.0.2:80', true);
    const svc = drains.apply(model).services.get('reviews')!;
    const [cla] = translateAssignments(svc, { kind: 'enmesh' }, new Degradations());
    const lb = (cla!.message as { endpoints: { lb_endpoints: { health_status: string }[] }[] }).endpoints[0]!.lb_endpoints;
    expect(lb.map((e) => e.health_status)).toEqual(['HEALTHY', 'DRAINING', 'HEALTHY']);
    const decoded = decodeAssignment(JSON.parse(JSON.stringify(cla!.message)), { kind: 'ClusterLoadAssignment', name: cla!.name });
    const states = decoded.endpoints.map(createEndpointState);
    expect(states.map((s) => s.available)).toEqual([true, false, true]);
    expect(decoded.endpoints[1]).toMatchObject({ healthy: false, draining: true });
  });
});
