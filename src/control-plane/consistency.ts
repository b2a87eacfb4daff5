/**
 * The consistency check a snapshot passes before it is published: every name
 * one resource refers to must exist in the same snapshot, so a client never
 * waits on (or, for grpc-js-xds, crashes on) a dangling reference.
 *
 * - a Listener's RDS route config name exists;
 * - an API listener's route config has a virtual host matching the listener
 *   name (the authority a gRPC client looks up);
 * - every cluster a route refers to (direct, weighted, mirror) exists;
 * - every EDS cluster's load assignment exists.
 */
import type { ConfigIssue } from '../errors.ts';
import { fromAny } from '../xds/protos.ts';
import type { AnyMessage } from '../xds/protos.ts';
import {
  CLUSTER,
  CLUSTER_LOAD_ASSIGNMENT,
  HTTP_CONNECTION_MANAGER,
  LISTENER,
  ROUTER_FILTER,
  ROUTE_CONFIGURATION,
} from '../xds/type-urls.ts';

interface ResourceLike {
  readonly any: AnyMessage;
}

type ByType = ReadonlyMap<string, ReadonlyMap<string, ResourceLike>>;
type Obj = Record<string, unknown>;

export function checkConsistency(byType: ByType): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const listeners = byType.get(LISTENER);
  const routes = byType.get(ROUTE_CONFIGURATION);
  const clusters = byType.get(CLUSTER);
  const assignments = byType.get(CLUSTER_LOAD_ASSIGNMENT);
  const decoded = new Map<string, Obj>();
  const routeConfig = (name: string): Obj | undefined => {
    let rc = decoded.get(name);
    if (rc === undefined) {
      const r = routes?.get(name);
      if (r === undefined) return undefined;
      rc = decode(r.any);
      decoded.set(name, rc);
    }
    return rc;
  };

  for (const [name, res] of listeners ?? []) {
    const listener = decode(res.any);
    const api = listener.api_listener as { api_listener?: AnyMessage } | undefined;
    const hcms: { hcm: Obj; api: boolean }[] = [];
    if (api?.api_listener !== undefined) {
      if (api.api_listener.type_url === HTTP_CONNECTION_MANAGER) hcms.push({ hcm: decode(api.api_listener), api: true });
    }
    for (const chain of arr(listener.filter_chains)) {
      for (const filter of arr((chain as Obj).filters)) {
        const tc = (filter as Obj).typed_config as AnyMessage | undefined;
        if (tc?.type_url === HTTP_CONNECTION_MANAGER) hcms.push({ hcm: decode(tc), api: false });
      }
    }
    for (const { hcm, api: isApi } of hcms) {
      const path = `Listener ${name}`;
      checkFilters(hcm, path, issues);
      const rds = hcm.rds as { route_config_name?: string } | undefined;
      let rc: Obj | undefined;
      let rcPath: string;
      if (rds !== undefined) {
        const rcName = rds.route_config_name ?? '';
        rc = routeConfig(rcName);
        rcPath = `RouteConfiguration ${rcName}`;
        if (rc === undefined) {
          issues.push({ path, message: `refers to route configuration "${rcName}", which is not in the snapshot` });
          continue;
        }
      } else if (hcm.route_config !== undefined) {
        rc = hcm.route_config as Obj;
        rcPath = `${path} (inline route configuration)`;
        checkRouteClusters(rc, rcPath, clusters, issues);
      } else {
        issues.push({ path, message: 'has neither rds nor an inline route_config' });
        continue;
      }
      if (isApi && !hasVirtualHostFor(rc, name)) {
        issues.push({
          path: rcPath,
          message: `has no virtual host whose domains match "${name}", the listener that uses it (a gRPC client fails on such a listener)`,
        });
      }
    }
  }

  for (const [name] of routes ?? []) {
    checkRouteClusters(routeConfig(name)!, `RouteConfiguration ${name}`, clusters, issues);
  }

  for (const [name, res] of clusters ?? []) {
    const cluster = decode(res.any);
    if (cluster.type !== 'EDS') continue;
    const eds = cluster.eds_cluster_config as { service_name?: string } | undefined;
    const edsName = eds?.service_name !== undefined && eds.service_name !== '' ? eds.service_name : name;
    if (assignments?.get(edsName) === undefined) {
      issues.push({ path: `Cluster ${name}`, message: `refers to endpoints "${edsName}", which are not in the snapshot` });
    }
  }
  return issues;
}

function checkFilters(hcm: Obj, path: string, issues: ConfigIssue[]): void {
  const filters = arr(hcm.http_filters) as Obj[];
  if (filters.length === 0) {
    issues.push({ path, message: 'has no HTTP filters; the router filter must be last' });
    return;
  }
  filters.forEach((f, i) => {
    if (f.typed_config === undefined) issues.push({ path, message: `HTTP filter ${i} (${String(f.name)}) has no typed_config` });
  });
  const last = filters[filters.length - 1]!.typed_config as AnyMessage | undefined;
  if (last?.type_url !== ROUTER_FILTER) {
    issues.push({ path, message: 'the last HTTP filter is not the router' });
  }
}

function checkRouteClusters(
  rc: Obj,
  path: string,
  clusters: ReadonlyMap<string, ResourceLike> | undefined,
  issues: ConfigIssue[],
): void {
  const missing = (cluster: unknown, where: string): void => {
    if (typeof cluster === 'string' && cluster !== '' && clusters?.get(cluster) === undefined) {
      issues.push({ path, message: `${where} refers to cluster "${cluster}", which is not in the snapshot` });
    }
  };
  for (const vh of arr(rc.virtual_hosts) as Obj[]) {
    for (const [i, route] of (arr(vh.routes) as Obj[]).entries()) {
      const action = route.route as Obj | undefined;
      if (action === undefined) continue;
      const where = `virtual host ${String(vh.name)} route ${i}`;
      missing(action.cluster, where);
      const weighted = action.weighted_clusters as { clusters?: { name?: string }[] } | undefined;
      for (const c of weighted?.clusters ?? []) missing(c.name, where);
      for (const m of arr(action.request_mirror_policies) as Obj[]) missing(m.cluster, `${where} mirror`);
    }
  }
}

/** gRPC's domain matching: exact, `*.suffix`, `prefix.*` or `*`, case-insensitive. */
export function hasVirtualHostFor(rc: Obj, authority: string): boolean {
  const host = authority.toLowerCase();
  for (const vh of arr(rc.virtual_hosts) as Obj[]) {
    for (const raw of arr(vh.domains) as string[]) {
      const d = raw.toLowerCase();
      if (d === '*' || d === host) return true;
      if (d.startsWith('*') && host.endsWith(d.slice(1))) return true;
      if (d.endsWith('*') && host.startsWith(d.slice(0, -1))) return true;
    }
  }
  return false;
}

function decode(any: AnyMessage): Obj {
  return fromAny<Obj>(any);
}

function arr(v: unknown): readonly unknown[] {
  return Array.isArray(v) ? v : [];
}
