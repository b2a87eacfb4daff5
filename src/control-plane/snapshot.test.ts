import { describe, expect, it } from 'vitest';
import { parseMeshYaml } from '../config/load.ts';
import { isEnmeshError } from '../errors.ts';
import { toAny } from '../xds/protos.ts';
import { makeResource } from '../xds/translate/resource.ts';
import { ENMESH_PROFILE, GRPC_XDS_PROFILE } from '../xds/translate/profile.ts';
import {
  CLUSTER,
  CLUSTER_LOAD_ASSIGNMENT,
  HTTP_CONNECTION_MANAGER,
  LISTENER,
  ROUTER_FILTER,
  ROUTE_CONFIGURATION,
} from '../xds/type-urls.ts';
import { createSnapshot } from './snapshot.ts';
import type { SnapshotResource } from './snapshot.ts';
import { SnapshotCache } from './snapshot-cache.ts';
import { buildSnapshot } from './snapshot-builder.ts';

type Msg = Record<string, unknown>;

function listener(name: string, routeConfig: string, filters: Msg[] = [{ name: 'router', typed_config: toAny(ROUTER_FILTER, {}) }]): Msg {
  const hcm = { rds: { route_config_name: routeConfig, config_source: { ads: {} } }, http_filters: filters };
  return { name, api_listener: { api_listener: toAny(HTTP_CONNECTION_MANAGER, hcm) } };
}

function routeConfig(name: string, domains: string[], action: Msg): Msg {
  return { name, virtual_hosts: [{ name: 'vh', domains, routes: [{ match: { prefix: '' }, route: action }] }] };
}

const cluster = (name: string, eds = name): Msg => ({ name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {} }, service_name: eds } });
const assignment = (name: string): Msg => ({ cluster_name: name, endpoints: [] });

function resources(parts: { lds?: Msg[]; rds?: Msg[]; cds?: Msg[]; eds?: Msg[] }): Map<string, Map<string, SnapshotResource>> {
  const out = new Map<string, Map<string, SnapshotResource>>();
  const put = (typeUrl: string, msgs: Msg[] = [], key = 'name'): void => {
    out.set(typeUrl, new Map(msgs.map((m) => [String(m[key]), makeResource(typeUrl, String(m[key]), m)])));
  };
  put(LISTENER, parts.lds);
  put(ROUTE_CONFIGURATION, parts.rds);
  put(CLUSTER, parts.cds);
  put(CLUSTER_LOAD_ASSIGNMENT, parts.eds, 'cluster_name');
  return out;
}

const GOOD = {
  lds: [listener('svc', 'svc-routes')],
  rds: [routeConfig('svc-routes', ['svc', 'svc:80'], { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 1 } }, { name: 'b', weight: { value: 1 } }] } })],
  cds: [cluster('a'), cluster('b', 'b-endpoints')],
  eds: [assignment('a'), assignment('b-endpoints')],
};

function refusal(parts: Parameters<typeof resources>[0]): string {
  try {
    createSnapshot(resources(parts), { modelVersion: 'm', profile: 'test' });
  } catch (err) {
    expect(isEnmeshError(err) && err.code).toBe('ENMESH_ERR_CONTROL_PLANE');
    return (err as Error).message;
  }
  throw new Error('snapshot was not refused');
}

describe('snapshot consistency check', () => {
  it('accepts a snapshot whose every reference resolves', () => {
    const snap = createSnapshot(resources(GOOD), { modelVersion: 'm', profile: 'test', degradations: ['d'] });
    expect(snap.resources.get(CLUSTER)!.size).toBe(2);
    expect(snap.degradations).toEqual(['d']);
    expect(snap.version).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuses a listener whose route configuration is missing', () => {
    expect(refusal({ ...GOOD, rds: [] })).toMatch(/Listener svc: refers to route configuration "svc-routes", which is not in the snapshot/);
  });

  it('refuses a route to a missing cluster (direct or weighted)', () => {
    expect(refusal({ ...GOOD, cds: [cluster('a')] })).toMatch(/refers to cluster "b"/);
    const direct = { ...GOOD, rds: [routeConfig('svc-routes', ['svc'], { cluster: 'zzz' })] };
    expect(refusal(direct)).toMatch(/refers to cluster "zzz"/);
  });

  it('refuses an EDS cluster without its load assignment (by service_name)', () => {
    expect(refusal({ ...GOOD, eds: [assignment('a'), assignment('b')] })).toMatch(/Cluster b: refers to endpoints "b-endpoints"/);
  });

  it('refuses a route configuration with no virtual host for the listener that uses it', () => {
    const rds = [routeConfig('svc-routes', ['other'], { cluster: 'a' })];
    expect(refusal({ ...GOOD, rds })).toMatch(/no virtual host whose domains match "svc"/);
    // Wildcards match as gRPC matches them.
    for (const domains of [['*'], ['sv*'], ['*vc']]) {
      expect(() => createSnapshot(resources({ ...GOOD, rds: [routeConfig('svc-routes', domains, { cluster: 'a' })] }), { modelVersion: 'm', profile: 't' })).not.toThrow();
    }
  });

  it('refuses HTTP filters without the router last', () => {
    const lds = [listener('svc', 'svc-routes', [{ name: 'router', typed_config: toAny(ROUTER_FILTER, {}) }, { name: 'bare' }])];
    const message = refusal({ ...GOOD, lds });
    expect(message).toMatch(/HTTP filter 1 \(bare\) has no typed_config/);
    expect(message).toMatch(/the last HTTP filter is not the router/);
  });
});

const MESH = (weight: number): string => `
mesh: { name: t }
services:
  ratings:
    protocol: grpc
    port: 50051
    endpoints:
      - { address: 127.0.0.1:7001, labels: { version: v1 } }
      - { address: 127.0.0.1:7002, labels: { version: v2 } }
    subsets: { v1: { version: v1 }, v2: { version: v2 } }
    routes:
      - backends: [{ subset: v1, weight: ${weight} }, { subset: v2, weight: 10 }]
`;

describe('snapshot versions', () => {
  it('are equal for equal content, across caches (as on two replicas)', () => {
    const a = new SnapshotCache({ build: buildSnapshot });
    const b = new SnapshotCache({ build: buildSnapshot });
    a.publish(parseMeshYaml(MESH(90), 'replica-a.yaml'));
    b.publish(parseMeshYaml(MESH(90), 'replica-b.yaml'));
    for (const profile of [ENMESH_PROFILE, GRPC_XDS_PROFILE]) {
      expect(a.current(profile)!.version).toBe(b.current(profile)!.version);
    }
    b.publish(parseMeshYaml(MESH(80), 'replica-b.yaml'));
    expect(b.current(ENMESH_PROFILE)!.version).not.toBe(a.current(ENMESH_PROFILE)!.version);
  });

  it('change with the content, and only for the types that changed', () => {
    const before = buildSnapshot(parseMeshYaml(MESH(90), 'm.yaml'), GRPC_XDS_PROFILE);
    const after = buildSnapshot(parseMeshYaml(MESH(80), 'm.yaml'), GRPC_XDS_PROFILE);
    expect(after.version).not.toBe(before.version);
    const changed = [...after.typeVersions].filter(([t, v]) => before.typeVersions.get(t) !== v).map(([t]) => t);
    expect(changed).toEqual([ROUTE_CONFIGURATION]);
  });
});
