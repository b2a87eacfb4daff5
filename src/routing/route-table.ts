import { EnmeshError } from '../errors.ts';
import type { BackendRef, RouteModel, ServiceModel } from '../model/types.ts';
import { compileRouteMatch, pathEnd } from './match.ts';
import type { RouteMatcher } from './match.ts';
import type { CompiledRoute, RequestView, RouteTable } from './types.ts';

/** Up to this many backends a linear scan beats a binary search. */
const LINEAR_SCAN_MAX = 8;

class Route implements CompiledRoute {
  readonly route: RouteModel;
  readonly matches: RouteMatcher;
  readonly #backends: readonly BackendRef[];
  /** Running sums of the backend weights; the last one is the total. */
  readonly #cumulative: Float64Array;
  readonly #total: number;
  readonly #where: string;

  constructor(route: RouteModel, where: string) {
    this.route = route;
    this.#where = where;
    this.matches = compileRouteMatch(route.match, `${where}.match`);
    const backends = route.backends ?? [];
    this.#backends = backends;
    let total = 0;
    for (const b of backends) total += b.weight > 0 ? b.weight : 0;
    // All weights zero: split evenly rather than send nothing anywhere.
    const even = total === 0;
    this.#cumulative = new Float64Array(backends.length);
    let sum = 0;
    for (let i = 0; i < backends.length; i++) {
      const w = backends[i].weight;
      sum += even ? 1 : w > 0 ? w : 0;
      this.#cumulative[i] = sum;
    }
    this.#total = sum;
  }

  pickBackend(random: number): BackendRef {
    const backends = this.#backends;
    const n = backends.length;
    if (n === 1) return backends[0];
    if (n === 0) {
      throw new EnmeshError(
        'ENMESH_ERR_CONFIG_INVALID',
        `${this.#where} has no backends (it redirects or answers directly); check route.redirect and route.directResponse before picking a backend`,
      );
    }
    const cumulative = this.#cumulative;
    const target = random * this.#total;
    // Zero-weight backends share their predecessor's sum, so `>` skips them.
    if (n <= LINEAR_SCAN_MAX) {
      for (let i = 0; i < n; i++) if (target < cumulative[i]) return backends[i];
      return backends[n - 1];
    }
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (target < cumulative[mid]) hi = mid;
      else lo = mid + 1;
    }
    return backends[lo];
  }
}

class Table implements RouteTable {
  readonly routes: readonly Route[];

  constructor(routes: readonly Route[]) {
    this.routes = routes;
  }

  select(req: RequestView): CompiledRoute | undefined {
    const routes = this.routes;
    const end = pathEnd(req.path);
    for (let i = 0; i < routes.length; i++) if (routes[i].matches(req, end)) return routes[i];
    return undefined;
  }
}

/**
 * Compiles a service's routes once per config: matchers built, regexes
 * compiled, weights summed. `select` returns the first route that matches.
 */
export function compileRouteTable(service: ServiceModel): RouteTable {
  const routes = service.routes.map(
    (r, i) => new Route(r, `services.${service.name}.routes[${i}]${r.name ? ` (${r.name})` : ''}`),
  );
  return new Table(routes);
}
