/**
 * A model using every feature the xDS mapping covers, for the codec's tests.
 * Built by hand (not from mesh.yaml) so the codec is tested on its own.
 */
import { finalizeModel } from '../../model/finalize.ts';
import { DEFAULT_BACKOFF, IDEMPOTENT_METHODS, type EndpointModel, type MeshModel, type ServiceModel } from '../../model/types.ts';

function ep(host: string, port: number, labels: Record<string, string>, extra: Partial<EndpointModel> = {}): EndpointModel {
  return { host, port, labels, weight: 1, zone: '', healthy: true, origin: 'static', ...extra };
}

export function richServices(): Map<string, ServiceModel> {
  const reviews: ServiceModel = {
    name: 'reviews',
    protocol: 'http',
    port: 9080,
    endpoints: [
      ep('127.0.0.1', 9081, { version: 'v1' }, { zone: 'zone-a' }),
      ep('127.0.0.1', 9082, { version: 'v2' }, { weight: 2, zone: 'zone-b', origin: 'registered' }),
      ep('10.0.0.3', 9083, { version: 'v1', canary: 'yes' }, { zone: 'zone-a', healthy: false, origin: 'consul' }),
      ep('::1', 9084, { version: 'v2' }),
    ],
    subsets: new Map([
      ['v1', { version: 'v1' }],
      ['v2', { version: 'v2' }],
    ]),
    loadBalancer: 'least-request',
    connectionPool: { maxRequests: 1000, maxPendingRequests: 100, maxConnections: 50 },
    outlierDetection: {
      consecutive5xx: 5,
      consecutiveGatewayErrors: 3,
      consecutiveLocalOriginFailures: 4,
      intervalMs: 10_000,
      baseEjectionTimeMs: 30_000,
      maxEjectionPercent: 50,
    },
    rateLimit: { requestsPerSecond: 100, burst: 20, scope: 'local' },
    routes: [
      {
        name: 'canary-by-header',
        match: {
          path: { kind: 'prefix', value: '/api' },
          methods: ['GET'],
          headers: [
            { name: 'x-canary', match: { kind: 'exact', value: 'true' } },
            { name: 'x-debug', match: { kind: 'absent' } },
            { name: 'x-trace', match: { kind: 'present' } },
            { name: 'x-suffix', match: { kind: 'suffix', value: '.internal' } },
          ],
          query: [
            { name: 'q', match: { kind: 'prefix', value: 'abc' } },
            { name: 'nocache', match: { kind: 'absent' } },
            { name: 'flag', match: { kind: 'present' } },
          ],
        },
        backends: [{ service: 'reviews', subset: 'v2', weight: 1 }],
        timeoutMs: 1500,
        retries: {
          attempts: 2,
          perTryTimeoutMs: 0,
          on: ['connect-failure'],
          statusCodes: [],
          methods: ['GET', 'POST'],
          backoff: { baseMs: 0, maxMs: 0 },
          budget: { percent: 50, minPerSecond: 1 },
        },
      },
      {
        name: 'default',
        match: { methods: ['GET', 'HEAD'], headers: [], query: [] },
        backends: [
          { service: 'reviews', subset: 'v1', weight: 90 },
          { service: 'reviews', subset: 'v2', weight: 10 },
        ],
        rewritePrefix: '/v1',
        timeoutMs: 2000,
        retries: {
          attempts: 3,
          perTryTimeoutMs: 500,
          on: ['5xx', 'reset', 'connect-failure', 'retriable-status-codes'],
          statusCodes: [503, 429],
          methods: IDEMPOTENT_METHODS,
          backoff: DEFAULT_BACKOFF,
          budget: { percent: 20, minPerSecond: 10 },
        },
        hedge: { delayMs: 50, maxAttempts: 2 },
        mirror: { service: 'reviews', subset: 'v2', percent: 5 },
        fault: { delay: { percent: 10, durationMs: 100 }, abort: { percent: 0.5, status: 503 }, header: 'x-fault' },
        requestHeaders: { set: [['x-route', 'default']], add: [['x-added', 'a'], ['x-added', 'b']], remove: ['x-remove'] },
        responseHeaders: { set: [], add: [], remove: ['server'] },
      },
    ],
  };

  const ratings: ServiceModel = {
    name: 'ratings',
    protocol: 'grpc',
    port: 50051,
    endpoints: [ep('127.0.0.1', 50052, { version: 'v1' }), ep('127.0.0.1', 50053, { version: 'v2' })],
    subsets: new Map([['v1', { version: 'v1' }]]),
    loadBalancer: 'ring-hash',
    hashOn: { header: 'x-user' },
    routes: [
      {
        name: 'get',
        match: { path: { kind: 'exact', value: '/ratings.Ratings/Get' }, methods: [], headers: [], query: [] },
        backends: [{ service: 'ratings', subset: 'v1', weight: 1 }],
        timeoutMs: 0,
        retries: {
          attempts: 2,
          perTryTimeoutMs: 0,
          on: ['unavailable', 'resource-exhausted'],
          statusCodes: [],
          methods: IDEMPOTENT_METHODS,
          backoff: { baseMs: 10, maxMs: 100 },
          budget: { percent: 25, minPerSecond: 5 },
        },
        fault: { abort: { percent: 1, status: 14 } },
      },
      {
        name: 'rest',
        match: { path: { kind: 'regex', value: '^/ratings\\.Ratings/(List|Watch)$' }, methods: [], headers: [], query: [] },
        backends: [
          { service: 'ratings', weight: 0.5 },
          { service: 'reviews', subset: 'v1', weight: 1.25 },
        ],
        timeoutMs: 3000,
        retries: {
          attempts: 0,
          perTryTimeoutMs: 0,
          on: ['unavailable'],
          statusCodes: [],
          methods: [],
          backoff: DEFAULT_BACKOFF,
          budget: { percent: 25, minPerSecond: 5 },
        },
      },
    ],
  };

  const details: ServiceModel = {
    name: 'details',
    protocol: 'http',
    port: 8080,
    endpoints: [
      ep('details.internal', 8080, {}, { weight: 3 }),
      ep('10.0.0.7', 8080, {}, { zone: 'zone-b' }),
      ep('10.0.0.7', 8080, {}, { zone: 'zone-a', origin: 'registered' }),
      ep('10.0.0.8', 8080, {}, { zone: 'zone-b' }),
    ],
    subsets: new Map(),
    loadBalancer: 'peak-ewma',
    hashOn: { cookie: 'session', sourceIp: true },
    routes: [
      {
        name: 'old-docs',
        match: { path: { kind: 'prefix', value: '/' }, methods: [], headers: [], query: [{ name: 'legacy', match: { kind: 'exact', value: '1' } }] },
        redirect: { scheme: 'https', host: 'docs.example', port: 8443, prefixRewrite: '/new', status: 308, stripQuery: true },
        timeoutMs: 0,
      },
      {
        name: 'moved',
        match: { path: { kind: 'exact', value: '/moved' }, methods: [], headers: [], query: [] },
        redirect: { path: '/here', status: 301, stripQuery: false },
        timeoutMs: 1000,
      },
      {
        name: 'health',
        match: { path: { kind: 'exact', value: '/healthz' }, methods: [], headers: [], query: [] },
        directResponse: { status: 200, body: 'ok', headers: [['content-type', 'text/plain'], ['set-cookie', 'a=1'], ['set-cookie', 'b=2']] },
        timeoutMs: 0,
        responseHeaders: { set: [['cache-control', 'no-store']], add: [['x-served-by', 'mesh']], remove: [] },
      },
      {
        name: 'teapot',
        match: { methods: [], headers: [], query: [] },
        directResponse: { status: 418, body: '', headers: [] },
        timeoutMs: 0,
      },
    ],
  };

  return new Map([
    ['reviews', reviews],
    ['ratings', ratings],
    ['details', details],
  ]);
}

export function richModel(): MeshModel {
  return finalizeModel({
    source: '/etc/enmesh/mesh.yaml',
    mesh: { name: 'demo', trustDomain: 'demo.local', mtls: 'strict' },
    services: richServices(),
    policies: { authorization: [], authentication: [] },
  });
}
