/**
 * Decoded resources → the config model. The same MeshModel the local-file mode
 * builds (source `xds`). Pieces not received yet never throw: a listener
 * without its route configuration serves one default route, a cluster
 * without its assignment has no endpoints.
 */
import { EnmeshError } from '../../errors.ts';
import { finalizeModel } from '../../model/finalize.ts';
import {
  type AuthenticationPolicyModel,
  type AuthorizationPolicyModel,
  DEFAULT_RETRY_BUDGET,
  type Labels,
  type MeshModel,
  type MeshSettings,
  type RouteModel,
  type ServiceModel,
} from '../../model/types.ts';
import { clusterName } from '../resource-names.ts';
import type {
  DecodedListener,
  DecodedResources,
  DecodedRouteConfig,
  DecodedVirtualHost,
  ResourceMaps,
} from './types.ts';

/** Used until a listener brings the mesh's settings (there is none when no service is published). */
export const DEFAULT_MESH: MeshSettings = Object.freeze({ name: 'default', trustDomain: 'cluster.local', mtls: 'permissive' });

export function assembleModel(resources: ResourceMaps): MeshModel {
  const r = asDecoded(resources);
  let mesh: MeshSettings | undefined;
  const services = new Map<string, ServiceModel>();
  const authorization: AuthorizationPolicyModel[] = [];
  const authentication: AuthenticationPolicyModel[] = [];
  for (const listener of r.listeners.values()) {
    mesh ??= listener.mesh;
    // Both listeners of a service (`ratings`, `ratings:50051`) describe it; the first one seen wins.
    if (!services.has(listener.service)) {
      services.set(listener.service, assembleService(listener, r));
      authorization.push(...(listener.authorization ?? []));
      authentication.push(...(listener.authentication ?? []));
    }
  }
  return finalizeModel({
    source: 'xds',
    mesh: mesh ?? DEFAULT_MESH,
    services,
    // From the RBAC / jwt_authn filters of each service's listener.
    policies: { authorization, authentication },
  });
}

function assembleService(listener: DecodedListener, r: DecodedResources): ServiceModel {
  const { service: name, port } = listener;
  const main = r.clusters.get(clusterName(name, port));
  const rc = r.routeConfigs.get(listener.routeConfigName);
  const vh = rc === undefined ? undefined : virtualHostFor(rc, listener);
  const decoded = vh?.routes ?? [];

  const clusterBudget = main?.retryBudget ?? DEFAULT_RETRY_BUDGET;
  const routes: RouteModel[] = decoded.map((d) =>
    d.route.retries === undefined ? d.route : { ...d.route, retries: { ...d.route.retries, budget: d.retryBudget ?? clusterBudget } },
  );
  if (routes.length === 0) routes.push(defaultRoute(name));

  const subsets = new Map<string, Labels>();
  for (const c of r.clusters.values()) {
    if (c.service === name && c.port === port && c.subset !== undefined) subsets.set(c.subset, c.labels ?? {});
  }

  const service: { -readonly [K in keyof ServiceModel]: ServiceModel[K] } = {
    name,
    protocol: listener.protocol,
    port,
    endpoints: r.assignments.get(main?.edsServiceName ?? clusterName(name, port))?.endpoints ?? [],
    subsets,
    loadBalancer: main?.loadBalancer ?? 'round-robin',
    routes,
  };
  // hashOn rides on every forwarding route's hash_policy; without one, on the cluster.
  const forwarding = decoded.find((d) => d.route.backends !== undefined);
  const hashOn = forwarding !== undefined ? forwarding.hashOn : main?.hashOn;
  if (hashOn !== undefined) service.hashOn = hashOn;
  if (main?.connectionPool !== undefined) service.connectionPool = main.connectionPool;
  if (main?.outlierDetection !== undefined) service.outlierDetection = main.outlierDetection;
  if (main?.rateLimit !== undefined) service.rateLimit = main.rateLimit;
  if (main?.circuitBreaker !== undefined) service.circuitBreaker = main.circuitBreaker;
  if (main?.adaptiveConcurrency !== undefined) service.adaptiveConcurrency = main.adaptiveConcurrency;
  if (main?.inboundFault !== undefined) service.inboundFault = main.inboundFault;
  return service;
}

/** The virtual host answering to the listener's name, as a client picks it by authority. */
function virtualHostFor(rc: DecodedRouteConfig, listener: DecodedListener): DecodedVirtualHost | undefined {
  const names = [listener.name, listener.service, `${listener.service}:${listener.port}`];
  return (
    rc.virtualHosts.find((vh) => vh.domains.some((d) => names.includes(d))) ??
    rc.virtualHosts.find((vh) => vh.domains.includes('*')) ??
    rc.virtualHosts[0]
  );
}

/** What a service without routes gets in mesh.yaml: everything to all its endpoints. */
function defaultRoute(service: string): RouteModel {
  return { name: 'default', match: { methods: [], headers: [], query: [] }, backends: [{ service, weight: 1 }], timeoutMs: 0 };
}

export interface ResourceNames {
  routeConfigs: string[];
  clusters: string[];
  assignments: string[];
}

/**
 * Every route configuration, cluster and assignment the present resources
 * refer to: the names a client subscribes to. Clusters include each service's
 * own cluster; subset clusters nobody routes to are only found by a wildcard
 * cluster subscription.
 */
export function referencedResourceNames(resources: ResourceMaps): ResourceNames {
  const r = asDecoded(resources);
  const routeConfigs = new Set<string>();
  const clusters = new Set<string>();
  for (const l of r.listeners.values()) {
    routeConfigs.add(l.routeConfigName);
    clusters.add(clusterName(l.service, l.port));
  }
  for (const name of routeConfigs) {
    for (const vh of r.routeConfigs.get(name)?.virtualHosts ?? []) {
      for (const route of vh.routes) for (const c of route.clusters) clusters.add(c);
    }
  }
  const assignments = new Set<string>();
  for (const c of r.clusters.values()) assignments.add(c.edsServiceName);
  return { routeConfigs: [...routeConfigs], clusters: [...clusters], assignments: [...assignments] };
}

/** The referenced names not present yet: what a client still waits for. */
export function requiredResourceNames(resources: ResourceMaps): ResourceNames {
  const all = referencedResourceNames(resources);
  return {
    routeConfigs: all.routeConfigs.filter((n) => !resources.routeConfigs.has(n)),
    clusters: all.clusters.filter((n) => !resources.clusters.has(n)),
    assignments: all.assignments.filter((n) => !resources.assignments.has(n)),
  };
}

/** Checks each value is what decodeResource produced for that type (a programming error otherwise). */
function asDecoded(resources: ResourceMaps): DecodedResources {
  check(resources.listeners, 'listener', 'listeners');
  check(resources.routeConfigs, 'route-config', 'routeConfigs');
  check(resources.clusters, 'cluster', 'clusters');
  check(resources.assignments, 'assignment', 'assignments');
  return resources as DecodedResources;
}

function check(map: ReadonlyMap<string, unknown>, kind: string, field: string): void {
  for (const [name, value] of map) {
    if ((value as { kind?: unknown } | null)?.kind !== kind) {
      throw new EnmeshError('ENMESH_ERR_XDS_INVALID', `${field}["${name}"] is not a decoded ${kind}: pass decodeResource(...).value`);
    }
  }
}
