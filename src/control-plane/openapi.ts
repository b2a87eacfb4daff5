/**
 * The OpenAPI 3.1 description of the control plane's HTTP API (admin port),
 * served at `GET /openapi.json`. Every route the control plane registers is
 * listed here; a unit test checks that against the live route table.
 */

type Schema = Record<string, unknown>;

interface Op {
  readonly summary: string;
  readonly tag: string;
  /** Needs the admin token (mutating /api/v1 calls). */
  readonly auth?: boolean;
  readonly body?: Schema;
  readonly response?: Schema;
  /** Response media type other than JSON. */
  readonly produces?: string;
  readonly query?: readonly { name: string; description: string }[];
  readonly errors?: readonly number[];
}

const str = { type: 'string' } as const;
const num = { type: 'number' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
const obj = (properties: Record<string, Schema>, required: string[] = []): Schema => ({ type: 'object', properties, ...(required.length > 0 ? { required } : {}) });
const arr = (items: Schema): Schema => ({ type: 'array', items });
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const anyObject: Schema = { type: 'object', additionalProperties: true };

const schemas: Record<string, Schema> = {
  Error: obj(
    {
      error: str,
      issues: arr(obj({ path: { type: 'string', description: 'key path, e.g. services.reviews.routes[0].backends[1].weight' }, message: str, line: int, column: int }, ['path', 'message'])),
    },
    ['error'],
  ),
  Change: obj({ version: { type: 'string', description: 'config version in force after the change' }, diff: { type: 'string', description: 'unified diff of mesh.yaml, old → new' } }, ['version', 'diff']),
  AuditEntry: obj(
    { id: int, at: str, actor: str, action: str, target: str, version: { type: ['string', 'null'] }, diff: str, result: { enum: ['applied', 'rejected'] }, error: str },
    ['id', 'at', 'actor', 'action', 'target', 'version', 'diff', 'result'],
  ),
  PolicyState: obj({
    services: arr(
      obj({
        service: str,
        openBreakers: arr(obj({ reporter: str, cluster: str })),
        ejected: arr(obj({ address: str, reporters: arr(str) })),
      }),
    ),
  }),
  Canary: obj({
    service: str,
    from: str,
    to: str,
    route: str,
    steps: arr(num),
    step: int,
    weight: num,
    state: { enum: ['progressing', 'promoted', 'rolled-back', 'aborted'] },
    reason: str,
    interval: str,
    maxErrorRate: num,
    maxP99Ms: { type: ['number', 'null'] },
    minRequests: int,
    actor: str,
    startedAt: str,
    updatedAt: str,
    history: arr(
      obj({
        at: str,
        weight: num,
        requests: int,
        errorRate: { type: ['number', 'null'] },
        p99Ms: { type: ['number', 'null'] },
        baseline: obj({ requests: int, errorRate: { type: ['number', 'null'] }, p99Ms: { type: ['number', 'null'] } }),
        decision: str,
      }),
    ),
  }),
};

const change = ref('Change');
const tokenErrors = [400, 401, 404] as const;

/** path → method → operation. */
const OPERATIONS: Record<string, Record<string, Op>> = {
  '/healthz': { get: { tag: 'status', summary: 'Liveness, and the model and config versions in force', response: obj({ status: str, modelVersion: { type: ['string', 'null'] }, configVersion: { type: ['string', 'null'] } }) } },
  '/openapi.json': { get: { tag: 'status', summary: 'This document' } },
  '/metrics': { get: { tag: 'status', summary: "The control plane's Prometheus metrics", produces: 'text/plain' } },
  '/': { get: { tag: 'dashboard', summary: 'The operator dashboard (HTML)', produces: 'text/html' } },
  '/ui/{asset}': { get: { tag: 'dashboard', summary: "The dashboard's static assets (script, style)", produces: 'application/octet-stream' } },
  '/api/v1/clients': { get: { tag: 'status', summary: 'Connected xDS clients with the versions they ACKed or NACKed', response: obj({ clients: arr(anyObject) }) } },
  '/api/v1/snapshot': {
    get: { tag: 'status', summary: 'The published snapshots per client profile', query: [{ name: 'profile', description: 'enmesh, grpc-xds or envoy' }], response: anyObject },
  },
  '/api/v1/services': { get: { tag: 'status', summary: 'Services of the published model with their endpoints (drained ones marked)', response: obj({ modelVersion: str, services: arr(anyObject) }) } },
  '/api/v1/registrations': { get: { tag: 'status', summary: 'Self-registered instances and registration errors', response: anyObject } },
  '/api/v1/config/errors': { get: { tag: 'config', summary: 'The last error of the config source, if any', response: obj({ error: anyObject }) } },
  '/api/v1/load': { get: { tag: 'status', summary: 'Traffic per service and per edge from load reports (LRS)', response: anyObject } },
  '/api/v1/sources': { get: { tag: 'status', summary: 'Health of the config and discovery sources (Consul)', response: anyObject } },
  '/api/v1/ca': { get: { tag: 'ca', summary: 'The certificate authority: trust domain, roots, validity', response: anyObject } },
  '/api/v1/ca/bundle': { get: { tag: 'ca', summary: 'The trust bundle (PEM roots) with its version', response: anyObject } },
  '/api/v1/ca/sign': {
    post: { tag: 'ca', summary: 'Signs a workload CSR into an SVID (bootstrap token in the request, not the admin token)', body: obj({ csr: str, token: str }), response: anyObject, errors: [400, 401, 403] },
  },
  '/api/v1/config': {
    get: { tag: 'config', summary: 'The current mesh.yaml with its version and where it lives', response: obj({ version: { type: ['string', 'null'] }, source: { enum: ['file', 'consul-kv'] }, location: str, text: str }) },
    put: {
      tag: 'config',
      summary: 'Replaces mesh.yaml: validated like a file edit; dryRun only validates and diffs',
      auth: true,
      body: obj({ text: str, dryRun: bool, expectedVersion: { type: 'string', description: '409 when the config is no longer at this version' } }, ['text']),
      response: { oneOf: [change, obj({ valid: { const: true }, version: str, diff: str })] },
      errors: [400, 401, 409, 504],
    },
  },
  '/api/v1/services/{service}/routes/{route}/weights': {
    post: {
      tag: 'traffic',
      summary: "Sets a route's split: backends (subset, service or service/subset) → weight. Route \"default\" is the implicit or catch-all route",
      auth: true,
      body: obj({ weights: { type: 'object', additionalProperties: int } }, ['weights']),
      response: change,
      errors: [...tokenErrors, 504],
    },
  },
  '/api/v1/services/{service}/routes/{route}/fault': {
    post: {
      tag: 'traffic',
      summary: "Sets a route's fault injection, or turns it off with {enabled: false}",
      auth: true,
      body: obj({ enabled: bool, delay: obj({ percent: num, duration: str }), abort: obj({ percent: num, status: int }) }),
      response: change,
      errors: [...tokenErrors, 504],
    },
  },
  '/api/v1/services/{service}/rate-limit': {
    post: {
      tag: 'traffic',
      summary: "Sets (merges into) a service's rate limit, or removes it with {enabled: false}",
      auth: true,
      body: obj({ enabled: bool, requestsPerSecond: num, burst: int, scope: { enum: ['local', 'global'] } }),
      response: change,
      errors: [...tokenErrors, 504],
    },
  },
  '/api/v1/services/{service}/endpoints/{endpoint}/drain': {
    post: {
      tag: 'traffic',
      summary: 'Drains (or undrains) an endpoint host:port: it stays listed, published with EDS health DRAINING, and gets no new requests',
      auth: true,
      body: obj({ drained: bool }, ['drained']),
      response: obj({ version: { type: ['string', 'null'] }, modelVersion: { type: ['string', 'null'] }, service: str, endpoint: str, drained: bool }),
      errors: [...tokenErrors],
    },
  },
  '/api/v1/rollback': {
    post: { tag: 'config', summary: 'Writes back the mesh.yaml of a version from the history', auth: true, body: obj({ version: str }, ['version']), response: change, errors: [...tokenErrors, 504] },
  },
  '/api/v1/history': {
    get: {
      tag: 'config',
      summary: 'Published config versions, newest first (bounded)',
      response: obj({ current: { type: ['string', 'null'] }, versions: arr(obj({ version: str, at: str, actor: str, source: str, summary: str })) }),
    },
  },
  '/api/v1/history/{version}': { get: { tag: 'config', summary: 'The mesh.yaml text of one version', response: obj({ version: str, text: str }), errors: [404] } },
  '/api/v1/audit': { get: { tag: 'config', summary: 'Operator actions, applied or rejected, newest first (bounded)', response: obj({ entries: arr(ref('AuditEntry')) }) } },
  '/api/v1/policy-state': { get: { tag: 'status', summary: 'Open breakers and ejected endpoints, as the clients report them', response: ref('PolicyState') } },
  '/api/v1/events': {
    get: {
      tag: 'status',
      summary: 'Server-sent events: snapshot, clients, load (every 2 s), audit, canary, policy, sources; ": ping" every 15 s',
      produces: 'text/event-stream',
    },
  },
  '/api/v1/canaries': {
    get: { tag: 'canary', summary: 'Canary releases, running and finished', response: obj({ canaries: arr(ref('Canary')) }) },
    post: {
      tag: 'canary',
      summary: 'Starts a canary: shifts weight step by step, promotes when healthy, rolls back on a breach',
      auth: true,
      body: obj(
        { service: str, to: str, from: str, route: str, steps: arr(num), interval: str, maxErrorRate: num, maxP99Ms: num, minRequests: int },
        ['service', 'to'],
      ),
      response: obj({ canary: ref('Canary') }),
      errors: [400, 401, 404, 409],
    },
  },
  '/api/v1/canaries/{service}': {
    get: { tag: 'canary', summary: "A service's canary", response: obj({ canary: ref('Canary') }), errors: [404] },
    delete: { tag: 'canary', summary: 'Aborts a canary: weights back to the baseline', auth: true, response: obj({ canary: ref('Canary') }), errors: [401, 404] },
  },
};

const STATUS_TEXT: Record<number, string> = {
  400: 'invalid request or config (issues name key paths)',
  401: 'missing or wrong admin token',
  403: 'refused',
  404: 'no such service, route, endpoint or version',
  409: 'the config changed since it was read (stale expectedVersion)',
  504: 'written but not published in time',
};

let cached: unknown;

/** The document (built once). */
export function openApiDocument(): unknown {
  cached ??= build();
  return cached;
}

/** Paths and methods documented, as `METHOD /path` (for tests). */
export function documentedRoutes(): { method: string; path: string }[] {
  const out: { method: string; path: string }[] = [];
  for (const [path, ops] of Object.entries(OPERATIONS)) for (const method of Object.keys(ops)) out.push({ method: method.toUpperCase(), path });
  return out;
}

function build(): unknown {
  const paths: Record<string, unknown> = {};
  for (const [path, ops] of Object.entries(OPERATIONS)) {
    const params = [...path.matchAll(/\{(\w+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: str }));
    const item: Record<string, unknown> = {};
    for (const [method, op] of Object.entries(ops)) {
      const responses: Record<string, unknown> = {
        [method === 'post' && path === '/api/v1/canaries' ? '201' : '200']: {
          description: 'OK',
          content: { [op.produces ?? 'application/json']: { schema: op.response ?? (op.produces === undefined ? anyObject : str) } },
        },
      };
      for (const code of op.errors ?? []) {
        responses[String(code)] = { description: STATUS_TEXT[code] ?? 'error', content: { 'application/json': { schema: ref('Error') } } };
      }
      item[method] = {
        summary: op.summary,
        tags: [op.tag],
        operationId: `${method}${path.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c === undefined ? '' : c.toUpperCase()))}`,
        ...(params.length > 0 || op.query !== undefined
          ? { parameters: [...params, ...(op.query ?? []).map((q) => ({ name: q.name, in: 'query', required: false, description: q.description, schema: str }))] }
          : {}),
        ...(op.body === undefined ? {} : { requestBody: { required: true, content: { 'application/json': { schema: op.body } } } }),
        ...(op.auth === true
          ? { security: [{ adminToken: [] }], parameters: [...params, { name: 'x-enmesh-actor', in: 'header', required: false, description: 'who acts, for the audit log (default "admin")', schema: str }] }
          : {}),
        responses,
      };
    }
    paths[path] = item;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'enmesh control plane admin API',
      version: '1',
      description: 'Status, config changes, history, audit and live events of an enmesh control plane. See docs/admin-api.md.',
    },
    servers: [{ url: 'http://127.0.0.1:15000' }],
    components: {
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer', description: '--admin-token / ENMESH_ADMIN_TOKEN, or the token the control plane logs at start' } },
      schemas,
    },
    paths,
  };
}
