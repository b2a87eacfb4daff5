import { DEFAULT_BACKOFF, DEFAULT_RETRY_BUDGET, IDEMPOTENT_METHODS, RETRY_CONDITIONS } from '../model/types.ts';
import type {
  BackendRef,
  DirectResponseModel,
  FaultPolicyModel,
  HeaderMutationModel,
  HedgePolicyModel,
  MirrorPolicyModel,
  NamedMatch,
  Protocol,
  RedirectModel,
  RetryCondition,
  RetryPolicyModel,
  RouteMatchModel,
  RouteModel,
  StringMatch,
} from '../model/types.ts';
import { Checker, MAX_TIMER_MS, compact, isMapping, unquoteHint } from './check.ts';
import type { Mapping } from './check.ts';
import { describeValue, didYouMean } from './issues.ts';
import type { KeyPath } from './issues.ts';

/** What route validation needs to know about every service, gathered before routes are read. */
export interface ServiceInfo {
  readonly protocol?: Protocol;
  readonly subsets: readonly string[];
}

export interface RouteContext {
  readonly c: Checker;
  readonly services: ReadonlyMap<string, ServiceInfo>;
}

const ROUTE_KEYS = [
  'name',
  'match',
  'backends',
  'redirect',
  'directResponse',
  'rewrite',
  'timeout',
  'retries',
  'hedge',
  'mirror',
  'fault',
  'headers',
] as const;
const ACTION_KEYS = ['backends', 'redirect', 'directResponse'] as const;
/** Route keys that act on the request sent upstream, so a route that answers itself has no use for them. */
const FORWARDING_KEYS = ['timeout', 'retries', 'hedge', 'mirror', 'fault'] as const;
const MATCH_KEYS = ['path', 'method', 'headers', 'query'];
const PATH_MATCH_KEYS = ['exact', 'prefix', 'regex'];
const VALUE_MATCH_KEYS = ['exact', 'prefix', 'suffix', 'regex', 'present', 'absent'];
const BACKEND_KEYS = ['service', 'subset', 'weight'];
const REDIRECT_KEYS = ['scheme', 'host', 'port', 'path', 'prefixRewrite', 'status', 'stripQuery'];
const REDIRECT_STATUS = [301, 302, 303, 307, 308] as const;
/** The keys that change where a redirect points. */
const REDIRECT_TARGET_KEYS = ['scheme', 'host', 'port', 'path', 'prefixRewrite'];
const DIRECT_KEYS = ['status', 'body', 'headers'];
const RETRY_KEYS = ['attempts', 'perTryTimeout', 'on', 'statusCodes', 'methods', 'backoff', 'budget'];
const HTTP_RETRY_ON: readonly RetryCondition[] = ['5xx', 'reset', 'connect-failure'];
const GRPC_RETRY_ON: readonly RetryCondition[] = ['unavailable'];
/** gRPC calls are all POSTs, so the idempotent-methods default would never retry one. */
const GRPC_RETRY_METHODS: readonly string[] = ['POST'];
const MUTATION_KEYS = ['set', 'add', 'remove'];

/** Max relative weight of one backend; keeps the sum well inside xDS's uint32 total. */
export const MAX_WEIGHT = 1_000_000;
/** RFC 9110 token: what a header name or method may be made of. */
export const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Header names in matches may also be HTTP/2 pseudo-headers such as `:authority`. */
const MATCH_HEADER = /^:?[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const GRPC_METHOD = /^\/(?:[A-Za-z_][A-Za-z0-9_]*\.)*[A-Za-z_][A-Za-z0-9_]*\/(?:[A-Za-z_][A-Za-z0-9_]*)?$/;
const ABSOLUTE_PATH = /^\//;

/** The route a service gets when it declares none: everything to its own endpoints. */
export function defaultRoute(owner: string): RouteModel {
  return {
    name: 'default',
    match: { methods: [], headers: [], query: [] },
    backends: [{ service: owner, weight: 1 }],
    timeoutMs: 0,
  };
}

export function readRoutes(ctx: RouteContext, owner: string, value: unknown, at: KeyPath): RouteModel[] {
  const list = ctx.c.list(value, at, 'routes');
  if (list === undefined || list.length === 0) return [defaultRoute(owner)];
  const routes: RouteModel[] = [];
  const names = new Map<string, number>();
  list.forEach((raw, i) => {
    const route = readRoute(ctx, owner, raw, [...at, i], i);
    if (route === undefined) return;
    const first = names.get(route.name);
    if (first !== undefined) {
      ctx.c.report([...at, i, 'name'], `duplicate route name "${route.name}" (also routes[${first}]); give each route a unique name`);
    } else {
      names.set(route.name, i);
    }
    routes.push(route);
  });
  return routes;
}

function readRoute(ctx: RouteContext, owner: string, raw: unknown, at: KeyPath, index: number): RouteModel | undefined {
  const { c } = ctx;
  const m = c.mapping(raw, at, ROUTE_KEYS);
  if (m === undefined) return undefined;
  const protocol = ctx.services.get(owner)?.protocol;
  const name = m.name === undefined ? `route-${index}` : (c.string(m.name, [...at, 'name'], 'a route name') ?? `route-${index}`);
  const match = readMatch(c, protocol, m.match, [...at, 'match']);

  const actions = ACTION_KEYS.filter((k) => m[k] !== undefined);
  if (actions.length > 1) {
    c.report(at, `a route has exactly one action (backends, redirect or directResponse); this one has ${actions.join(' and ')}. Split it into separate routes or remove one`);
  }
  const redirect = m.redirect === undefined ? undefined : readRedirect(c, protocol, m.redirect, [...at, 'redirect']);
  const directResponse = m.directResponse === undefined ? undefined : readDirectResponse(c, m.directResponse, [...at, 'directResponse']);
  const backends =
    m.backends !== undefined
      ? readBackends(ctx, owner, m.backends, [...at, 'backends'])
      : actions.length === 0
        ? [{ service: owner, weight: 1 }]
        : undefined;

  const prefixMatched = matchesPrefix(protocol, m.match);
  if (redirect?.prefixRewrite !== undefined && !prefixMatched) {
    c.report([...at, 'redirect', 'prefixRewrite'], 'prefixRewrite replaces the matched path prefix, so the route needs match.path.prefix; add one or use redirect.path');
  }
  let rewritePrefix: string | undefined;
  if (m.rewrite !== undefined) {
    const rw = c.mapping(m.rewrite, [...at, 'rewrite'], ['prefix']);
    if (rw !== undefined) {
      rewritePrefix = c.required(rw, 'prefix', [...at, 'rewrite'], 'the new path prefix, e.g. /v2') === undefined
        ? undefined
        : c.pattern(rw.prefix, [...at, 'rewrite', 'prefix'], ABSOLUTE_PATH, 'a path prefix starting with /');
    }
    if (!prefixMatched) {
      c.report([...at, 'rewrite'], 'rewrite.prefix replaces the matched path prefix, so the route needs match.path.prefix; add match: { path: { prefix: /old } } or remove rewrite');
    } else if (m.backends === undefined && actions.length > 0) {
      c.report([...at, 'rewrite'], 'rewrite applies to forwarded requests only; remove it (a redirect can use prefixRewrite)');
    }
  }

  const headers = c.mapping(m.headers, [...at, 'headers'], ['request', 'response']);
  // A redirect or direct response sends nothing upstream, so keys acting on the forwarded request would be ignored.
  // They are reported, not read: the fix is to remove them, whatever they contain.
  const f: Record<string, unknown> = { ...m, request: headers?.request };
  const answer = m.backends === undefined && actions.length === 1 ? actions[0] : undefined;
  if (answer !== undefined) {
    for (const key of FORWARDING_KEYS) {
      if (m[key] === undefined) continue;
      c.report([...at, key], `${key} applies to forwarded requests only, and this route answers itself (${answer}); remove ${key}`);
      f[key] = undefined;
    }
    if (f.request !== undefined) {
      c.report([...at, 'headers', 'request'], `headers.request changes forwarded requests only, and this route answers itself (${answer}); remove it (headers.response applies)`);
      f.request = undefined;
    }
  }
  return compact<RouteModel>({
    name,
    match,
    backends,
    redirect,
    directResponse,
    rewritePrefix,
    // The request path caps longer timeouts at the timer limit (policy/attempt-timer.ts), so any length is accepted.
    timeoutMs: c.duration(f.timeout, [...at, 'timeout'], Number.MAX_SAFE_INTEGER) ?? 0,
    retries: f.retries === undefined ? undefined : readRetries(c, protocol, f.retries, [...at, 'retries']),
    hedge: f.hedge === undefined ? undefined : readHedge(c, f.hedge, [...at, 'hedge']),
    mirror: f.mirror === undefined ? undefined : readMirror(ctx, owner, f.mirror, [...at, 'mirror']),
    fault: f.fault === undefined ? undefined : readFault(c, f.fault, [...at, 'fault']),
    requestHeaders: f.request === undefined ? undefined : readMutation(c, f.request, [...at, 'headers', 'request']),
    responseHeaders: headers?.response === undefined ? undefined : readMutation(c, headers.response, [...at, 'headers', 'response']),
  });
}

/** Whether the raw match is on a path prefix (gRPC: a `/pkg.Service/` method), read leniently. */
function matchesPrefix(protocol: Protocol | undefined, match: unknown): boolean {
  if (!isMapping(match)) return false;
  if (isMapping(match.path) && match.path.prefix !== undefined) return true;
  return protocol === 'grpc' && typeof match.method === 'string' && match.method.endsWith('/');
}

// ---- match ----------------------------------------------------------------

function readMatch(c: Checker, protocol: Protocol | undefined, value: unknown, at: KeyPath): RouteMatchModel {
  const m = c.mapping(value, at, MATCH_KEYS);
  let path = m?.path === undefined ? undefined : readPathMatch(c, m.path, [...at, 'path']);
  let methods: string[] = [];
  const grpcStyle = protocol === 'grpc' || (protocol === undefined && typeof m?.method === 'string' && m.method.startsWith('/'));
  if (m?.method !== undefined) {
    if (grpcStyle) {
      const method = c.pattern(m.method, [...at, 'method'], GRPC_METHOD, 'a gRPC method like /pkg.Service/Method, or /pkg.Service/ for all its methods');
      if (m.path !== undefined) {
        c.report([...at, 'method'], 'a gRPC route matches on method or path, not both; keep method');
      } else if (method !== undefined) {
        path = method.endsWith('/') ? { kind: 'prefix', value: method } : { kind: 'exact', value: method };
      }
    } else {
      methods = readMethods(c, m.method, [...at, 'method'], false);
      // No methods would be read as no condition, matching every method.
      if (Array.isArray(m.method) && m.method.length === 0) {
        c.report([...at, 'method'], 'method is empty: list at least one method, e.g. [GET, HEAD], or remove method to match every method');
      }
    }
  }
  return compact<RouteMatchModel>({
    path,
    methods,
    headers: m?.headers === undefined ? [] : readNamedMatches(c, m.headers, [...at, 'headers'], true),
    query: m?.query === undefined ? [] : readNamedMatches(c, m.query, [...at, 'query'], false),
  });
}

function readPathMatch(c: Checker, value: unknown, at: KeyPath): StringMatch | undefined {
  if (typeof value === 'string') {
    c.report(at, `expected a mapping like { prefix: ${value} } or { exact: ${value} }, got ${JSON.stringify(value)}`);
    return undefined;
  }
  const m = c.mapping(value, at, PATH_MATCH_KEYS);
  if (m === undefined) return undefined;
  const kind = c.exactlyOne(m, at, PATH_MATCH_KEYS, 'path match');
  if (kind === 'regex') {
    const v = c.regex(m.regex, [...at, 'regex']);
    return v === undefined ? undefined : { kind, value: v };
  }
  if (kind === 'exact' || kind === 'prefix') {
    const v = c.pattern(m[kind], [...at, kind], ABSOLUTE_PATH, 'a path starting with /');
    return v === undefined ? undefined : { kind, value: v };
  }
  return undefined;
}

/** Upper-cased HTTP methods; `*` (retries only) means every method. */
function readMethods(c: Checker, value: unknown, at: KeyPath, allowStar: boolean): string[] {
  const items = typeof value === 'string' ? [value] : c.list(value, at, 'HTTP methods');
  if (items === undefined) return [];
  const out: string[] = [];
  items.forEach((item, i) => {
    const itemAt = typeof value === 'string' ? at : [...at, i];
    if (allowStar && item === '*') {
      out.push('*');
      return;
    }
    const method = c.pattern(item, itemAt, TOKEN, allowStar ? 'an HTTP method like GET, or *' : 'an HTTP method like GET');
    if (method !== undefined && !out.includes(method.toUpperCase())) out.push(method.toUpperCase());
  });
  return out.includes('*') ? ['*'] : out;
}

function readNamedMatches(c: Checker, value: unknown, at: KeyPath, isHeader: boolean): NamedMatch[] {
  const dict = c.dictionary(value, at, isHeader ? 'header names to matches' : 'query parameters to matches');
  if (dict === undefined) return [];
  const out: NamedMatch[] = [];
  for (const key of Object.keys(dict)) {
    const keyAt = [...at, key];
    let name = key;
    if (isHeader) {
      if (!MATCH_HEADER.test(key)) {
        c.report(keyAt, `invalid header name "${key}": use letters, digits and - (e.g. x-user)`);
        continue;
      }
      name = key.toLowerCase();
      if (out.some((n) => n.name === name)) {
        c.report(keyAt, `header "${name}" is matched twice (header names are case-insensitive); merge the two`);
        continue;
      }
    }
    const match = readValueMatch(c, dict[key], keyAt);
    if (match !== undefined) out.push({ name, match });
  }
  return out;
}

function readValueMatch(c: Checker, value: unknown, at: KeyPath): StringMatch | undefined {
  if (typeof value === 'string') return { kind: 'exact', value };
  if (!isMapping(value)) {
    const hint = typeof value === 'number' || typeof value === 'boolean' ? ` (quote it: "${String(value)}")` : '';
    c.report(at, `expected a string or a mapping with one of ${VALUE_MATCH_KEYS.join(', ')}; got ${describeValue(value)}${hint}`);
    return undefined;
  }
  const m = c.mapping(value, at, VALUE_MATCH_KEYS);
  if (m === undefined) return undefined;
  const kind = c.exactlyOne(m, at, VALUE_MATCH_KEYS, 'value match');
  switch (kind) {
    case 'present':
    case 'absent':
      if (m[kind] !== true) {
        const hint = unquoteHint(m[kind], (v) => v === true) || (kind === 'present' ? ' (use absent: true instead)' : ' (use present: true instead)');
        c.report([...at, kind], `${kind} only takes true; got ${JSON.stringify(m[kind])}${hint}`);
        return undefined;
      }
      return { kind };
    case 'regex': {
      const v = c.regex(m.regex, [...at, 'regex']);
      return v === undefined ? undefined : { kind, value: v };
    }
    case 'exact':
    case 'prefix':
    case 'suffix': {
      const v = c.text(m[kind], [...at, kind]);
      return v === undefined ? undefined : { kind, value: v };
    }
    default:
      return undefined;
  }
}

// ---- actions --------------------------------------------------------------

/** Checks that `service` (when set) and `subset` exist; returns the target service name. */
function readTarget(ctx: RouteContext, owner: string, m: Mapping, at: KeyPath): { service: string; subset?: string } {
  const { c } = ctx;
  let service = owner;
  if (m.service !== undefined) {
    const s = c.string(m.service, [...at, 'service'], 'a service name');
    if (s !== undefined && !ctx.services.has(s)) {
      const known = [...ctx.services.keys()];
      c.report([...at, 'service'], `unknown service "${s}"${didYouMean(s, known) || '.'} Services in this mesh: ${known.join(', ') || '(none)'}`);
    }
    if (s !== undefined) service = s;
  }
  const subset = c.string(m.subset, [...at, 'subset'], 'a subset name');
  const info = ctx.services.get(service);
  if (subset !== undefined && info !== undefined && !info.subsets.includes(subset)) {
    const where = info.subsets.length === 0
      ? `Service "${service}" defines no subsets; add one under services.${service}.subsets`
      : `Subsets of "${service}": ${info.subsets.join(', ')}`;
    c.report([...at, 'subset'], `unknown subset "${subset}"${didYouMean(subset, info.subsets) || '.'} ${where}`);
  }
  return subset === undefined ? { service } : { service, subset };
}

function readBackends(ctx: RouteContext, owner: string, value: unknown, at: KeyPath): BackendRef[] {
  const { c } = ctx;
  const list = c.list(value, at, 'backends');
  if (list === undefined) return [];
  if (list.length === 0) {
    c.report(at, 'backends is empty: list at least one backend, or remove the key to send traffic to the service itself');
    return [];
  }
  const weighted = list.some((b) => isMapping(b) && b.weight !== undefined);
  const refs = list.map((raw, i): BackendRef => {
    const m = c.mapping(raw, [...at, i], BACKEND_KEYS);
    if (m === undefined) return { service: owner, weight: 1 };
    const target = readTarget(ctx, owner, m, [...at, i]);
    let weight = 1;
    if (m.weight !== undefined) {
      const w = m.weight;
      if (typeof w !== 'number' || !Number.isInteger(w) || w < 0 || w > MAX_WEIGHT) {
        const hint = unquoteHint(w, (v) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_WEIGHT);
        c.report([...at, i, 'weight'], `expected an integer weight 0..${MAX_WEIGHT} (weights are relative: 90 and 10 split traffic 90%/10%; 0 sends none), got ${describeValue(w)}${hint}`);
      } else {
        weight = w;
      }
    } else if (weighted && list.length > 1) {
      c.report([...at, i, 'weight'], 'missing weight: when one backend of a route has a weight, all of them need one (weights are relative)');
    }
    return { ...target, weight };
  });
  // Weight 0 parks a backend (a canary at 0 %), but some backend must get the traffic.
  if (refs.length > 0 && refs.every((b) => b.weight === 0)) {
    c.report(at, 'every backend has weight 0: give at least one backend a positive weight, or remove the route');
  }
  return refs;
}

function readRedirect(c: Checker, protocol: Protocol | undefined, value: unknown, at: KeyPath): RedirectModel | undefined {
  const m = c.mapping(value, at, REDIRECT_KEYS);
  if (m === undefined) return undefined;
  if (protocol === 'grpc') c.report(at, 'redirects are for http services; gRPC clients do not follow them');
  let status: RedirectModel['status'] = 302;
  if (m.status !== undefined) {
    if ((REDIRECT_STATUS as readonly unknown[]).includes(m.status)) status = m.status as RedirectModel['status'];
    else c.report([...at, 'status'], `expected one of ${REDIRECT_STATUS.join(' | ')}, got ${JSON.stringify(m.status)}${unquoteHint(m.status, (v) => (REDIRECT_STATUS as readonly unknown[]).includes(v))}`);
  }
  if (m.path !== undefined && m.prefixRewrite !== undefined) {
    c.report(at, 'set either path (replace the whole path) or prefixRewrite (replace the matched prefix), not both');
  }
  // Only the status (or a dropped query) changed: the client comes back to this route, in a loop.
  if (!REDIRECT_TARGET_KEYS.some((k) => m[k] !== undefined)) {
    c.report(at, `this redirect points back to the same URL, so clients would loop: set at least one of ${REDIRECT_TARGET_KEYS.join(', ')}`);
  }
  return compact<RedirectModel>({
    scheme: c.oneOf(m.scheme, [...at, 'scheme'], ['http', 'https'] as const),
    host: c.string(m.host, [...at, 'host'], 'a host name'),
    port: c.int(m.port, [...at, 'port'], 1, 65535, 'a port'),
    path: c.pattern(m.path, [...at, 'path'], ABSOLUTE_PATH, 'a path starting with /'),
    prefixRewrite: c.pattern(m.prefixRewrite, [...at, 'prefixRewrite'], ABSOLUTE_PATH, 'a path prefix starting with /'),
    status,
    stripQuery: c.bool(m.stripQuery, [...at, 'stripQuery']) ?? false,
  });
}

function readDirectResponse(c: Checker, value: unknown, at: KeyPath): DirectResponseModel | undefined {
  const m = c.mapping(value, at, DIRECT_KEYS);
  if (m === undefined) return undefined;
  const status = c.int(c.required(m, 'status', at, 'an HTTP status 200..599'), [...at, 'status'], 200, 599, 'an HTTP status');
  return {
    status: status ?? 0,
    body: c.text(m.body, [...at, 'body']) ?? '',
    headers: readHeaderPairs(c, m.headers, [...at, 'headers']),
  };
}

// ---- per-request policies -------------------------------------------------

function readRetries(c: Checker, protocol: Protocol | undefined, value: unknown, at: KeyPath): RetryPolicyModel | undefined {
  const m = c.mapping(value, at, RETRY_KEYS);
  if (m === undefined) return undefined;
  const grpc = protocol === 'grpc';
  let on = grpc ? GRPC_RETRY_ON : HTTP_RETRY_ON;
  const onList = c.list(m.on, [...at, 'on'], 'retry conditions');
  // Empty lists would switch retries off silently; attempts: 0 says so. Listed statusCodes still retry without `on`.
  if (onList?.length === 0 && !(Array.isArray(m.statusCodes) && m.statusCodes.length > 0)) {
    c.report([...at, 'on'], `on is empty: list at least one of ${(grpc ? GRPC_RETRY_ON : HTTP_RETRY_ON).join(', ')} (or statusCodes), or set attempts: 0 to turn retries off`);
  }
  if (onList !== undefined) {
    const picked: RetryCondition[] = [];
    onList.forEach((v, i) => {
      const cond = c.oneOf(v, [...at, 'on', i], RETRY_CONDITIONS);
      if (cond !== undefined && !picked.includes(cond)) picked.push(cond);
    });
    on = picked;
  }
  const statusCodes: number[] = [];
  c.list(m.statusCodes, [...at, 'statusCodes'], 'HTTP status codes')?.forEach((v, i) => {
    const code = c.int(v, [...at, 'statusCodes', i], 100, 599, 'an HTTP status');
    if (code !== undefined && !statusCodes.includes(code)) statusCodes.push(code);
  });
  const methods = m.methods === undefined ? (grpc ? GRPC_RETRY_METHODS : IDEMPOTENT_METHODS) : readMethods(c, m.methods, [...at, 'methods'], true);
  if (Array.isArray(m.methods) && m.methods.length === 0) {
    c.report([...at, 'methods'], 'methods is empty: list the methods to retry (* for all), remove it for the default, or set attempts: 0 to turn retries off');
  }

  let backoff: RetryPolicyModel['backoff'] = DEFAULT_BACKOFF;
  const b = c.mapping(m.backoff, [...at, 'backoff'], ['base', 'max']);
  if (b !== undefined) {
    const base = c.duration(b.base, [...at, 'backoff', 'base']);
    const max = c.duration(b.max, [...at, 'backoff', 'max']);
    // As Envoy: without a max, the cap is ten times the base.
    const baseMs = base ?? Math.min(DEFAULT_BACKOFF.baseMs, max ?? Infinity);
    const maxMs = max ?? (base === undefined ? DEFAULT_BACKOFF.maxMs : Math.min(base * 10, MAX_TIMER_MS));
    if (maxMs < baseMs) c.report([...at, 'backoff', 'max'], `backoff max (${maxMs}ms) is below base (${baseMs}ms); raise max or lower base`);
    backoff = { baseMs, maxMs };
  }

  let budget = DEFAULT_RETRY_BUDGET;
  const bu = c.mapping(m.budget, [...at, 'budget'], ['percent', 'minPerSecond']);
  if (bu !== undefined) {
    budget = {
      percent: c.percent(bu.percent, [...at, 'budget', 'percent']) ?? DEFAULT_RETRY_BUDGET.percent,
      minPerSecond: c.number(bu.minPerSecond, [...at, 'budget', 'minPerSecond'], 0, 1_000_000, 'a rate') ?? DEFAULT_RETRY_BUDGET.minPerSecond,
    };
  }

  return {
    attempts: c.int(m.attempts, [...at, 'attempts'], 0, 100, 'an integer') ?? 2,
    perTryTimeoutMs: c.duration(m.perTryTimeout, [...at, 'perTryTimeout'], Number.MAX_SAFE_INTEGER) ?? 0,
    on,
    statusCodes,
    methods,
    backoff,
    budget,
  };
}

function readHedge(c: Checker, value: unknown, at: KeyPath): HedgePolicyModel | undefined {
  const m = c.mapping(value, at, ['delay', 'maxAttempts', 'percentile']);
  if (m === undefined) return undefined;
  // With a percentile the delay is optional: it is then only a floor.
  const delay = m.percentile === undefined ? c.required(m, 'delay', at, 'how long to wait before sending a hedged copy, e.g. 50ms') : m.delay;
  return compact<HedgePolicyModel>({
    delayMs: c.duration(delay, [...at, 'delay']) ?? 0,
    maxAttempts: c.int(m.maxAttempts, [...at, 'maxAttempts'], 1, 10, 'an integer') ?? 2,
    percentile: c.number(m.percentile, [...at, 'percentile'], 1, 99.9, 'a latency percentile'),
  });
}

function readMirror(ctx: RouteContext, owner: string, value: unknown, at: KeyPath): MirrorPolicyModel | undefined {
  const m = ctx.c.mapping(value, at, ['service', 'subset', 'percent']);
  if (m === undefined) return undefined;
  const percent = ctx.c.percent(m.percent, [...at, 'percent']);
  // Without service or subset the copies go to this service's own endpoints, which names no target. A wrong percent is reported already.
  if (m.service === undefined && m.subset === undefined && (m.percent === undefined || percent !== undefined)) {
    ctx.c.report(at, 'a mirror needs a target: set service, subset or both, e.g. { subset: v2 }');
  }
  return { ...readTarget(ctx, owner, m, at), percent: percent ?? 100 };
}

export function readFault(c: Checker, value: unknown, at: KeyPath): FaultPolicyModel | undefined {
  const m = c.mapping(value, at, ['delay', 'abort', 'header', 'maxActive']);
  if (m === undefined) return undefined;
  if (m.delay === undefined && m.abort === undefined) c.report(at, 'a fault needs delay, abort or both');
  let delay: FaultPolicyModel['delay'];
  const d = c.mapping(m.delay, [...at, 'delay'], ['percent', 'duration']);
  if (d !== undefined) {
    const duration = c.required(d, 'duration', [...at, 'delay'], 'how long to delay, e.g. 100ms');
    delay = {
      percent: c.percent(d.percent, [...at, 'delay', 'percent']) ?? 100,
      durationMs: c.duration(duration, [...at, 'delay', 'duration']) ?? 0,
    };
  }
  let abort: FaultPolicyModel['abort'];
  const a = c.mapping(m.abort, [...at, 'abort'], ['percent', 'status']);
  if (a !== undefined) {
    const status = c.required(a, 'status', [...at, 'abort'], 'the HTTP status to answer with, 200..599');
    abort = {
      percent: c.percent(a.percent, [...at, 'abort', 'percent']) ?? 100,
      status: c.int(status, [...at, 'abort', 'status'], 200, 599, 'an HTTP status') ?? 0,
    };
  }
  const header = c.pattern(m.header, [...at, 'header'], TOKEN, 'a header name like x-enmesh-fault');
  const maxActive = c.int(m.maxActive, [...at, 'maxActive'], 1, 2_147_483_647, 'an integer');
  return compact<FaultPolicyModel>({ delay, abort, header: header?.toLowerCase(), maxActive });
}

function readMutation(c: Checker, value: unknown, at: KeyPath): HeaderMutationModel {
  const m = c.mapping(value, at, MUTATION_KEYS);
  const remove: string[] = [];
  c.list(m?.remove, [...at, 'remove'], 'header names')?.forEach((v, i) => {
    const name = c.pattern(v, [...at, 'remove', i], TOKEN, 'a header name');
    if (name !== undefined) remove.push(name.toLowerCase());
  });
  return {
    set: readHeaderPairs(c, m?.set, [...at, 'set']),
    add: readHeaderPairs(c, m?.add, [...at, 'add']),
    remove,
  };
}

/** `{ X-Name: value }` → `[['x-name', 'value']]`, names checked and lower-cased. */
function readHeaderPairs(c: Checker, value: unknown, at: KeyPath): (readonly [string, string])[] {
  const dict = c.dictionary(value, at, 'header names to values');
  if (dict === undefined) return [];
  const out: (readonly [string, string])[] = [];
  for (const key of Object.keys(dict)) {
    if (!TOKEN.test(key)) {
      c.report([...at, key], `invalid header name "${key}": use letters, digits and - (e.g. x-route)`);
      continue;
    }
    const v = c.text(dict[key], [...at, key]);
    const bad = v === undefined ? undefined : headerValueProblem(v);
    if (bad !== undefined) c.report([...at, key], bad);
    else if (v !== undefined) out.push([key.toLowerCase(), v]);
  }
  return out;
}

/** What Node's HTTP stack refuses in a header value (each request would fail), or undefined. */
const BAD_HEADER_CHAR = /[^\t\x20-\x7e\x80-\xff]/u;

/** Why `value` cannot be sent as a header value, or undefined when it can. */
function headerValueProblem(value: string): string | undefined {
  const m = BAD_HEADER_CHAR.exec(value);
  if (m === null) return undefined;
  const ch = m[0];
  const code = `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  const what = ch === '\r' || ch === '\n'
    ? 'a line break (CR/LF), which would split the header'
    : ch === '\0'
      ? 'a NUL character'
      : ch.codePointAt(0)! > 0xff
        ? `"${ch}" (${code}), outside Latin-1`
        : `the control character ${code}`;
  return `header value contains ${what}; use printable ASCII (percent-encode anything else)`;
}
