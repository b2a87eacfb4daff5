/**
 * The HTTP filter chain of every listener's HttpConnectionManager. Filters run
 * in list order; the router is always last (gRPC clients NACK anything else)
 * and every filter carries a typed_config (gRPC clients NACK a bare name).
 *
 * To add a filter (RBAC, jwt_authn, local rate limit), append a spec to
 * FILTER_CHAIN at the position its ordering needs; per-route settings go in
 * the route's `typed_per_filter_config` under the same name.
 */
import type { MeshModel, ServiceModel } from '../../model/types.ts';
import { toAny, type AnyMessage } from '../protos.ts';
import { FAULT_FILTER, ROUTER_FILTER } from '../type-urls.ts';
import type { Degradations } from './degradations.ts';
import { jwtAuthnFilter, rbacAllowFilter, rbacDenyFilter, serverRbacAllowFilter, serverRbacDenyFilter } from './security-filters.ts';
import type { ClientProfile, Message } from './types.ts';

export const FAULT_FILTER_NAME = 'envoy.filters.http.fault';
export const ROUTER_FILTER_NAME = 'envoy.filters.http.router';

export interface HttpFilterContext {
  readonly service: ServiceModel;
  readonly model: MeshModel;
  readonly profile: ClientProfile;
  readonly degradations: Degradations;
}

export interface HttpFilterSpec {
  /** Filter name; also the key of its per-route override. */
  readonly name: string;
  /** The filter's listener-level config for this service, or undefined to leave it out. */
  config(ctx: HttpFilterContext): AnyMessage | undefined;
  /** Sent with `is_optional`: a client that cannot apply it ignores it instead of NACKing the listener. */
  readonly optional?: boolean;
}

let emptyFault: AnyMessage | undefined;

/** Fault injection: empty at listener level (no fault), configured per route. */
const faultFilter: HttpFilterSpec = {
  name: FAULT_FILTER_NAME,
  config: () => (emptyFault ??= toAny(FAULT_FILTER, {})),
};

/** Filters before the router, in execution order: authentication before authorization (RBAC matches the JWT), deny before allow. */
const FILTER_CHAIN: readonly HttpFilterSpec[] = [jwtAuthnFilter, rbacDenyFilter, rbacAllowFilter, faultFilter];

/** The filters of a gRPC server's own listener (server-listener.ts): what gRPC enforces on servers, deny before allow. */
const SERVER_FILTER_CHAIN: readonly HttpFilterSpec[] = [serverRbacDenyFilter, serverRbacAllowFilter];

let router: AnyMessage | undefined;

/** The `http_filters` list of a service's listeners. */
export function httpFilters(ctx: HttpFilterContext): Message[] {
  return filterList(FILTER_CHAIN, ctx);
}

/** The `http_filters` list of the listener a gRPC server of the service gets. */
export function serverHttpFilters(ctx: HttpFilterContext): Message[] {
  return filterList(SERVER_FILTER_CHAIN, ctx);
}

function filterList(chain: readonly HttpFilterSpec[], ctx: HttpFilterContext): Message[] {
  const out: Message[] = [];
  for (const spec of chain) {
    const typed = spec.config(ctx);
    if (typed !== undefined) out.push({ name: spec.name, typed_config: typed, ...(spec.optional === true ? { is_optional: true } : {}) });
  }
  out.push({ name: ROUTER_FILTER_NAME, typed_config: (router ??= toAny(ROUTER_FILTER, {})) });
  return out;
}
