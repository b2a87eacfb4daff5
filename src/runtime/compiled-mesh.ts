/**
 * A config model compiled for the hot path: authority lookup tables, route
 * tables with compiled matchers, one balancer per (service, subset), retry
 * policies pre-digested. Built once per config version; read per request.
 */
import { isIP } from 'node:net';
import type { BackendRef, MeshModel, RouteModel, ServiceModel } from '../model/types.ts';
import { DEFAULT_RETRY_BUDGET } from '../model/types.ts';
import type { RouteTable } from '../routing/types.ts';
import type { Balancer, EndpointState } from '../cluster/types.ts';
import { compileRouteTable } from '../routing/route-table.ts';
import { createEndpointState } from '../cluster/endpoint-state.ts';
import { selectSubset } from '../cluster/subset.ts';
import { createLocalityBalancer } from '../cluster/locality.ts';
import { compileRetryPolicy, type CompiledRetryPolicy } from '../policy/retry-classifier.ts';
import { RetryBudget } from '../policy/retry-budget.ts';
import { FaultInjector } from '../resilience/fault.ts';
import { HedgePolicy } from '../resilience/hedge.ts';
import { LatencyHistogram } from '../resilience/latency-histogram.ts';
import { Mirror, type MirrorSender } from '../resilience/mirror.ts';
import { ClusterPolicies, policyKey, type GlobalLimiterFactory } from './cluster-policies.ts';

/** Per-route state that outlives a single request. */
export interface RouteRuntime {
  readonly retry: CompiledRetryPolicy | undefined;
  readonly budget: RetryBudget | undefined;
  readonly fault: FaultInjector | undefined;
  readonly hedge: HedgePolicy | undefined;
  /** Recent attempt latencies of the route, for percentile hedging. */
  readonly latencies: LatencyHistogram | undefined;
  readonly mirror: Mirror | undefined;
}

/** Sends a mirrored copy to an endpoint of the target; its outcome is never seen by the caller. */
export type MirrorSenderFactory = (mesh: CompiledMesh, service: string, subset: string | undefined) => MirrorSender;

export interface ServiceRuntime {
  readonly service: ServiceModel;
  /** Every route's runtime state, in route order. */
  readonly routeRuntimes: ReadonlyMap<RouteModel, RouteRuntime>;
  /** `name:port`, sent upstream as the Host header (as Envoy keeps the original authority). */
  readonly authority: string;
  /** The TLS server name undici derives from {@link authority} ('' for an IP literal). */
  readonly serverName: string;
  readonly table: RouteTable;
  routeRuntime(route: RouteModel): RouteRuntime;
}

/** State kept across config versions so a reload does not reset counters. */
export interface CarriedState {
  readonly endpoints: Map<string, EndpointState>;
  readonly budgets: Map<string, RetryBudget>;
  /** Per destination service: breaker, limits, outlier detection. */
  readonly policies: Map<string, ClusterPolicies>;
}

export function createCarriedState(): CarriedState {
  return { endpoints: new Map(), budgets: new Map(), policies: new Map() };
}

export class CompiledMesh {
  readonly model: MeshModel;
  /** Keyed by undici origin string: `http://reviews:9080`, `http://reviews`. */
  readonly byOrigin = new Map<string, ServiceRuntime>();
  /** Keyed by `host:port` / `host` as node:http sees them (lower-case host). */
  readonly byAuthority = new Map<string, ServiceRuntime>();
  readonly #balancers = new Map<string, Balancer>();
  /** Backend refs resolved once per config, so a request does no string work to find its balancer. */
  readonly #byBackend = new Map<BackendRef, Balancer | undefined>();
  readonly #policies = new Map<string, ClusterPolicies>();
  readonly #services = new Map<string, ServiceRuntime>();

  readonly #mirrorSender: MirrorSenderFactory | undefined;

  constructor(model: MeshModel, carried: CarriedState, localZone: string, globalLimiter?: GlobalLimiterFactory, mirrorSender?: MirrorSenderFactory) {
    this.model = model;
    this.#mirrorSender = mirrorSender;
    const liveEndpoints = new Map<string, EndpointState>();
    const liveBudgets = new Map<string, RetryBudget>();
    for (const service of model.services.values()) {
      const states: EndpointState[] = [];
      for (const ep of service.endpoints) {
        // Joined, not concatenated: one flat string per endpoint instead of a rope (endpoint-state.ts).
        const key = [service.name, ep.host, ep.port, ep.weight, ep.zone, ep.healthy, JSON.stringify(ep.labels)].join('|');
        const prev = carried.endpoints.get(key);
        // Same endpoint, same attributes: keep its live counters (in-flight, EWMA, ejection).
        // Health is part of the key: a drained or unhealthy endpoint starts unavailable.
        const state = prev ?? createEndpointState(ep);
        liveEndpoints.set(key, state);
        states.push(state);
      }
      this.#balancers.set(clusterKey(service.name, undefined), createLocalityBalancer(service.loadBalancer, states, localZone));
      const prevPolicies = carried.policies.get(service.name);
      let policies: ClusterPolicies;
      if (prevPolicies !== undefined && prevPolicies.key === policyKey(service)) {
        policies = prevPolicies;
        policies.updateEndpoints(service, states);
      } else {
        prevPolicies?.close();
        policies = new ClusterPolicies(service, states, globalLimiter);
      }
      if (policies.active) this.#policies.set(service.name, policies);
      for (const [subset, labels] of service.subsets) {
        const members = selectSubset(states, labels);
        this.#balancers.set(clusterKey(service.name, subset), createLocalityBalancer(service.loadBalancer, members, localZone));
      }
      const runtime = this.#serviceRuntime(service, carried, liveBudgets);
      this.#services.set(service.name, runtime);
      for (const key of originKeys(service)) this.byOrigin.set(key, runtime);
      this.byAuthority.set(`${service.name}:${service.port}`, runtime);
      this.byAuthority.set(service.name, runtime);
    }
    for (const service of model.services.values()) {
      for (const route of service.routes) {
        for (const b of route.backends ?? []) this.#byBackend.set(b, this.#balancers.get(clusterKey(b.service, b.subset)));
      }
    }
    // Drop state of endpoints and budgets that left the config.
    carried.endpoints.clear();
    for (const [k, v] of liveEndpoints) carried.endpoints.set(k, v);
    carried.budgets.clear();
    for (const [k, v] of liveBudgets) carried.budgets.set(k, v);
    for (const [name, p] of carried.policies) if (this.#policies.get(name) !== p) p.close();
    carried.policies.clear();
    for (const [k, v] of this.#policies) carried.policies.set(k, v);
  }

  /** Per service: its cluster policies' state and its routes' faults, hedges and mirrors. */
  policyState(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, svc] of this.#services) {
      const entry: Record<string, unknown> = { ...(this.#policies.get(name)?.snapshot() ?? {}) };
      const routes: Record<string, unknown> = {};
      for (const [route, rt] of svc.routeRuntimes) {
        const r: Record<string, unknown> = {};
        if (rt.fault !== undefined) r.fault = rt.fault.snapshot();
        if (rt.hedge !== undefined) r.hedge = rt.hedge.snapshot();
        if (rt.mirror !== undefined) r.mirror = rt.mirror.snapshot();
        if (rt.budget !== undefined) r.retryBudget = { requestsInWindow: rt.budget.requestsInWindow, retriesInWindow: rt.budget.retriesInWindow, exhausted: rt.budget.exhausted };
        if (Object.keys(r).length > 0) routes[route.name] = r;
      }
      if (Object.keys(routes).length > 0) entry.routes = routes;
      if (Object.keys(entry).length > 0) out[name] = entry;
    }
    return out;
  }

  /** Every destination service's policies (for metrics). */
  allPolicies(): ReadonlyMap<string, ClusterPolicies> {
    return this.#policies;
  }

  /** Breaker, limits and outlier detection of a destination service; undefined when it has none. */
  policiesFor(service: string): ClusterPolicies | undefined {
    return this.#policies.get(service);
  }

  /** The balancer of a service (or one of its subsets); undefined for unknown names. */
  balancer(service: string, subset: string | undefined): Balancer | undefined {
    return this.#balancers.get(clusterKey(service, subset));
  }

  /** The balancer a route backend points at (precomputed). */
  balancerFor(backend: BackendRef): Balancer | undefined {
    return this.#byBackend.has(backend) ? this.#byBackend.get(backend) : this.balancer(backend.service, backend.subset);
  }

  #serviceRuntime(service: ServiceModel, carried: CarriedState, liveBudgets: Map<string, RetryBudget>): ServiceRuntime {
    const routes = new Map<RouteModel, RouteRuntime>();
    for (const route of service.routes) {
      let budget: RetryBudget | undefined;
      const retrying = route.retries !== undefined && route.retries.attempts > 0;
      if (retrying || route.hedge !== undefined) {
        // One budget per service and budget setting, shared by its routes, kept across reloads.
        // Hedges are paid from it too: a route that hedges without retrying gets the default budget.
        const b = retrying ? route.retries!.budget : DEFAULT_RETRY_BUDGET;
        const key = `${service.name}|${b.percent}|${b.minPerSecond}`;
        budget = liveBudgets.get(key) ?? carried.budgets.get(key) ?? new RetryBudget(b);
        liveBudgets.set(key, budget);
      }
      const id = `${service.name}/${route.name}`;
      const latencies = route.hedge?.percentile !== undefined ? new LatencyHistogram() : undefined;
      const m = route.mirror;
      routes.set(route, {
        retry: route.retries !== undefined && route.retries.attempts > 0 ? compileRetryPolicy(route.retries) : undefined,
        budget,
        fault: route.fault !== undefined ? new FaultInjector(id, route.fault) : undefined,
        // HTTP: only idempotent requests are sent twice. gRPC calls are all POSTs: the retry policy's methods say which.
        hedge: route.hedge !== undefined ? new HedgePolicy(id, route.hedge, latencies, budget, service.protocol === 'grpc' ? route.retries?.methods : undefined) : undefined,
        latencies,
        mirror: m !== undefined && this.#mirrorSender !== undefined ? new Mirror(id, m, this.#mirrorSender(this, m.service, m.subset)) : undefined,
      });
    }
    const none: RouteRuntime = { retry: undefined, budget: undefined, fault: undefined, hedge: undefined, latencies: undefined, mirror: undefined };
    return {
      service,
      routeRuntimes: routes,
      authority: `${service.name}:${service.port}`,
      serverName: isIP(service.name) === 0 ? service.name : '',
      table: compileRouteTable(service),
      routeRuntime: (route) => routes.get(route) ?? none,
    };
  }
}

function clusterKey(service: string, subset: string | undefined): string {
  return subset === undefined ? service : `${service}|${subset}`;
}

/** The origins by which an application may address a service. */
function originKeys(service: ServiceModel): string[] {
  const keys: string[] = [];
  for (const scheme of ['http', 'https']) {
    keys.push(`${scheme}://${service.name}:${service.port}`);
    // `http://reviews/...` means the service on its own port (design.md §2).
    keys.push(`${scheme}://${service.name}`);
  }
  return keys;
}
