import { isIPv4, isIPv6 } from 'node:net';
import { finalizeModel } from '../model/finalize.ts';
import type {
  AuthenticationPolicyModel,
  AuthorizationCondition,
  AuthorizationOperation,
  AuthorizationPolicyModel,
  AuthorizationSource,
  ConnectionPoolModel,
  EndpointModel,
  HashOn,
  Labels,
  LoadBalancerKind,
  MeshModel,
  MeshSettings,
  MtlsMode,
  OutlierDetectionModel,
  PoliciesModel,
  Protocol,
  RateLimitModel,
  ServiceModel,
} from '../model/types.ts';
import { Checker, MAX_NESTING, compact, isMapping, unquoteHint } from './check.ts';
import { compileGlob, isConditionKey } from '../security/authz.ts';
import type { Mapping } from './check.ts';
import { configError, describeValue, didYouMean, formatPath } from './issues.ts';
import type { KeyPath, PathIssue } from './issues.ts';
import { MAX_WEIGHT, TOKEN, readFault, readRoutes } from './routes.ts';
import { readAdaptiveConcurrency, readCircuitBreaker, readRateLimitDescriptors, readSuccessRate } from './resilience.ts';
import type { RouteContext, ServiceInfo } from './routes.ts';

const TOP_KEYS = ['mesh', 'services', 'policies'];
const MESH_KEYS = ['name', 'trustDomain', 'mtls'];
const SERVICE_KEYS = [
  'protocol',
  'port',
  'endpoints',
  'subsets',
  'loadBalancer',
  'hashOn',
  'connectionPool',
  'outlierDetection',
  'rateLimit',
  'circuitBreaker',
  'adaptiveConcurrency',
  'inboundFault',
  'routes',
];
const ENDPOINT_KEYS = ['address', 'labels', 'weight', 'zone'];
const POOL_KEYS = ['maxRequests', 'maxPendingRequests', 'maxConnections'] as const;
const OUTLIER_KEYS = [
  'consecutive5xx',
  'consecutiveGatewayErrors',
  'consecutiveLocalOriginFailures',
  'interval',
  'baseEjectionTime',
  'maxEjectionPercent',
  'maxEjectionTime',
  'successRate',
  'panicThreshold',
];
const PROTOCOLS: readonly Protocol[] = ['http', 'grpc'];
const MTLS_MODES: readonly MtlsMode[] = ['disabled', 'permissive', 'strict'];
const BALANCERS: readonly LoadBalancerKind[] = ['round-robin', 'random', 'least-request', 'ring-hash', 'peak-ewma'];
const SOURCE_KEYS = ['service', 'principal', 'namespace', 'requestPrincipal', 'services', 'principals', 'namespaces', 'requestPrincipals'];
const MAX_INT = 2_147_483_647;

/** Service names are host names clients call (`http://reviews:9080`); URLs lower-case hosts. */
const SERVICE_NAME = /^[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?$/;
/** SPIFFE trust domains: lower-case letters, digits, dots, dashes and underscores. */
/** SPIFFE's trust domain characters and length (spiffe-id.ts isTrustDomain). */
const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;
const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?$/;

/** The outcome of validation: a model only when there are no issues. */
export interface CheckResult {
  readonly model?: MeshModel;
  readonly issues: readonly PathIssue[];
}

/**
 * Validates a parsed mesh.yaml document and builds the frozen model, every
 * default filled. Throws one ENMESH_ERR_CONFIG_INVALID listing every problem.
 */
export function buildModel(raw: unknown, source: string): MeshModel {
  const result = checkModel(raw, source);
  if (result.model === undefined) {
    throw configError(source, result.issues.map((i) => ({ path: formatPath(i.at), message: i.message })));
  }
  return result.model;
}

/** As {@link buildModel}, but returns the issues (with key paths as segments) instead of throwing. */
export function checkModel(raw: unknown, source: string): CheckResult {
  const c = new Checker();
  // An empty file is far more often a half-written one than an intended empty mesh.
  if (raw === null || raw === undefined) {
    c.report([], 'the document is empty; declare services (an intentionally empty mesh is written `services: {}`)');
    return { issues: c.issues };
  }
  const top = c.mapping(raw, [], TOP_KEYS);
  if (top === undefined) return { issues: c.issues };

  const mesh = readMesh(c, top.mesh);
  // A file without services is far more often half-written than meant to drop every service.
  if (top.services === undefined) {
    c.report(['services'], 'missing required key; an intentionally empty mesh is written `services: {}`');
  }
  const rawServices = c.dictionary(top.services, ['services'], 'service names to services') ?? {};
  const ctx: RouteContext = { c, services: surveyServices(rawServices) };
  const services = new Map<string, ServiceModel>();
  for (const name of Object.keys(rawServices)) {
    services.set(name, readService(ctx, name, rawServices[name], ['services', name]));
  }
  const policies = readPolicies(c, top.policies, services);

  if (c.issues.length > 0) return { issues: c.issues };
  return { model: finalizeModel({ source, mesh, services, policies }), issues: [] };
}

/** First pass: each service's protocol and subset names, so routes can check references in any order. */
function surveyServices(raw: Mapping): Map<string, ServiceInfo> {
  const out = new Map<string, ServiceInfo>();
  for (const name of Object.keys(raw)) {
    const svc = raw[name];
    const protocol = isMapping(svc) && (PROTOCOLS as readonly unknown[]).includes(svc.protocol) ? (svc.protocol as Protocol) : undefined;
    const subsets = isMapping(svc) && isMapping(svc.subsets) ? Object.keys(svc.subsets) : [];
    out.set(name, protocol === undefined ? { subsets } : { protocol, subsets });
  }
  return out;
}

function readMesh(c: Checker, value: unknown): MeshSettings {
  const m = c.mapping(value, ['mesh'], MESH_KEYS);
  return {
    name: c.string(m?.name, ['mesh', 'name'], 'a mesh name') ?? 'mesh',
    trustDomain: c.pattern(m?.trustDomain, ['mesh', 'trustDomain'], TRUST_DOMAIN, 'a trust domain of lower-case letters, digits, dots and dashes, like demo.local') ?? 'cluster.local',
    mtls: c.oneOf(m?.mtls, ['mesh', 'mtls'], MTLS_MODES) ?? 'permissive',
  };
}

// ---- services -------------------------------------------------------------

function readService(ctx: RouteContext, name: string, value: unknown, at: KeyPath): ServiceModel {
  const { c } = ctx;
  if (!SERVICE_NAME.test(name)) {
    c.report(at, `invalid service name "${name}": clients use it as a host name, so use lower-case letters, digits, - and . (e.g. ${name.toLowerCase().replace(/[^a-z0-9_.-]/g, '-') || 'reviews'})`);
  }
  const m = c.mapping(value, at, SERVICE_KEYS);
  if (m === undefined) return placeholderService(name);
  const protocol = c.oneOf(c.required(m, 'protocol', at, 'http or grpc'), [...at, 'protocol'], PROTOCOLS);
  const port = c.int(c.required(m, 'port', at, 'the port clients call, 1..65535'), [...at, 'port'], 1, 65535, 'an integer');
  const balancer = c.oneOf(m.loadBalancer, [...at, 'loadBalancer'], BALANCERS);
  const loadBalancer = balancer ?? 'round-robin';
  const hashOn = m.hashOn === undefined ? undefined : readHashOn(c, m.hashOn, [...at, 'hashOn']);
  // An invalid loadBalancer is reported already; don't pile a hashOn complaint on top.
  if (m.hashOn !== undefined && loadBalancer !== 'ring-hash' && (balancer !== undefined || m.loadBalancer === undefined)) {
    c.report([...at, 'hashOn'], `hashOn is only used by loadBalancer: ring-hash (this service uses ${loadBalancer}); set loadBalancer: ring-hash or remove hashOn`);
  }
  return compact<ServiceModel>({
    name,
    protocol: protocol ?? 'http',
    port: port ?? 0,
    endpoints: readEndpoints(c, m.endpoints, [...at, 'endpoints']),
    subsets: readSubsets(c, m.subsets, [...at, 'subsets']),
    loadBalancer,
    hashOn,
    connectionPool: m.connectionPool === undefined ? undefined : readConnectionPool(c, m.connectionPool, [...at, 'connectionPool']),
    outlierDetection: m.outlierDetection === undefined ? undefined : readOutlier(c, m.outlierDetection, [...at, 'outlierDetection']),
    rateLimit: m.rateLimit === undefined ? undefined : readRateLimit(c, m.rateLimit, [...at, 'rateLimit']),
    circuitBreaker: m.circuitBreaker === undefined ? undefined : readCircuitBreaker(c, m.circuitBreaker, [...at, 'circuitBreaker']),
    adaptiveConcurrency: m.adaptiveConcurrency === undefined ? undefined : readAdaptiveConcurrency(c, m.adaptiveConcurrency, [...at, 'adaptiveConcurrency']),
    inboundFault: m.inboundFault === undefined ? undefined : readFault(c, m.inboundFault, [...at, 'inboundFault']),
    routes: readRoutes(ctx, name, m.routes, [...at, 'routes']),
  });
}

function placeholderService(name: string): ServiceModel {
  return { name, protocol: 'http', port: 0, endpoints: [], subsets: new Map(), loadBalancer: 'round-robin', routes: [] };
}

/** `host:port` or `[v6]:port`; an error message when it is neither. */
export function parseAddress(text: string): { host: string; port: number } | string {
  const hint = 'expected an address host:port (IPv6 in brackets: [::1]:9081)';
  const v6 = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text);
  const plain = v6 === null ? /^([^:[\]\s/]+):(\d{1,5})$/.exec(text) : null;
  const m = v6 ?? plain;
  if (m === null) return `${hint}, got ${describeValue(text)}`;
  const host = m[1];
  const port = Number(m[2]);
  if (v6 !== null ? !isIPv6(host) : !(isIPv4(host) || (HOST_NAME.test(host) && !/^[\d.]+$/.test(host)))) {
    return `${hint}; "${host}" is not a valid ${v6 !== null ? 'IPv6 address' : 'IPv4 address or host name'}`;
  }
  if (port < 1 || port > 65535) return `${hint}; port ${port} is out of range 1..65535`;
  return { host: host.toLowerCase(), port };
}

/** One spelling per address, so `[::1]` and `[0:0::1]` are the same endpoint; other hosts are already lower-cased. */
function addressKey(host: string): string {
  if (!isIPv6(host)) return host;
  const zone = host.indexOf('%');
  const bare = zone < 0 ? host : host.slice(0, zone);
  try {
    // URL writes IPv6 hosts in the RFC 5952 form: zeros compressed, lower-case hex.
    return new URL(`http://[${bare}]/`).hostname.slice(1, -1) + (zone < 0 ? '' : host.slice(zone));
  } catch {
    return host;
  }
}

function readEndpoints(c: Checker, value: unknown, at: KeyPath): EndpointModel[] {
  const list = c.list(value, at, 'endpoints');
  if (list === undefined) return [];
  const out: EndpointModel[] = [];
  const seen = new Map<string, { index: number; address: string }>();
  list.forEach((raw, i) => {
    // `- 127.0.0.1:9081` is short for `- { address: 127.0.0.1:9081 }`.
    const m = typeof raw === 'string' ? { address: raw } : c.mapping(raw, [...at, i], ENDPOINT_KEYS);
    if (m === undefined) return;
    const addressAt: KeyPath = typeof raw === 'string' ? [...at, i] : [...at, i, 'address'];
    const address = c.string(c.required(m, 'address', [...at, i], 'host:port, e.g. 127.0.0.1:9081'), addressAt, 'an address host:port');
    const parsed = address === undefined ? undefined : parseAddress(address);
    if (typeof parsed === 'string') c.report(addressAt, parsed);
    if (typeof parsed === 'object') {
      const key = `${addressKey(parsed.host)}|${parsed.port}`;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, { index: i, address: address! });
      else {
        const written = first.address === address ? '' : `, written "${first.address}"`;
        c.report(addressAt, `duplicate endpoint address "${address}" (also endpoints[${first.index}]${written}); list each address once`);
      }
    }
    out.push({
      host: typeof parsed === 'object' ? parsed.host : '',
      port: typeof parsed === 'object' ? parsed.port : 0,
      labels: readLabels(c, m.labels, [...at, i, 'labels']),
      weight: c.int(m.weight, [...at, i, 'weight'], 1, MAX_WEIGHT, 'a positive integer weight') ?? 1,
      zone: c.string(m.zone, [...at, i, 'zone'], 'a zone name') ?? '',
      healthy: true,
      origin: 'static',
    });
  });
  return out;
}

function readLabels(c: Checker, value: unknown, at: KeyPath): Labels {
  const dict = c.dictionary(value, at, 'label names to values');
  if (dict === undefined) return {};
  const entries: [string, string][] = [];
  for (const key of Object.keys(dict)) {
    const v = c.text(dict[key], [...at, key]);
    if (v !== undefined) entries.push([key, v]);
  }
  // fromEntries defines own properties, so a `__proto__` label stays a label.
  return Object.fromEntries(entries);
}

function readSubsets(c: Checker, value: unknown, at: KeyPath): Map<string, Labels> {
  const dict = c.dictionary(value, at, 'subset names to labels');
  const out = new Map<string, Labels>();
  if (dict === undefined) return out;
  for (const name of Object.keys(dict)) {
    // `v2:` with nothing after it is far more often unfinished than meant as "every endpoint" (`all: {}`).
    if (dict[name] === null) {
      c.report([...at, name], `subset "${name}" has no labels: give the subset's labels, e.g. { version: ${name} } (a subset of every endpoint is written {})`);
      continue;
    }
    out.set(name, readLabels(c, dict[name], [...at, name]));
  }
  return out;
}

function readHashOn(c: Checker, value: unknown, at: KeyPath): HashOn | undefined {
  const m = c.mapping(value, at, ['header', 'cookie', 'sourceIp']);
  if (m === undefined) return undefined;
  const kind = c.exactlyOne(m, at, ['header', 'cookie', 'sourceIp'], 'hashOn');
  if (kind === 'header') {
    const h = c.pattern(m.header, [...at, 'header'], TOKEN, 'a header name like x-user');
    return h === undefined ? undefined : { header: h.toLowerCase() };
  }
  if (kind === 'cookie') {
    const name = c.pattern(m.cookie, [...at, 'cookie'], TOKEN, 'a cookie name');
    return name === undefined ? undefined : { cookie: name };
  }
  if (kind === 'sourceIp') {
    if (m.sourceIp !== true) c.report([...at, 'sourceIp'], `sourceIp only takes true; got ${describeValue(m.sourceIp)}${unquoteHint(m.sourceIp, (v) => v === true)}`);
    return { sourceIp: true };
  }
  return undefined;
}

function readConnectionPool(c: Checker, value: unknown, at: KeyPath): ConnectionPoolModel | undefined {
  const m = c.mapping(value, at, POOL_KEYS);
  if (m === undefined) return undefined;
  const out: Record<string, number | undefined> = {};
  for (const key of POOL_KEYS) out[key] = c.int(m[key], [...at, key], 1, MAX_INT, 'an integer');
  return compact(out) as ConnectionPoolModel;
}

function readOutlier(c: Checker, value: unknown, at: KeyPath): OutlierDetectionModel | undefined {
  const m = c.mapping(value, at, OUTLIER_KEYS);
  if (m === undefined) return undefined;
  const positive = (v: unknown, key: string): number | undefined => {
    const ms = c.duration(v, [...at, key]);
    if (ms === 0) c.report([...at, key], `${key} must be longer than 0s`);
    return ms;
  };
  return compact<OutlierDetectionModel>({
    consecutive5xx: c.int(m.consecutive5xx, [...at, 'consecutive5xx'], 1, MAX_INT, 'an integer') ?? 5,
    consecutiveGatewayErrors: c.int(m.consecutiveGatewayErrors, [...at, 'consecutiveGatewayErrors'], 1, MAX_INT, 'an integer'),
    consecutiveLocalOriginFailures: c.int(m.consecutiveLocalOriginFailures, [...at, 'consecutiveLocalOriginFailures'], 1, MAX_INT, 'an integer'),
    intervalMs: positive(m.interval, 'interval') ?? 10_000,
    baseEjectionTimeMs: positive(m.baseEjectionTime, 'baseEjectionTime') ?? 30_000,
    maxEjectionPercent: c.percent(m.maxEjectionPercent, [...at, 'maxEjectionPercent']) ?? 10,
    maxEjectionTimeMs: positive(m.maxEjectionTime, 'maxEjectionTime'),
    successRate: m.successRate === undefined ? undefined : readSuccessRate(c, m.successRate, [...at, 'successRate']),
    panicThresholdPercent: c.percent(m.panicThreshold, [...at, 'panicThreshold']),
  });
}

function readRateLimit(c: Checker, value: unknown, at: KeyPath): RateLimitModel | undefined {
  const m = c.mapping(value, at, ['requestsPerSecond', 'burst', 'scope', 'side', 'descriptors']);
  if (m === undefined) return undefined;
  const rpsRaw = c.required(m, 'requestsPerSecond', at, 'the sustained rate, e.g. 100');
  const rps = c.number(rpsRaw, [...at, 'requestsPerSecond'], 0.001, 1e9, 'a rate');
  return compact<RateLimitModel>({
    requestsPerSecond: rps ?? 1,
    burst: c.int(m.burst, [...at, 'burst'], 1, MAX_INT, 'an integer') ?? Math.max(1, Math.ceil(rps ?? 1)),
    scope: c.oneOf(m.scope, [...at, 'scope'], ['local', 'global'] as const) ?? 'local',
    side: c.oneOf(m.side, [...at, 'side'], ['client', 'server'] as const),
    descriptors: m.descriptors === undefined ? undefined : readRateLimitDescriptors(c, m.descriptors, [...at, 'descriptors']),
  });
}

// ---- policies -------------------------------------------------------------

function readPolicies(c: Checker, value: unknown, services: ReadonlyMap<string, ServiceModel>): PoliciesModel {
  const m = c.mapping(value, ['policies'], ['authorization', 'authentication']);
  const authorization: AuthorizationPolicyModel[] = [];
  const authentication: AuthenticationPolicyModel[] = [];
  const authz = c.list(m?.authorization, ['policies', 'authorization'], 'authorization policies');
  const names = new Map<string, number>();
  const checkName = (name: string | undefined, at: KeyPath, i: number, kind: string): void => {
    if (name === undefined) return;
    const first = names.get(name);
    if (first !== undefined) c.report(at, `duplicate ${kind} policy name "${name}" (also ${kind}[${first}]); give each policy a unique name`);
    else names.set(name, i);
  };
  authz?.forEach((raw, i) => {
    const at: KeyPath = ['policies', 'authorization', i];
    const p = readAuthorization(c, raw, at, services);
    if (p === undefined) return;
    checkName(p.name, [...at, 'name'], i, 'authorization');
    authorization.push(p);
  });
  names.clear();
  const authn = c.list(m?.authentication, ['policies', 'authentication'], 'authentication policies');
  authn?.forEach((raw, i) => {
    const at: KeyPath = ['policies', 'authentication', i];
    const p = readAuthentication(c, raw, at, services);
    if (p === undefined) return;
    checkName(p.name, [...at, 'name'], i, 'authentication');
    authentication.push(p);
  });
  return { authorization, authentication };
}

function readTargetService(c: Checker, m: Mapping, at: KeyPath, services: ReadonlyMap<string, ServiceModel>): string {
  const target = c.string(c.required(m, 'target', at, 'the service the policy protects'), [...at, 'target'], 'a service name');
  if (target !== undefined && !services.has(target)) {
    const known = [...services.keys()];
    c.report([...at, 'target'], `unknown service "${target}"${didYouMean(target, known) || '.'} Services in this mesh: ${known.join(', ') || '(none)'}`);
  }
  return target ?? '';
}

function readAuthorization(c: Checker, raw: unknown, at: KeyPath, services: ReadonlyMap<string, ServiceModel>): AuthorizationPolicyModel | undefined {
  const m = c.mapping(raw, at, ['name', 'target', 'action', 'dryRun', 'from', 'to', 'when']);
  if (m === undefined) return undefined;
  const name = c.string(c.required(m, 'name', at, 'a unique policy name'), [...at, 'name'], 'a policy name');
  const target = readTargetService(c, m, at, services);
  const from: AuthorizationSource[] = [];
  c.list(m.from, [...at, 'from'], 'sources')?.forEach((s, i) => from.push(...readSource(c, s, [...at, 'from', i])));
  const to: AuthorizationOperation[] = [];
  c.list(m.to, [...at, 'to'], 'operations')?.forEach((o, i) => {
    const op = readOperation(c, o, [...at, 'to', i]);
    if (op !== undefined) to.push(op);
  });
  const when: AuthorizationCondition[] = [];
  c.list(m.when, [...at, 'when'], 'conditions')?.forEach((w, i) => {
    const cond = readCondition(c, w, [...at, 'when', i]);
    if (cond !== undefined) when.push(cond);
  });
  return {
    name: name ?? '',
    target,
    action: c.oneOf(m.action, [...at, 'action'], ['allow', 'deny'] as const) ?? 'allow',
    dryRun: c.bool(m.dryRun, [...at, 'dryRun']) ?? false,
    from,
    to,
    ...(when.length > 0 ? { when } : {}),
  };
}

/** A match pattern: exact, `prefix*`, `*suffix` or `*` (the authorization engine's only forms). */
function readGlob(c: Checker, v: unknown, at: KeyPath, what: string): string | undefined {
  return globOk(c, c.string(v, at, what), at);
}

/** `s` when the authorization engine can match it (see compileGlob); reported otherwise. */
function globOk(c: Checker, s: string | undefined, at: KeyPath): string | undefined {
  if (s === undefined) return undefined;
  try {
    compileGlob(s, c.path(at));
  } catch {
    c.report(at, `pattern "${s}" is not supported: use an exact value, prefix*, *suffix or * (no * in the middle, no regex)`);
    return undefined;
  }
  return s;
}

/** `{ key, values?, notValues? }` on a request attribute. */
function readCondition(c: Checker, raw: unknown, at: KeyPath): AuthorizationCondition | undefined {
  const m = c.mapping(raw, at, ['key', 'values', 'notValues']);
  if (m === undefined) return undefined;
  const key = c.string(c.required(m, 'key', at, 'request.auth.claims[name], request.auth.principal, request.headers[name] or source.principal'), [...at, 'key'], 'a condition key');
  if (key !== undefined && !isConditionKey(key)) {
    c.report([...at, 'key'], `unknown key "${key}": use request.auth.claims[name] (nested: claims[a][b]), request.auth.principal, request.headers[name] or source.principal`);
  }
  const read = (field: 'values' | 'notValues'): string[] => {
    const out: string[] = [];
    const list = c.list(m[field], [...at, field], 'patterns');
    // No patterns would leave a bare `key`, which only asks for the key to be present.
    if (list?.length === 0) c.report([...at, field], `${field} is empty: list at least one pattern (use ['*'] to require only that the key is present)`);
    list?.forEach((v, i) => {
      const g = readGlob(c, v, [...at, field, i], 'a value pattern');
      if (g !== undefined) out.push(g);
    });
    return out;
  };
  const values = read('values');
  const notValues = read('notValues');
  if (m.values === undefined && m.notValues === undefined) c.report(at, 'a condition needs values or notValues');
  return { key: key ?? '', ...(values.length > 0 ? { values } : {}), ...(notValues.length > 0 ? { notValues } : {}) };
}

/** One `from` entry: `{ service }`, `{ principal }`, `{ namespace }`, or a plural list of one kind. */
function readSource(c: Checker, raw: unknown, at: KeyPath): AuthorizationSource[] {
  const m = c.mapping(raw, at, SOURCE_KEYS);
  if (m === undefined) return [];
  const kind = c.exactlyOne(m, at, SOURCE_KEYS, 'a source');
  if (kind === undefined) return [];
  const single = kind.endsWith('s') ? kind.slice(0, -1) : kind;
  const listed = kind === single ? undefined : c.list(m[kind], [...at, kind], `${single}s`);
  // A source with no values would be dropped, leaving a rule that matches every caller.
  if (listed?.length === 0) c.report([...at, kind], `${kind} is empty: list at least one ${single}, or remove this from entry`);
  const values = kind === single ? [{ v: m[kind], at: [...at, kind] }] : (listed ?? []).map((v, i) => ({ v, at: [...at, kind, i] }));
  const out: AuthorizationSource[] = [];
  for (const { v, at: vAt } of values) {
    const s = single === 'principal'
      ? globOk(c, c.pattern(v, vAt, /^spiffe:\/\/[^/\s]+\/\S*$/, 'a SPIFFE ID like spiffe://demo.local/service/reviews'), vAt)
      : single === 'requestPrincipal'
        ? readGlob(c, v, vAt, 'a JWT principal <issuer>/<subject>, like https://issuer.example/* ')
        : single === 'service'
          ? readGlob(c, v, vAt, 'a service name')
          : c.string(v, vAt, `a ${single} name`);
    if (s !== undefined) out.push({ [single]: s } as AuthorizationSource);
  }
  return out;
}

function readOperation(c: Checker, raw: unknown, at: KeyPath): AuthorizationOperation | undefined {
  const m = c.mapping(raw, at, ['methods', 'paths', 'headers']);
  if (m === undefined) return undefined;
  const methods: string[] = [];
  c.list(m.methods, [...at, 'methods'], 'HTTP methods')?.forEach((v, i) => {
    const method = c.pattern(v, [...at, 'methods', i], TOKEN, 'an HTTP method like GET');
    if (method !== undefined) methods.push(method.toUpperCase());
  });
  const paths: string[] = [];
  c.list(m.paths, [...at, 'paths'], 'paths')?.forEach((v, i) => {
    const path = globOk(c, c.pattern(v, [...at, 'paths', i], /^[/*]/, 'a path like /api/items, /api/* or *.json'), [...at, 'paths', i]);
    if (path !== undefined) paths.push(path);
  });
  let headers: Record<string, string> | undefined;
  const h = c.dictionary(m.headers, [...at, 'headers'], 'header names to patterns');
  if (h !== undefined) {
    headers = {};
    for (const [name, v] of Object.entries(h)) {
      if (!TOKEN.test(name)) c.report([...at, 'headers', name], 'is not a header name');
      const g = readGlob(c, v, [...at, 'headers', name], 'a header value pattern');
      if (g !== undefined) headers[name.toLowerCase()] = g;
    }
  }
  return { methods, paths, ...(headers !== undefined ? { headers } : {}) };
}

function readAuthentication(c: Checker, raw: unknown, at: KeyPath, services: ReadonlyMap<string, ServiceModel>): AuthenticationPolicyModel | undefined {
  const m = c.mapping(raw, at, ['name', 'target', 'jwt']);
  if (m === undefined) return undefined;
  const name = c.string(c.required(m, 'name', at, 'a unique policy name'), [...at, 'name'], 'a policy name');
  const target = readTargetService(c, m, at, services);
  const jwtAt: KeyPath = [...at, 'jwt'];
  const jwt = c.mapping(c.required(m, 'jwt', at, '{ issuer, jwksUri }'), jwtAt, ['issuer', 'jwksUri', 'jwks', 'audiences']);
  if (jwt === undefined) return undefined;
  const issuer = c.string(c.required(jwt, 'issuer', jwtAt, 'the token issuer (the iss claim)'), [...jwtAt, 'issuer'], 'an issuer');
  const keySource = c.exactlyOne(jwt, jwtAt, ['jwksUri', 'jwks'], 'jwt keys');
  let jwksUri: string | undefined;
  let jwks: unknown;
  if (keySource === 'jwksUri') {
    jwksUri = c.pattern(jwt.jwksUri, [...jwtAt, 'jwksUri'], /^https?:\/\/\S+$/, 'an http(s) URL of a JWKS document');
  } else if (keySource === 'jwks') {
    jwks = readJwks(c, jwt.jwks, [...jwtAt, 'jwks']);
  }
  const audiences: string[] = [];
  c.list(jwt.audiences, [...jwtAt, 'audiences'], 'audiences')?.forEach((v, i) => {
    const a = c.string(v, [...jwtAt, 'audiences', i], 'an audience');
    if (a !== undefined) audiences.push(a);
  });
  return {
    name: name ?? '',
    target,
    jwt: compact({ issuer: issuer ?? '', jwksUri, jwks, audiences }),
  };
}

/** An inline JWKS: a `{ keys: [...] }` mapping, or the same as a JSON string. Copied as plain JSON. */
function readJwks(c: Checker, value: unknown, at: KeyPath): unknown {
  let doc = value;
  if (typeof value === 'string') {
    try {
      doc = JSON.parse(value);
    } catch (err) {
      c.report(at, `jwks is not valid JSON: ${(err as Error).message}`);
      return undefined;
    }
  }
  // A JSON string escapes the loader's nesting limit; deeper data would overflow the stack later.
  if (nestedDeeperThan(doc, MAX_NESTING)) {
    c.report(at, `nested deeper than ${MAX_NESTING} levels; a JWKS is { keys: [{ kty, ... }] }`);
    return undefined;
  }
  if (!isMapping(doc) || !Array.isArray(doc.keys)) {
    c.report(at, `expected a JWKS document { keys: [...] }, got ${describeValue(doc)}`);
    return undefined;
  }
  if (doc.keys.length === 0) {
    c.report([...at, 'keys'], 'keys is empty: add at least one key (a JWK like { kty: EC, crv, x, y, kid }), or use jwksUri');
    return undefined;
  }
  let shaped = true;
  doc.keys.forEach((key, i) => {
    if (!isMapping(key)) {
      c.report([...at, 'keys', i], `expected a JWK mapping like { kty: EC, crv, x, y, kid }, got ${describeValue(key)}`);
      shaped = false;
    } else if (typeof key.kty !== 'string' || key.kty === '') {
      c.report([...at, 'keys', i, 'kty'], `expected the key type as a string (kty: RSA, EC, OKP or oct), got ${describeValue(key.kty)}`);
      shaped = false;
    }
  });
  if (!shaped) return undefined;
  try {
    return JSON.parse(JSON.stringify(doc));
  } catch {
    c.report(at, 'jwks must be plain JSON data (it contains a cycle)');
    return undefined;
  }
}

/** Whether `value` holds objects or lists more than `limit` levels deep; iterative, so any depth is safe. */
function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 0 }];
  const seen = new Set<unknown>();
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    if (depth + 1 > limit) return true;
    seen.add(v);
    for (const child of Object.values(v)) stack.push({ v: child, depth: depth + 1 });
  }
  return false;
}
