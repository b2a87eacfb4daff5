/** One RouteModel → `envoy.config.route.v3.Route` (or nothing, for a client that would NACK it). */
import type { FaultPolicyModel, HeaderMutationModel, MeshModel, RetryBudgetModel, RouteModel, ServiceModel } from '../../model/types.ts';
import { enmeshMetadata } from '../metadata.ts';
import { toAny } from '../protos.ts';
import { FAULT_FILTER } from '../type-urls.ts';
import type { Degradations } from './degradations.ts';
import { FAULT_FILTER_NAME } from './http-filters.ts';
import { translateRouteAction } from './route-action.ts';
import { translateMatch } from './route-match.ts';
import type { ClientProfile, Message } from './types.ts';
import { durationOf, fractionOf } from './units.ts';

export interface RouteContext {
  readonly service: ServiceModel;
  readonly model: MeshModel;
  readonly profile: ClientProfile;
  readonly degradations: Degradations;
  /** The retry budget the service's clusters carry; a route with another one says so in its metadata. */
  readonly clusterBudget: RetryBudgetModel | undefined;
}

export function translateRoute(route: RouteModel, ctx: RouteContext): Message | undefined {
  const where = `service ${ctx.service.name} route "${route.name}"`;
  const grpcClient = ctx.profile.kind === 'grpc-xds';

  if (grpcClient && (route.redirect !== undefined || route.directResponse !== undefined)) {
    const kind = route.redirect !== undefined ? 'redirect' : 'directResponse';
    ctx.degradations.add(`${where}: ${kind} routes are not supported by grpc-xds clients; route omitted`);
    return undefined;
  }

  const translated = translateMatch(route, where, grpcClient);
  // A match that never applies to gRPC calls (e.g. on a query string): leaving it out changes nothing.
  if (translated === undefined) return undefined;
  const metadata = translated.metadata;
  const ignored: string[] = [];
  const out: Message = { name: route.name, match: translated.match };

  if (route.backends !== undefined) {
    out.route = translateRouteAction(route, route.backends, ctx, where, metadata, ignored);
  } else {
    // Forwarding settings have no home on a non-forwarding route.
    if (route.timeoutMs !== 0) metadata.timeoutMs = route.timeoutMs;
    if (route.redirect !== undefined) out.redirect = redirectAction(route.redirect);
    if (route.directResponse !== undefined) {
      const { status, body } = route.directResponse;
      out.direct_response = body === '' ? { status } : { status, body: { inline_string: body } };
    }
  }

  if (route.fault !== undefined) {
    if (grpcClient && route.fault.header !== undefined) {
      // gRPC clients ignore HTTPFault.headers and would inject into every call.
      ctx.degradations.add(
        `${where}: fault injection limited to requests with header ${route.fault.header} is not supported by grpc-xds clients; fault omitted`,
      );
    } else {
      out.typed_per_filter_config = { [FAULT_FILTER_NAME]: toAny(FAULT_FILTER, httpFault(route.fault, ctx.service.protocol)) };
    }
  }

  const directHeaders = route.directResponse?.headers ?? [];
  if (directHeaders.length > 0) metadata.directResponseHeaders = directHeaders.length;
  addHeaderMutations(out, 'request', route.requestHeaders, []);
  addHeaderMutations(out, 'response', route.responseHeaders, directHeaders);
  if (grpcClient && (route.requestHeaders !== undefined || route.responseHeaders !== undefined)) ignored.push('header mutations');

  if (ignored.length > 0) ctx.degradations.add(`${where}: ${ignored.join(', ')} not applied by grpc-xds clients`);
  const md = enmeshMetadata(metadata);
  if (md !== undefined) out.metadata = md;
  return out;
}

const REDIRECT_CODES = {
  301: 'MOVED_PERMANENTLY',
  302: 'FOUND',
  303: 'SEE_OTHER',
  307: 'TEMPORARY_REDIRECT',
  308: 'PERMANENT_REDIRECT',
} as const;

function redirectAction(r: NonNullable<RouteModel['redirect']>): Message {
  const out: Message = { response_code: REDIRECT_CODES[r.status], strip_query: r.stripQuery };
  if (r.scheme !== undefined) out.scheme_redirect = r.scheme;
  if (r.host !== undefined) out.host_redirect = r.host;
  if (r.port !== undefined) out.port_redirect = r.port;
  if (r.path !== undefined) out.path_redirect = r.path;
  else if (r.prefixRewrite !== undefined) out.prefix_rewrite = r.prefixRewrite;
  return out;
}

function httpFault(fault: FaultPolicyModel, protocol: ServiceModel['protocol']): Message {
  const out: Message = {};
  if (fault.delay !== undefined) {
    out.delay = { fixed_delay: durationOf(fault.delay.durationMs), percentage: fractionOf(fault.delay.percent) };
  }
  if (fault.abort !== undefined) {
    const { status, percent } = fault.abort;
    // Below 200 cannot be an HTTP status: on a gRPC service it is a gRPC status code.
    const code = protocol === 'grpc' && status < 200 ? { grpc_status: status } : { http_status: status };
    out.abort = { ...code, percentage: fractionOf(percent) };
  }
  if (fault.header !== undefined) out.headers = [{ name: fault.header, present_match: true }];
  if (fault.maxActive !== undefined) out.max_active_faults = { value: fault.maxActive };
  return out;
}

function addHeaderMutations(
  out: Message,
  side: 'request' | 'response',
  mutation: HeaderMutationModel | undefined,
  leading: readonly (readonly [string, string])[],
): void {
  const add: Message[] = leading.map(([key, value]) => headerOption(key, value, 'APPEND_IF_EXISTS_OR_ADD'));
  if (mutation !== undefined) {
    for (const [key, value] of mutation.set) add.push(headerOption(key, value, 'OVERWRITE_IF_EXISTS_OR_ADD'));
    for (const [key, value] of mutation.add) add.push(headerOption(key, value, 'APPEND_IF_EXISTS_OR_ADD'));
    if (mutation.remove.length > 0) out[`${side}_headers_to_remove`] = [...mutation.remove];
  }
  if (add.length > 0) out[`${side}_headers_to_add`] = add;
}

function headerOption(key: string, value: string, appendAction: string): Message {
  return { header: { key, value }, append_action: appendAction };
}
