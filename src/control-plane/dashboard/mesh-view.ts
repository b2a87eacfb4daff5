/**
 * The published model as the dashboard draws it (`GET /ui/mesh.json`): per
 * service its endpoints, each route's weight split, fault and the rate limit,
 * with durations in milliseconds and maps as plain objects.
 */
import type { EndpointModel, FaultPolicyModel, MeshModel, RouteModel, ServiceModel } from '../../model/types.ts';
import { endpointAddress } from '../drains.ts';

export interface BackendView {
  /**
   * What the weights API calls this backend: a subset of the route's own
   * service bare (`v2`), another service's as `service/subset` (a bare name is
   * read as the route owner's subset first), else the service.
   */
  readonly key: string;
  readonly service: string;
  readonly subset: string | null;
  readonly weight: number;
}

export interface RouteView {
  readonly name: string;
  /** Empty for a redirect or a direct response. */
  readonly backends: readonly BackendView[];
  readonly match: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly fault: FaultPolicyModel | null;
}

export interface EndpointView {
  /** `host:port`, IPv6 in brackets: the `{endpoint}` of the drain call. */
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly zone: string;
  readonly weight: number;
  readonly healthy: boolean;
  readonly origin: string;
  readonly drained: boolean;
}

export interface ServiceView {
  readonly name: string;
  readonly protocol: string;
  readonly port: number;
  readonly loadBalancer: string;
  readonly endpoints: readonly EndpointView[];
  readonly routes: readonly RouteView[];
  readonly rateLimit: { readonly requestsPerSecond: number; readonly burst: number; readonly scope: string } | null;
  readonly outlierDetection: boolean;
  readonly circuitBreaker: boolean;
}

export interface MeshView {
  readonly modelVersion: string | null;
  readonly mesh: string | null;
  readonly services: readonly ServiceView[];
}

export function meshView(model: MeshModel | undefined): MeshView {
  if (model === undefined) return { modelVersion: null, mesh: null, services: [] };
  return { modelVersion: model.version, mesh: model.mesh.name, services: [...model.services.values()].map(serviceView) };
}

function serviceView(s: ServiceModel): ServiceView {
  return {
    name: s.name,
    protocol: s.protocol,
    port: s.port,
    loadBalancer: s.loadBalancer,
    endpoints: s.endpoints.map(endpointView),
    routes: s.routes.map((r) => routeView(s, r)),
    rateLimit: s.rateLimit === undefined ? null : { requestsPerSecond: s.rateLimit.requestsPerSecond, burst: s.rateLimit.burst, scope: s.rateLimit.scope },
    outlierDetection: s.outlierDetection !== undefined,
    circuitBreaker: s.circuitBreaker !== undefined,
  };
}

function endpointView(e: EndpointModel): EndpointView {
  return {
    address: endpointAddress(e),
    labels: e.labels,
    zone: e.zone,
    weight: e.weight,
    healthy: e.healthy,
    origin: e.origin,
    // Drained endpoints stay listed (published unhealthy) and take no new requests.
    drained: e.draining === true,
  };
}

function routeView(s: ServiceModel, r: RouteModel): RouteView {
  return {
    name: r.name,
    backends: (r.backends ?? []).map((b) => ({
      key: b.subset === undefined ? b.service : b.service === s.name ? b.subset : `${b.service}/${b.subset}`,
      service: b.service,
      subset: b.subset ?? null,
      weight: b.weight,
    })),
    match: describeMatch(s, r),
    timeoutMs: r.timeoutMs,
    retries: r.retries?.attempts ?? 0,
    fault: r.fault ?? null,
  };
}

/** A one-line summary of what a route matches, e.g. `GET /api* x-canary=true`. */
function describeMatch(s: ServiceModel, r: RouteModel): string {
  const m = r.match;
  const parts: string[] = [];
  if (m.methods.length > 0) parts.push(m.methods.join('|'));
  if (m.path !== undefined) {
    const p = m.path;
    parts.push(p.kind === 'prefix' ? `${p.value}*` : p.kind === 'exact' ? p.value : p.kind === 'regex' ? `~${p.value}` : p.kind);
  }
  for (const h of m.headers) parts.push(h.match.kind === 'exact' ? `${h.name}=${h.match.value}` : `${h.name} ${h.match.kind}`);
  for (const q of m.query) parts.push(q.match.kind === 'exact' ? `?${q.name}=${q.match.value}` : `?${q.name} ${q.match.kind}`);
  return parts.length === 0 ? (s.protocol === 'grpc' ? 'any method' : 'any request') : parts.join(' ');
}
