import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseMeshYaml } from '../../config/load.ts';
import { finalizeModel } from '../../model/finalize.ts';
import { DEFAULT_BACKOFF, IDEMPOTENT_METHODS, type MeshModel, type ServiceModel } from '../../model/types.ts';
import { ENMESH_PROFILE, translateModel, type TranslatedResources } from '../translate/index.ts';
import { richModel } from '../../../test/fixtures/xds/rich-model.ts';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION } from '../type-urls.ts';
import { assembleModel, decodeResource, requiredResourceNames } from './index.ts';

const FIELD: Record<string, 'listeners' | 'routeConfigs' | 'clusters' | 'assignments'> = {
  [LISTENER]: 'listeners',
  [ROUTE_CONFIGURATION]: 'routeConfigs',
  [CLUSTER]: 'clusters',
  [CLUSTER_LOAD_ASSIGNMENT]: 'assignments',
};

function decodeAll(tr: TranslatedResources) {
  const maps = { listeners: new Map<string, unknown>(), routeConfigs: new Map<string, unknown>(), clusters: new Map<string, unknown>(), assignments: new Map<string, unknown>() };
  for (const [typeUrl, resources] of tr.byType) {
    for (const [name, r] of resources) {
      const d = decodeResource(typeUrl, r.any);
      expect(d.name).toBe(name);
      maps[FIELD[typeUrl]].set(d.name, d.value);
    }
  }
  return maps;
}

function roundTrip(model: MeshModel): MeshModel {
  return assembleModel(decodeAll(translateModel(model, ENMESH_PROFILE)));
}

describe('model → xDS → model', () => {
  it('gives back the same rich model, only its source changes', () => {
    const model = richModel();
    const back = roundTrip(model);
    expect(back.source).toBe('xds');
    expect(back.version).toBe(model.version);
    expect(back.mesh).toStrictEqual(model.mesh);
    expect(back.policies).toStrictEqual(model.policies);
    expect([...back.services.keys()]).toEqual([...model.services.keys()]);
    for (const [name, service] of model.services) {
      const got = back.services.get(name)!;
      expect([...got.subsets]).toStrictEqual([...service.subsets]);
      expect({ ...got, subsets: undefined }).toStrictEqual({ ...service, subsets: undefined });
    }
    expect(Object.isFrozen(back.services.get('reviews')!.routes[0])).toBe(true);
    expect(requiredResourceNames(decodeAll(translateModel(model, ENMESH_PROFILE)))).toEqual({ routeConfigs: [], clusters: [], assignments: [] });
  });

  it('gives back a minimal model', () => {
    const svc: ServiceModel = {
      name: 'echo',
      protocol: 'http',
      port: 80,
      endpoints: [],
      subsets: new Map(),
      loadBalancer: 'round-robin',
      routes: [{ name: 'default', match: { methods: [], headers: [], query: [] }, backends: [{ service: 'echo', weight: 1 }], timeoutMs: 0 }],
    };
    const model = finalizeModel({ source: 'x', mesh: { name: 'm', trustDomain: 't', mtls: 'disabled' }, services: new Map([['echo', svc]]), policies: { authorization: [], authentication: [] } });
    const back = roundTrip(model);
    expect(back.version).toBe(model.version);
    expect(back.services.get('echo')).toStrictEqual(svc);
  });

  it('keeps per-route retry budgets, explicit root prefixes and single weighted backends', () => {
    const retries = (percent: number) => ({
      attempts: 1,
      perTryTimeoutMs: 0,
      on: ['5xx' as const],
      statusCodes: [],
      methods: IDEMPOTENT_METHODS,
      backoff: DEFAULT_BACKOFF,
      budget: { percent, minPerSecond: 2 },
    });
    const svc: ServiceModel = {
      name: 'a',
      protocol: 'http',
      port: 81,
      endpoints: [{ host: 'a.example', port: 81, labels: {}, weight: 1, zone: '', healthy: true, origin: 'registered' }],
      subsets: new Map(),
      loadBalancer: 'random',
      routes: [
        { name: 'one', match: { path: { kind: 'prefix', value: '/' }, methods: [], headers: [], query: [] }, backends: [{ service: 'a', weight: 7 }], timeoutMs: 0, retries: retries(10) },
        { name: 'two', match: { methods: [], headers: [], query: [] }, backends: [{ service: 'a', weight: 1 }], timeoutMs: 250.5, retries: retries(30) },
      ],
    };
    const model = finalizeModel({ source: 'x', mesh: { name: 'm', trustDomain: 't', mtls: 'permissive' }, services: new Map([['a', svc]]), policies: { authorization: [], authentication: [] } });
    expect(roundTrip(model).services.get('a')).toStrictEqual(svc);
  });
  it('keeps success-rate ejection and the longest ejection time', () => {
    const svc: ServiceModel = {
      name: 'od',
      protocol: 'grpc',
      port: 82,
      endpoints: [],
      subsets: new Map(),
      loadBalancer: 'round-robin',
      outlierDetection: {
        consecutive5xx: 3,
        intervalMs: 500,
        baseEjectionTimeMs: 2000,
        maxEjectionPercent: 50,
        maxEjectionTimeMs: 60_000,
        successRate: { minimumHosts: 2, requestVolume: 5, stdevFactor: 0.5 },
      },
      routes: [{ name: 'default', match: { methods: [], headers: [], query: [] }, backends: [{ service: 'od', weight: 1 }], timeoutMs: 0 }],
    };
    const model = finalizeModel({ source: 'x', mesh: { name: 'm', trustDomain: 't', mtls: 'disabled' }, services: new Map([['od', svc]]), policies: { authorization: [], authentication: [] } });
    expect(roundTrip(model).services.get('od')).toStrictEqual(svc);
  });
});

describe('mesh.yaml fixtures → xDS → model', () => {
  const dir = fileURLToPath(new URL('../../../test/fixtures/config/valid/', import.meta.url));
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

  it('has fixtures to check', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  // Mesh settings and services here; policies (RBAC / jwt_authn filters) round-trip in security-filters.test.ts.
  it.each(files)('%s keeps its mesh settings and services', (file) => {
    const model = parseMeshYaml(readFileSync(dir + file, 'utf8'), file);
    const back = roundTrip(model);
    expect(back.mesh).toStrictEqual(model.mesh);
    expect(back.services).toEqual(model.services);
    for (const [name, service] of model.services) {
      expect({ ...back.services.get(name)!, subsets: [...back.services.get(name)!.subsets] }).toStrictEqual({ ...service, subsets: [...service.subsets] });
    }
  });
});
