/** `Route` → {@link DecodedRoute}: match, action and per-route policies. */
import {
  DEFAULT_BACKOFF,
  DEFAULT_RETRY_BUDGET,
  IDEMPOTENT_METHODS,
  RETRY_CONDITIONS,
  type BackendRef,
  type DirectResponseModel,
  type FaultPolicyModel,
  type HashOn,
  type HeaderMutationModel,
  type HedgePolicyModel,
  type MirrorPolicyModel,
  type RedirectModel,
  type RetryBudgetModel,
  type RetryCondition,
  type RetryPolicyModel,
  type RouteModel,
} from '../../model/types.ts';
import { readEnmeshMetadata, type JsonObject } from '../metadata.ts';
import { decodeMessage } from '../protos.ts';
import { parseClusterName } from '../resource-names.ts';
import { FAULT_FILTER } from '../type-urls.ts';
import { percentOfFraction } from '../translate/units.ts';
import { durationMs, invalid, METADATA_PATH, metaArray, metaNumber, metaObject, percent, port, wrapped, type Obj, type Where } from './fields.ts';
import { decodeMatch, parseMethodMatcher } from './route-match.ts';
import type { DecodedRoute } from './types.ts';

const RETRY_CONDITION_SET: ReadonlySet<string> = new Set<string>(RETRY_CONDITIONS);

const REDIRECT_STATUS: Readonly<Record<string, RedirectModel['status']>> = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
};

export function decodeRoute(r: Obj, index: number, where: Where, at: string): DecodedRoute {
  const meta = readEnmeshMetadata(r.metadata);
  const name = typeof r.name === 'string' && r.name !== '' ? r.name : `route-${index}`;
  const match = decodeMatch(r.match, meta, where, at);
  const clusters: string[] = [];
  let route: { -readonly [K in keyof RouteModel]: RouteModel[K] } = { name, match, timeoutMs: 0 };
  let retryBudget: RetryBudgetModel | undefined;
  let hashOn: HashOn | undefined;

  switch (r.action) {
    case 'route': {
      const a = r.route as Obj;
      const at2 = `${at}.route`;
      route.backends = backends(a, meta, where, at2, clusters);
      if (typeof a.prefix_rewrite === 'string' && a.prefix_rewrite !== '') route.rewritePrefix = a.prefix_rewrite;
      route.timeoutMs =
        durationMs(a.timeout, where, `${at2}.timeout`) ??
        durationMs(a.max_stream_duration?.max_stream_duration, where, `${at2}.max_stream_duration.max_stream_duration`) ??
        0;
      if (a.retry_policy !== undefined) route.retries = retryPolicy(a.retry_policy, meta, where, `${at2}.retry_policy`);
      retryBudget = budgetFromMetadata(meta, where);
      const hedge = hedgePolicy(a, route.retries, meta, where);
      if (hedge !== undefined) route.hedge = hedge;
      const mirror = mirrorPolicy(a, where, `${at2}.request_mirror_policies`, clusters);
      if (mirror !== undefined) route.mirror = mirror;
      hashOn = hashPolicy(a.hash_policy, where, `${at2}.hash_policy`);
      break;
    }
    case 'redirect':
      route.redirect = redirect(r.redirect, where, `${at}.redirect`);
      route.timeoutMs = metaNumber(meta, 'timeoutMs', where, METADATA_PATH) ?? 0;
      break;
    case 'direct_response':
      route.directResponse = directResponse(r.direct_response, r.response_headers_to_add, meta, where, `${at}.direct_response`);
      route.timeoutMs = metaNumber(meta, 'timeoutMs', where, METADATA_PATH) ?? 0;
      break;
    case undefined:
      invalid(where, at, 'no action (set route, redirect or direct_response)');
    default:
      invalid(where, `${at}.${String(r.action)}`, 'unsupported route action');
  }

  const fault = faultPolicy(r.typed_per_filter_config, where, `${at}.typed_per_filter_config`);
  if (fault !== undefined) route.fault = fault;
  const skip = route.directResponse?.headers.length ?? 0;
  const requestHeaders = headerMutation(r.request_headers_to_add, r.request_headers_to_remove, 0, where, `${at}.request_headers_to_add`);
  if (requestHeaders !== undefined) route.requestHeaders = requestHeaders;
  const responseHeaders = headerMutation(r.response_headers_to_add, r.response_headers_to_remove, skip, where, `${at}.response_headers_to_add`);
  if (responseHeaders !== undefined) route.responseHeaders = responseHeaders;

  const out: { -readonly [K in keyof DecodedRoute]: DecodedRoute[K] } = { route, clusters };
  if (retryBudget !== undefined) out.retryBudget = retryBudget;
  if (hashOn !== undefined) out.hashOn = hashOn;
  return out;
}

function backendOf(cluster: unknown, weight: number, where: Where, at: string): BackendRef {
  const name = String(cluster ?? '');
  if (name === '') invalid(where, at, 'missing cluster name');
  const parsed = parseClusterName(name);
  if (parsed === undefined) invalid(where, at, `"${name}" is not an enmesh cluster name (outbound|<port>|<subset>|<service>)`);
  return parsed.subset === undefined ? { service: parsed.service, weight } : { service: parsed.service, subset: parsed.subset, weight };
}

function backends(a: Obj, meta: JsonObject | undefined, where: Where, at: string, clusters: string[]): BackendRef[] {
  switch (a.cluster_specifier) {
    case 'cluster':
      clusters.push(String(a.cluster));
      return [backendOf(a.cluster, 1, where, `${at}.cluster`)];
    case 'weighted_clusters': {
      const list = (a.weighted_clusters?.clusters ?? []) as Obj[];
      const weights = list.map((c) => wrapped(c.weight) ?? 0);
      const total = weights.reduce((s, w) => s + w, 0);
      if (total <= 0) invalid(where, `${at}.weighted_clusters`, 'total weight is 0');
      if (total > 0xffffffff) invalid(where, `${at}.weighted_clusters`, 'total weight is over 2^32-1');
      // Fractional model weights travel scaled; metadata holds the originals.
      const original = metaArray(meta, 'weights', where, METADATA_PATH);
      const exact = original !== undefined && original.length === list.length && original.every((w) => typeof w === 'number');
      return list.map((c, i) => {
        clusters.push(String(c.name));
        return backendOf(c.name, exact ? (original[i] as number) : weights[i], where, `${at}.weighted_clusters.clusters[${i}].name`);
      });
    }
    case undefined:
      return invalid(where, at, 'no cluster (set cluster or weighted_clusters)');
    default:
      return invalid(where, `${at}.${String(a.cluster_specifier)}`, 'unsupported cluster specifier (use cluster or weighted_clusters)');
  }
}

function retryPolicy(p: Obj, meta: JsonObject | undefined, where: Where, at: string): RetryPolicyModel {
  const on: RetryCondition[] = [];
  for (const raw of String(p.retry_on ?? '').split(',')) {
    const c = raw.trim();
    if (c === '') continue;
    if (!RETRY_CONDITION_SET.has(c)) invalid(where, `${at}.retry_on`, `unsupported condition "${c}"`);
    on.push(c as RetryCondition);
  }
  const statusCodes = ((p.retriable_status_codes ?? []) as number[]).map(Number);
  let backoff: { baseMs: number; maxMs: number } = DEFAULT_BACKOFF;
  if (p.retry_back_off !== undefined) {
    const baseMs = durationMs(p.retry_back_off.base_interval, where, `${at}.retry_back_off.base_interval`);
    if (baseMs === undefined || baseMs <= 0) invalid(where, `${at}.retry_back_off.base_interval`, 'must be positive');
    // Envoy's default maximum is ten times the base.
    const maxMs = durationMs(p.retry_back_off.max_interval, where, `${at}.retry_back_off.max_interval`) ?? baseMs * 10;
    if (maxMs < baseMs) invalid(where, `${at}.retry_back_off.max_interval`, 'is below base_interval');
    backoff = { baseMs, maxMs };
  } else {
    const m = metaObject(meta, 'retryBackoff', where, METADATA_PATH);
    if (m !== undefined) {
      backoff = {
        baseMs: metaNumber(m, 'baseMs', where, `${METADATA_PATH}.retryBackoff`) ?? DEFAULT_BACKOFF.baseMs,
        maxMs: metaNumber(m, 'maxMs', where, `${METADATA_PATH}.retryBackoff`) ?? DEFAULT_BACKOFF.maxMs,
      };
    }
  }
  let methods: readonly string[] = IDEMPOTENT_METHODS;
  const rrh = (p.retriable_request_headers ?? []) as Obj[];
  if (rrh.length > 0) {
    const parsed = rrh.length === 1 && rrh[0].name === ':method' ? parseMethodMatcher(rrh[0]) : undefined;
    if (parsed === undefined) invalid(where, `${at}.retriable_request_headers`, 'only one :method matcher is supported');
    methods = parsed;
  }
  return {
    // Envoy's default is one retry.
    attempts: wrapped(p.num_retries) ?? 1,
    perTryTimeoutMs: durationMs(p.per_try_timeout, where, `${at}.per_try_timeout`) ?? 0,
    on,
    statusCodes,
    methods,
    backoff,
    budget: DEFAULT_RETRY_BUDGET,
  };
}

function budgetFromMetadata(meta: JsonObject | undefined, where: Where): RetryBudgetModel | undefined {
  const m = metaObject(meta, 'retryBudget', where, METADATA_PATH);
  if (m === undefined) return undefined;
  const path = `${METADATA_PATH}.retryBudget`;
  return {
    percent: percent(metaNumber(m, 'percent', where, path) ?? DEFAULT_RETRY_BUDGET.percent, where, `${path}.percent`),
    minPerSecond: metaNumber(m, 'minPerSecond', where, path) ?? DEFAULT_RETRY_BUDGET.minPerSecond,
  };
}

function hedgePolicy(a: Obj, retries: RetryPolicyModel | undefined, meta: JsonObject | undefined, where: Where): HedgePolicyModel | undefined {
  const m = metaObject(meta, 'hedge', where, METADATA_PATH);
  if (m !== undefined) {
    const path = `${METADATA_PATH}.hedge`;
    const delayMs = metaNumber(m, 'delayMs', where, path);
    const maxAttempts = metaNumber(m, 'maxAttempts', where, path);
    if (delayMs === undefined || delayMs < 0) invalid(where, `${path}.delayMs`, 'must be a number >= 0');
    if (maxAttempts === undefined || maxAttempts < 1) invalid(where, `${path}.maxAttempts`, 'must be a number >= 1');
    const percentile = metaNumber(m, 'percentile', where, path);
    if (percentile === undefined) return { delayMs, maxAttempts };
    if (!(percentile > 0 && percentile <= 100)) invalid(where, `${path}.percentile`, `${percentile} is not a percentile (over 0, at most 100)`);
    return { delayMs, maxAttempts, percentile };
  }
  // Plain xDS hedging: a new attempt each time a try's timeout fires, up to the retry count.
  const hp = a.hedge_policy as Obj | undefined;
  if (hp?.hedge_on_per_try_timeout === true && retries !== undefined && retries.perTryTimeoutMs > 0) {
    return { delayMs: retries.perTryTimeoutMs, maxAttempts: retries.attempts + 1 };
  }
  return undefined;
}

function mirrorPolicy(a: Obj, where: Where, at: string, clusters: string[]): MirrorPolicyModel | undefined {
  const list = (a.request_mirror_policies ?? []) as Obj[];
  if (list.length === 0) return undefined;
  if (list.length > 1) invalid(where, at, 'only one mirror policy is supported');
  const p = list[0];
  clusters.push(String(p.cluster ?? ''));
  const target = backendOf(p.cluster, 1, where, `${at}[0].cluster`);
  const fraction = p.runtime_fraction?.default_value as Obj | undefined;
  const pct = percent(fraction === undefined ? 100 : percentOfFraction(fraction), where, `${at}[0].runtime_fraction`);
  return target.subset === undefined ? { service: target.service, percent: pct } : { service: target.service, subset: target.subset, percent: pct };
}

function hashPolicy(list: Obj[] | undefined, where: Where, at: string): HashOn | undefined {
  if (list === undefined || list.length === 0) return undefined;
  const out: { header?: string; cookie?: string; sourceIp?: boolean } = {};
  list.forEach((h, i) => {
    switch (h.policy_specifier) {
      case 'header':
        out.header = String(h.header.header_name ?? '').toLowerCase();
        break;
      case 'cookie':
        out.cookie = String(h.cookie.name ?? '');
        break;
      case 'connection_properties':
        if (h.connection_properties.source_ip === true) out.sourceIp = true;
        break;
      default:
        invalid(where, `${at}[${i}]`, `unsupported hash policy ${String(h.policy_specifier)}`);
    }
  });
  return out;
}

function redirect(r: Obj, where: Where, at: string): RedirectModel {
  const status = REDIRECT_STATUS[r.response_code ?? 'MOVED_PERMANENTLY'];
  if (status === undefined) invalid(where, `${at}.response_code`, `unsupported value ${String(r.response_code)}`);
  const out: { -readonly [K in keyof RedirectModel]: RedirectModel[K] } = { status, stripQuery: r.strip_query === true };
  if (r.https_redirect === true) out.scheme = 'https';
  else if (r.scheme_redirect !== undefined && r.scheme_redirect !== '') {
    const scheme = String(r.scheme_redirect).toLowerCase();
    if (scheme !== 'http' && scheme !== 'https') invalid(where, `${at}.scheme_redirect`, `unsupported scheme ${scheme}`);
    out.scheme = scheme;
  }
  if (typeof r.host_redirect === 'string' && r.host_redirect !== '') out.host = r.host_redirect;
  if (r.port_redirect !== undefined && r.port_redirect !== 0) out.port = port(r.port_redirect, where, `${at}.port_redirect`);
  switch (r.path_rewrite_specifier) {
    case 'path_redirect':
      out.path = String(r.path_redirect);
      break;
    case 'prefix_rewrite':
      out.prefixRewrite = String(r.prefix_rewrite);
      break;
    case undefined:
      break;
    default:
      invalid(where, `${at}.${String(r.path_rewrite_specifier)}`, 'unsupported (use path_redirect or prefix_rewrite)');
  }
  return out;
}

function directResponse(d: Obj, responseHeaders: Obj[] | undefined, meta: JsonObject | undefined, where: Where, at: string): DirectResponseModel {
  const status = Number(d.status ?? 0);
  if (!Number.isInteger(status) || status < 200 || status > 599) invalid(where, `${at}.status`, `${status} is not an HTTP status (200-599)`);
  let body = '';
  switch (d.body?.specifier) {
    case 'inline_string':
      body = String(d.body.inline_string);
      break;
    case 'inline_bytes':
      body = Buffer.from(d.body.inline_bytes as Uint8Array).toString('utf8');
      break;
    case undefined:
      break;
    default:
      invalid(where, `${at}.body.${String(d.body.specifier)}`, 'unsupported body source (use inline_string or inline_bytes)');
  }
  // The response's own headers lead response_headers_to_add; metadata says how many.
  const count = metaNumber(meta, 'directResponseHeaders', where, METADATA_PATH) ?? 0;
  const headers = (responseHeaders ?? []).slice(0, count).map((h) => [String(h.header?.key ?? '').toLowerCase(), headerValue(h)] as const);
  return { status, body, headers };
}

function headerValue(h: Obj): string {
  const v = h.header?.value;
  if (typeof v === 'string' && v !== '') return v;
  const raw = h.header?.raw_value as Uint8Array | undefined;
  return raw !== undefined ? Buffer.from(raw).toString('utf8') : '';
}

function headerMutation(
  add: Obj[] | undefined,
  remove: string[] | undefined,
  skip: number,
  where: Where,
  at: string,
): HeaderMutationModel | undefined {
  const set: [string, string][] = [];
  const append: [string, string][] = [];
  (add ?? []).forEach((h, i) => {
    if (i < skip) return;
    const key = String(h.header?.key ?? '').toLowerCase();
    if (key === '') invalid(where, `${at}[${i}].header.key`, 'missing');
    // The deprecated `append: false` also means overwrite.
    const action = h.append_action ?? (h.append?.value === false ? 'OVERWRITE_IF_EXISTS_OR_ADD' : 'APPEND_IF_EXISTS_OR_ADD');
    if (action === 'OVERWRITE_IF_EXISTS_OR_ADD') set.push([key, headerValue(h)]);
    else if (action === 'APPEND_IF_EXISTS_OR_ADD') append.push([key, headerValue(h)]);
    else invalid(where, `${at}[${i}].append_action`, `unsupported value ${String(action)}`);
  });
  const removed = (remove ?? []).map((n) => String(n).toLowerCase());
  if (set.length === 0 && append.length === 0 && removed.length === 0) return undefined;
  return { set, add: append, remove: removed };
}

function faultPolicy(perFilter: Record<string, Obj> | undefined, where: Where, at: string): FaultPolicyModel | undefined {
  if (perFilter === undefined) return undefined;
  let fault: FaultPolicyModel | undefined;
  for (const key of Object.keys(perFilter)) {
    const any = perFilter[key];
    const path = `${at}["${key}"]`;
    if (any.type_url !== FAULT_FILTER) invalid(where, `${path}.type_url`, `unsupported filter config ${String(any.type_url)}`);
    let f: Obj;
    try {
      f = decodeMessage(FAULT_FILTER, any.value as Uint8Array);
    } catch (err) {
      invalid(where, path, `cannot decode HTTPFault: ${(err as Error).message}`);
    }
    fault = decodeFault(f, where, path);
  }
  return fault;
}

function decodeFault(f: Obj, where: Where, at: string): FaultPolicyModel {
  const out: { -readonly [K in keyof FaultPolicyModel]: FaultPolicyModel[K] } = {};
  if (f.delay !== undefined) {
    if (f.delay.fault_delay_secifier !== 'fixed_delay') invalid(where, `${at}.delay`, 'only fixed_delay is supported');
    out.delay = {
      percent: percent(percentOfFraction(f.delay.percentage), where, `${at}.delay.percentage`),
      durationMs: durationMs(f.delay.fixed_delay, where, `${at}.delay.fixed_delay`) ?? 0,
    };
  }
  if (f.abort !== undefined) {
    let status: number;
    if (f.abort.error_type === 'http_status') {
      status = Number(f.abort.http_status ?? 0);
      if (status < 200 || status > 599) invalid(where, `${at}.abort.http_status`, `${status} is not an HTTP status (200-599)`);
    } else if (f.abort.error_type === 'grpc_status') {
      status = Number(f.abort.grpc_status ?? 0);
    } else {
      invalid(where, `${at}.abort`, 'only http_status and grpc_status aborts are supported');
    }
    out.abort = { percent: percent(percentOfFraction(f.abort.percentage), where, `${at}.abort.percentage`), status };
  }
  const headers = (f.headers ?? []) as Obj[];
  if (headers.length > 1 || (headers.length === 1 && headers[0].present_match !== true)) {
    invalid(where, `${at}.headers`, 'only one present_match header is supported');
  }
  if (headers.length === 1) out.header = String(headers[0].name).toLowerCase();
  const maxActive = wrapped(f.max_active_faults);
  if (maxActive !== undefined) out.maxActive = maxActive;
  return out;
}
