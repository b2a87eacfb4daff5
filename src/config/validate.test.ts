import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import { DEFAULT_BACKOFF, DEFAULT_RETRY_BUDGET, IDEMPOTENT_METHODS } from '../model/types.ts';
import type { MeshModel, RouteModel, ServiceModel } from '../model/types.ts';
import { parseMeshYaml } from './load.ts';
import { buildModel, parseAddress } from './validate.ts';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/config/', import.meta.url));
const fixture = (name: string): MeshModel => parseMeshYaml(readFileSync(`${FIXTURES}${name}`, 'utf8'), name);

function svc(model: MeshModel, name: string): ServiceModel {
  const s = model.services.get(name);
  if (s === undefined) throw new Error(`no service ${name}`);
  return s;
}

function route(model: MeshModel, service: string, name: string): RouteModel {
  const r = svc(model, service).routes.find((x) => x.name === name);
  if (r === undefined) throw new Error(`no route ${name}`);
  return r;
}

function issuesOf(raw: unknown): { path: string; message: string }[] {
  try {
    buildModel(raw, 'test.yaml');
  } catch (err) {
    if (isEnmeshError(err) && err.issues) return [...err.issues];
    throw err;
  }
  throw new Error('accepted');
}

describe('defaults', () => {
  const model = fixture('valid/minimal.yaml');

  it('fills mesh settings', () => {
    expect(model.source).toBe('valid/minimal.yaml');
    expect(model.mesh).toEqual({ name: 'mesh', trustDomain: 'cluster.local', mtls: 'permissive' });
    expect(model.policies).toEqual({ authorization: [], authentication: [] });
  });

  it('fills a service and gives it one default route to itself', () => {
    const reviews = svc(model, 'reviews');
    expect(reviews).toEqual({
      name: 'reviews',
      protocol: 'http',
      port: 9080,
      endpoints: [],
      subsets: new Map(),
      loadBalancer: 'round-robin',
      routes: [
        { name: 'default', match: { methods: [], headers: [], query: [] }, backends: [{ service: 'reviews', weight: 1 }], timeoutMs: 0 },
      ],
    });
    expect('hashOn' in reviews).toBe(false);
  });

  it('`services: {}` is an empty mesh; an empty document is an error', () => {
    const empty = buildModel({ services: {} }, 'empty.yaml');
    expect(empty.services.size).toBe(0);
    expect(empty.mesh.name).toBe('mesh');
    expect(issuesOf(null)).toEqual([{ path: '', message: expect.stringMatching(/^the document is empty/) }]);
  });

  it('refuses a document without services, so a half-written file cannot drop every service', () => {
    const missing = { path: 'services', message: 'missing required key; an intentionally empty mesh is written `services: {}`' };
    expect(issuesOf({})).toEqual([missing]);
    expect(issuesOf({ mesh: { name: 'demo' } })).toEqual([missing]);
    expect(issuesOf({ policies: {} })).toEqual([missing]);
  });

  it('fills endpoints, route names, backend service, single weights', () => {
    const m = buildModel(
      {
        services: {
          a: {
            protocol: 'http',
            port: 80,
            endpoints: [{ address: '10.0.0.1:80' }],
            subsets: { v1: { version: 'v1' } },
            routes: [{ match: { path: { prefix: '/x' } }, backends: [{ subset: 'v1' }] }, { timeout: '1s' }],
          },
        },
      },
      's',
    );
    const a = svc(m, 'a');
    expect(a.endpoints).toEqual([{ host: '10.0.0.1', port: 80, labels: {}, weight: 1, zone: '', healthy: true, origin: 'static' }]);
    expect(a.routes.map((r) => r.name)).toEqual(['route-0', 'route-1']);
    expect(a.routes[0].backends).toEqual([{ service: 'a', subset: 'v1', weight: 1 }]);
    // A route without an action goes to the owning service.
    expect(a.routes[1].backends).toEqual([{ service: 'a', weight: 1 }]);
    expect(a.routes[1].timeoutMs).toBe(1000);
  });

  it('retries: http and grpc defaults', () => {
    const m = buildModel(
      {
        services: {
          h: { protocol: 'http', port: 80, routes: [{ retries: {} }] },
          g: { protocol: 'grpc', port: 81, routes: [{ retries: { attempts: 5 } }] },
        },
      },
      's',
    );
    expect(svc(m, 'h').routes[0].retries).toEqual({
      attempts: 2,
      perTryTimeoutMs: 0,
      on: ['5xx', 'reset', 'connect-failure'],
      statusCodes: [],
      methods: IDEMPOTENT_METHODS,
      backoff: DEFAULT_BACKOFF,
      budget: DEFAULT_RETRY_BUDGET,
    });
    const g = svc(m, 'g').routes[0].retries!;
    expect(g.attempts).toBe(5);
    expect(g.on).toEqual(['unavailable']);
    // Every gRPC call is a POST; the idempotent default would never retry one.
    expect(g.methods).toEqual(['POST']);
  });

  it('hedge, fault, mirror, outlier detection and rate limit defaults', () => {
    const m = buildModel(
      {
        services: {
          a: {
            protocol: 'http',
            port: 80,
            outlierDetection: {},
            rateLimit: { requestsPerSecond: 7.5 },
            routes: [{ hedge: { delay: '10ms' }, fault: { delay: { duration: '5ms' }, abort: { status: 500 } }, mirror: { service: 'a' } }],
          },
        },
      },
      's',
    );
    const a = svc(m, 'a');
    expect(a.outlierDetection).toEqual({ consecutive5xx: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 });
    expect(a.rateLimit).toEqual({ requestsPerSecond: 7.5, burst: 8, scope: 'local' });
    const r = a.routes[0];
    expect(r.hedge).toEqual({ delayMs: 10, maxAttempts: 2 });
    expect(r.fault).toEqual({ delay: { percent: 100, durationMs: 5 }, abort: { percent: 100, status: 500 } });
    expect(r.mirror).toEqual({ service: 'a', percent: 100 });
  });
});

describe('the design-notes example', () => {
  const model = fixture('valid/design.yaml');

  it('builds every part', () => {
    expect(model.mesh).toEqual({ name: 'demo', trustDomain: 'demo.local', mtls: 'permissive' });
    expect([...model.services.keys()]).toEqual(['reviews', 'ratings', 'productpage']);
    const reviews = svc(model, 'reviews');
    expect(reviews.endpoints[1]).toEqual({ host: '127.0.0.1', port: 9082, labels: { version: 'v2' }, weight: 2, zone: 'zone-b', healthy: true, origin: 'static' });
    expect(reviews.subsets.get('v2')).toEqual({ version: 'v2' });
    expect(reviews.hashOn).toEqual({ header: 'x-user' });
    expect(reviews.connectionPool).toEqual({ maxRequests: 1000, maxPendingRequests: 100 });
    expect(reviews.outlierDetection).toEqual({ consecutive5xx: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 50 });
    expect(reviews.rateLimit).toEqual({ requestsPerSecond: 100, burst: 20, scope: 'local' });

    const canary = route(model, 'reviews', 'canary-by-header');
    expect(canary.match).toEqual({
      path: { kind: 'prefix', value: '/api' },
      methods: ['GET'],
      headers: [{ name: 'x-canary', match: { kind: 'exact', value: 'true' } }],
      query: [],
    });
    const def = route(model, 'reviews', 'default');
    expect(def.backends).toEqual([
      { service: 'reviews', subset: 'v1', weight: 90 },
      { service: 'reviews', subset: 'v2', weight: 10 },
    ]);
    expect(def.timeoutMs).toBe(2000);
    expect(def.retries).toMatchObject({ attempts: 3, perTryTimeoutMs: 500, on: ['5xx', 'reset', 'connect-failure'], budget: { percent: 20, minPerSecond: 10 } });
    expect(def.hedge).toEqual({ delayMs: 50, maxAttempts: 2 });
    expect(def.mirror).toEqual({ service: 'reviews', subset: 'v2', percent: 5 });
    expect(def.fault).toEqual({ delay: { percent: 10, durationMs: 100 }, abort: { percent: 1, status: 503 } });
    expect(def.requestHeaders).toEqual({ set: [['x-route', 'default']], add: [], remove: [] });
    expect(def.responseHeaders).toEqual({ set: [], add: [], remove: ['server'] });

    const grpc = svc(model, 'ratings').routes[0];
    expect(grpc.name).toBe('route-0');
    expect(grpc.match).toEqual({ path: { kind: 'exact', value: '/ratings.Ratings/Get' }, methods: [], headers: [], query: [] });
    expect(grpc.retries?.on).toEqual(['unavailable', 'resource-exhausted']);

    expect(model.policies.authorization).toEqual([
      { name: 'only-reviews-reads-ratings', target: 'ratings', action: 'allow', dryRun: false, from: [{ service: 'reviews' }], to: [{ methods: ['GET'], paths: ['/ratings/*'] }] },
    ]);
    expect(model.policies.authentication).toEqual([
      { name: 'frontend-users', target: 'productpage', jwt: { issuer: 'https://issuer.example', jwksUri: 'https://issuer.example/jwks.json', audiences: ['productpage'] } },
    ]);
  });
});

describe('extensions', () => {
  const model = fixture('valid/extensions.yaml');
  const web = svc(model, 'web');

  it('endpoint shorthand, IPv6, host names; hashOn cookie; pool and outlier keys', () => {
    expect(web.endpoints.map((e) => [e.host, e.port, e.weight, e.zone])).toEqual([
      ['127.0.0.1', 8081, 1, ''],
      ['::1', 8082, 1, 'zone-a'],
      ['web-3.internal', 8083, 3, ''],
    ]);
    expect(web.hashOn).toEqual({ cookie: 'session' });
    expect(web.connectionPool).toEqual({ maxConnections: 10 });
    expect(web.outlierDetection).toMatchObject({ consecutiveGatewayErrors: 3, consecutiveLocalOriginFailures: 4 });
    expect(web.rateLimit).toEqual({ requestsPerSecond: 2.5, burst: 3, scope: 'local' });
  });

  it('path, method, header and query matches', () => {
    expect(route(model, 'web', 'exact-and-methods').match).toEqual({
      path: { kind: 'exact', value: '/login' },
      methods: ['GET', 'POST'],
      headers: [
        { name: 'x-tenant', match: { kind: 'exact', value: 'acme' } },
        { name: 'x-prefix', match: { kind: 'prefix', value: 'pre' } },
        { name: 'x-suffix', match: { kind: 'suffix', value: '.json' } },
        { name: 'x-regex', match: { kind: 'regex', value: '^v[0-9]+$' } },
        { name: 'x-debug', match: { kind: 'present' } },
        { name: 'x-legacy', match: { kind: 'absent' } },
      ],
      query: [
        { name: 'page', match: { kind: 'exact', value: '1' } },
        { name: 'Sort', match: { kind: 'regex', value: '^(asc|desc)$' } },
      ],
    });
    expect(route(model, 'web', 'regex-path').match.path).toEqual({ kind: 'regex', value: '^/items/[0-9]+$' });
  });

  it('backends across services and subsets', () => {
    expect(route(model, 'web', 'regex-path').backends).toEqual([
      { service: 'api', subset: 'stable', weight: 3 },
      { service: 'web', subset: 'v2', weight: 1 },
    ]);
  });

  it('rewrite, redirect and direct responses', () => {
    const rw = route(model, 'web', 'rewrite');
    expect(rw.rewritePrefix).toBe('/new');
    expect(rw.backends).toEqual([{ service: 'api', weight: 1 }]);
    const redirect = route(model, 'web', 'redirect');
    expect(redirect.backends).toBeUndefined();
    expect(redirect.redirect).toEqual({ scheme: 'https', host: 'docs.example', port: 8443, prefixRewrite: '/v2/docs', status: 308, stripQuery: true });
    expect(route(model, 'web', 'moved').redirect).toEqual({ path: '/elsewhere', status: 302, stripQuery: false });
    expect(route(model, 'web', 'teapot').directResponse).toEqual({ status: 418, body: 'short and stout', headers: [['content-type', 'text/plain']] });
    expect(route(model, 'web', 'empty-response').directResponse).toEqual({ status: 204, body: '', headers: [] });
  });

  it('header mutations, full retries, hedge, mirror, fault', () => {
    const r = route(model, 'web', 'policies');
    expect(r.requestHeaders).toEqual({ set: [['x-route', 'policies']], add: [['x-trace', '1']], remove: ['x-internal'] });
    expect(r.responseHeaders).toEqual({ set: [], add: [['cache-control', 'no-store']], remove: [] });
    expect(r.retries).toEqual({
      attempts: 4,
      perTryTimeoutMs: 1000,
      on: ['gateway-error', 'retriable-status-codes'],
      statusCodes: [409, 429],
      methods: ['GET', 'POST'],
      backoff: { baseMs: 10, maxMs: 1000 },
      budget: { percent: 50, minPerSecond: 10 },
    });
    expect(r.hedge).toEqual({ delayMs: 20, maxAttempts: 2 });
    expect(r.mirror).toEqual({ service: 'api', subset: 'canary', percent: 100 });
    expect(r.fault).toEqual({ delay: { percent: 100, durationMs: 1000 }, abort: { percent: 100, status: 503 }, header: 'x-enmesh-fault' });
    const star = route(model, 'web', 'star-retries').retries!;
    expect(star.methods).toEqual(['*']);
    // Without a max, the backoff cap is ten times the base.
    expect(star.backoff).toEqual({ baseMs: 100, maxMs: 1000 });
  });

  it('gRPC method prefix and path matches', () => {
    const g = svc(model, 'grpc-svc');
    expect(g.routes[0].match.path).toEqual({ kind: 'prefix', value: '/pkg.Svc/' });
    expect(g.routes[0].retries?.on).toEqual(['unavailable']);
    expect(g.routes[1].match.path).toEqual({ kind: 'prefix', value: '/other.Svc/' });
  });

  it('authorization sources (plural lists expand), operations, dryRun; inline JWKS', () => {
    const [deny, allowAll] = model.policies.authorization;
    expect(deny).toEqual({
      name: 'deny-batch',
      target: 'api',
      action: 'deny',
      dryRun: true,
      from: [
        { principal: 'spiffe://cluster.local/service/batch' },
        { namespace: 'jobs' },
        { principal: 'spiffe://cluster.local/service/a' },
        { principal: 'spiffe://cluster.local/service/b' },
      ],
      to: [
        { methods: [], paths: ['/admin/*'] },
        { methods: ['DELETE'], paths: [] },
      ],
    });
    expect(allowAll).toEqual({ name: 'allow-all-to-web', target: 'web', action: 'allow', dryRun: false, from: [], to: [] });
    expect(model.policies.authentication[0].jwt).toEqual({
      issuer: 'https://issuer.example',
      jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'k1' }] },
      audiences: [],
    });
  });
});

describe('version and immutability', () => {
  const text = readFileSync(`${FIXTURES}valid/design.yaml`, 'utf8');

  it('equal content gives an equal version, whatever the source, comments or layout', () => {
    const a = parseMeshYaml(text, 'a.yaml');
    const b = parseMeshYaml(`# another comment\n${text.replace('port: 50051', 'port:   50051   # same')}`, 'b.yaml');
    expect(a.version).toMatch(/^[0-9a-f]{16}$/);
    expect(b.version).toBe(a.version);
  });

  it('changed content gives a different version', () => {
    const a = parseMeshYaml(text, 'a.yaml');
    const b = parseMeshYaml(text.replace('weight: 90', 'weight: 80'), 'a.yaml');
    expect(b.version).not.toBe(a.version);
  });

  it('the model is deeply frozen', () => {
    const m = parseMeshYaml(text, 'a.yaml');
    const reviews = svc(m, 'reviews');
    expect(() => {
      (reviews as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => {
      (reviews.routes[1].backends![0] as { weight: number }).weight = 1;
    }).toThrow(TypeError);
    expect(() => {
      (reviews.endpoints[0].labels as Record<string, string>).version = 'x';
    }).toThrow(TypeError);
    expect(() => (m.services as Map<string, ServiceModel>).delete('reviews')).toThrow(/immutable/);
    expect(() => (reviews.subsets as Map<string, unknown>).set('v3', {})).toThrow(/immutable/);
    expect(() => {
      (m.policies.authorization as unknown[]).pop();
    }).toThrow(TypeError);
  });
});

describe('validation details', () => {
  const base = (service: Record<string, unknown>): unknown => ({ services: { s: { protocol: 'http', port: 80, ...service } } });

  it('error message: file name, count, one line per issue', () => {
    try {
      buildModel({ services: { reviews: { protocol: 'http', port: 'abc' }, b: { port: 1 } } }, 'mesh.yaml');
      expect.unreachable();
    } catch (err) {
      expect(isEnmeshError(err) && err.code).toBe('ENMESH_ERR_CONFIG_INVALID');
      expect((err as Error).message).toBe(
        'mesh.yaml: 2 problems:\n  - services.reviews.port: expected an integer 1..65535, got "abc"\n  - services.b.protocol: missing required key "protocol": set it to http or grpc',
      );
    }
  });

  it('labels and header values must be strings, with a hint to quote', () => {
    expect(issuesOf(base({ subsets: { v1: { version: 1 } } }))).toEqual([
      { path: 'services.s.subsets.v1.version', message: 'expected a string, got 1 (quote it: "1")' },
    ]);
    expect(issuesOf(base({ routes: [{ match: { headers: { 'x-canary': true } } }] }))[0].message).toMatch(/quote it: "true"/);
  });

  it('header names are case-insensitive: a name matched twice is an error', () => {
    expect(issuesOf(base({ routes: [{ match: { headers: { 'X-A': 'a', 'x-a': 'b' } } }] }))).toEqual([
      { path: 'services.s.routes[0].match.headers.x-a', message: 'header "x-a" is matched twice (header names are case-insensitive); merge the two' },
    ]);
  });

  it('present/absent only take true', () => {
    expect(issuesOf(base({ routes: [{ match: { query: { q: { present: false } } } }] }))[0]).toEqual({
      path: 'services.s.routes[0].match.query.q.present',
      message: 'present only takes true; got false (use absent: true instead)',
    });
  });

  it('a subset that matches no static endpoint is fine', () => {
    const m = buildModel(base({ endpoints: ['1.2.3.4:80'], subsets: { v9: { version: 'v9' } }, routes: [{ backends: [{ subset: 'v9' }] }] }), 's');
    expect(svc(m, 's').routes[0].backends).toEqual([{ service: 's', subset: 'v9', weight: 1 }]);
  });

  it('backends referencing subsets of another service are checked against that service', () => {
    const raw = {
      services: {
        a: { protocol: 'http', port: 80, subsets: { v1: {} }, routes: [{ backends: [{ service: 'b', subset: 'v1' }] }] },
        b: { protocol: 'http', port: 81, subsets: { v2: {} } },
      },
    };
    expect(issuesOf(raw)).toEqual([
      { path: 'services.a.routes[0].backends[0].subset', message: 'unknown subset "v1". Subsets of "b": v2' },
    ]);
  });

  it('several backends without weights split evenly', () => {
    const m = buildModel({ services: { a: { protocol: 'http', port: 80, subsets: { x: {}, y: {} }, routes: [{ backends: [{ subset: 'x' }, { subset: 'y' }] }] } } }, 's');
    expect(svc(m, 'a').routes[0].backends!.map((b) => b.weight)).toEqual([1, 1]);
  });

  it('rejects the rest of the rules', () => {
    const cases: [unknown, string, RegExp][] = [
      [{ mesh: { trustDomain: 'Bad Domain' }, services: {} }, 'mesh.trustDomain', /trust domain/],
      [{ mesh: { trustDomain: 'a'.repeat(256) }, services: {} }, 'mesh.trustDomain', /trust domain/],
      [{ services: { Reviews: { protocol: 'http', port: 80 } } }, 'services.Reviews', /lower-case .* \(e\.g\. reviews\)/],
      [{ services: [] }, 'services', /expected a mapping of service names/],
      [{ other: 1, services: {} }, 'other', /^unknown key "other"\. Allowed keys: mesh, services, policies$/],
      [base({ hashOn: { header: 'x', cookie: 'y' }, loadBalancer: 'ring-hash' }), 'services.s.hashOn', /exactly one of header, cookie, sourceIp/],
      [base({ hashOn: { sourceIp: true } }), 'services.s.hashOn', /set loadBalancer: ring-hash/],
      [base({ routes: [{ match: { path: { prefix: 'api' } } }] }), 'services.s.routes[0].match.path.prefix', /starting with \//],
      [base({ routes: [{ match: { path: '/api' } }] }), 'services.s.routes[0].match.path', /\{ prefix: \/api \}/],
      [base({ routes: [{ match: { method: 'GE T' } }] }), 'services.s.routes[0].match.method', /HTTP method/],
      [base({ routes: [{ retries: { statusCodes: [99] } }] }), 'services.s.routes[0].retries.statusCodes[0]', /100\.\.599/],
      [base({ routes: [{ retries: { backoff: { base: '1s', max: '10ms' } } }] }), 'services.s.routes[0].retries.backoff.max', /below base/],
      [base({ routes: [{ hedge: { maxAttempts: 2 } }] }), 'services.s.routes[0].hedge.delay', /missing required key "delay"/],
      [base({ routes: [{ fault: {} }] }), 'services.s.routes[0].fault', /delay, abort or both/],
      [base({ routes: [{ backends: [] }] }), 'services.s.routes[0].backends', /at least one backend/],
      [base({ routes: [{ redirect: { status: 301, host: 'h' }, rewrite: { prefix: '/x' }, match: { path: { prefix: '/y' } } }] }), 'services.s.routes[0].rewrite', /forwarded requests only/],
      [base({ routes: [{ redirect: { status: 300, host: 'h' } }] }), 'services.s.routes[0].redirect.status', /301 \| 302 \| 303 \| 307 \| 308/],
      [base({ routes: [{ redirect: { prefixRewrite: '/x' } }] }), 'services.s.routes[0].redirect.prefixRewrite', /needs match\.path\.prefix/],
      [base({ routes: [{ directResponse: { body: 'x' } }] }), 'services.s.routes[0].directResponse.status', /missing required key "status"/],
      [base({ endpoints: [{ address: '[::1]:0' }] }), 'services.s.endpoints[0].address', /out of range/],
      [base({ endpoints: ['999.1.1.1:80'] }), 'services.s.endpoints[0]', /not a valid IPv4 address or host name/],
      [base({ endpoints: [{ address: '[zz]:80' }] }), 'services.s.endpoints[0].address', /not a valid IPv6 address/],
      [base({ outlierDetection: { interval: '0s' } }), 'services.s.outlierDetection.interval', /longer than 0s/],
      [base({ rateLimit: { burst: 3 } }), 'services.s.rateLimit.requestsPerSecond', /missing required key/],
      [base({ connectionPool: { maxRequests: 0 } }), 'services.s.connectionPool.maxRequests', /1\.\.2147483647, got 0/],
      [{ services: { g: { protocol: 'grpc', port: 1, routes: [{ redirect: { path: '/x' } }] } } }, 'services.g.routes[0].redirect', /gRPC clients do not follow/],
      [{ services: { g: { protocol: 'grpc', port: 1, routes: [{ match: { method: '/a.B/', path: { exact: '/a.B/C' } } }] } } }, 'services.g.routes[0].match.method', /not both/],
      [{ ...(base({}) as object), policies: { authorization: [{ name: 'p', target: 's', from: [{ service: 'a', principal: 'spiffe://x/y' }] }] } }, 'policies.authorization[0].from[0]', /exactly one of/],
      [{ ...(base({}) as object), policies: { authorization: [{ name: 'p', target: 's', from: [{ principal: 'reviews' }] }] } }, 'policies.authorization[0].from[0].principal', /SPIFFE ID/],
      [{ ...(base({}) as object), policies: { authorization: [{ name: 'p', target: 's', to: [{ paths: ['api'] }] }] } }, 'policies.authorization[0].to[0].paths[0]', /\/api\/items/],
      [{ ...(base({}) as object), policies: { authentication: [{ name: 'p', target: 's', jwt: { issuer: 'i' } }] } }, 'policies.authentication[0].jwt', /exactly one of jwksUri, jwks/],
      [{ ...(base({}) as object), policies: { authentication: [{ name: 'p', target: 's', jwt: { issuer: 'i', jwks: '{"nokeys":1}' } }] } }, 'policies.authentication[0].jwt.jwks', /\{ keys: \[\.\.\.\] \}/],
    ];
    for (const [raw, path, message] of cases) {
      const issues = issuesOf(raw);
      expect(issues, path).toHaveLength(1);
      expect(issues[0].path, path).toBe(path);
      expect(issues[0].message, path).toMatch(message);
    }
  });

  it('a __proto__ label stays an ordinary label', () => {
    const labels = JSON.parse('{"__proto__": "x", "version": "v1"}') as Record<string, unknown>;
    const m = buildModel(base({ endpoints: [{ address: '1.1.1.1:1', labels }] }), 's');
    const got = svc(m, 's').endpoints[0].labels;
    expect(Object.getPrototypeOf(got)).toBe(Object.prototype);
    expect(Object.keys(got)).toEqual(['__proto__', 'version']);
  });
});

describe('parseAddress', () => {
  it('parses host:port and bracketed IPv6', () => {
    expect(parseAddress('127.0.0.1:80')).toEqual({ host: '127.0.0.1', port: 80 });
    expect(parseAddress('[::1]:9081')).toEqual({ host: '::1', port: 9081 });
    expect(parseAddress('Svc.Local:1')).toEqual({ host: 'svc.local', port: 1 });
  });

  it.each(['127.0.0.1', '::1:80', ':80', 'a:b', 'a:70000', 'a b:1', 'http://a:1'])('rejects %j', (text) => {
    expect(typeof parseAddress(text)).toBe('string');
  });
});
