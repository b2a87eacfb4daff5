import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../../errors.ts';
import { enmeshMetadata, readEnmeshMetadata, type JsonObject } from '../metadata.ts';
import { decodeMessage, toAny, type AnyMessage } from '../protos.ts';
import { ENMESH_PROFILE, translateModel } from '../translate/index.ts';
import { richModel } from '../../../test/fixtures/xds/rich-model.ts';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, HTTP_CONNECTION_MANAGER, LISTENER, ROUTE_CONFIGURATION, ROUTER_FILTER, LOCAL_RATE_LIMIT_FILTER, FAULT_FILTER } from '../type-urls.ts';
import { assembleModel, decodeResource, MAX_RESOURCE_BYTES, referencedResourceNames, requiredResourceNames, type DecodedAssignment, type DecodedCluster } from './index.ts';

type Obj = Record<string, any>;

const translated = translateModel(richModel(), ENMESH_PROFILE);

function original(typeUrl: string, name: string): AnyMessage {
  return translated.byType.get(typeUrl)!.get(name)!.any;
}

/** A translated resource, decoded, changed by `edit`, and encoded again. */
function edited(typeUrl: string, name: string, edit: (m: Obj) => void): AnyMessage {
  const m = decodeMessage<Obj>(typeUrl, original(typeUrl, name).value);
  edit(m);
  return toAny(typeUrl, m);
}

function rejection(typeUrl: string, any: AnyMessage): string {
  try {
    decodeResource(typeUrl, any);
  } catch (err) {
    expect(isEnmeshError(err) && err.code).toBe('ENMESH_ERR_XDS_INVALID');
    return (err as Error).message;
  }
  throw new Error('expected the resource to be rejected');
}

const editHcm = (edit: (hcm: Obj) => void) => (l: Obj) => {
  const hcm = decodeMessage<Obj>(HTTP_CONNECTION_MANAGER, l.api_listener.api_listener.value);
  edit(hcm);
  l.api_listener.api_listener = toAny(HTTP_CONNECTION_MANAGER, hcm);
};

describe('decodeResource rejects, naming resource and field', () => {
  it('an unsupported lb_policy', () => {
    const any = edited(CLUSTER, 'outbound|9080|v1|reviews', (c) => {
      c.lb_policy = 'MAGLEV';
    });
    expect(rejection(CLUSTER, any)).toBe('Cluster "outbound|9080|v1|reviews": lb_policy: unsupported value MAGLEV');
  });

  it('a cluster that is not EDS over ADS', () => {
    expect(rejection(CLUSTER, edited(CLUSTER, 'outbound|9080||reviews', (c) => void (c.type = 'STRICT_DNS')))).toBe(
      'Cluster "outbound|9080||reviews": type: unsupported value STRICT_DNS (enmesh clusters are EDS)',
    );
    expect(rejection(CLUSTER, edited(CLUSTER, 'outbound|9080||reviews', (c) => void delete c.eds_cluster_config.eds_config.ads))).toBe(
      'Cluster "outbound|9080||reviews": eds_cluster_config.eds_config: must be ads or self',
    );
  });

  it('a cluster name that is not an enmesh one', () => {
    expect(rejection(CLUSTER, edited(CLUSTER, 'outbound|9080||reviews', (c) => void (c.name = 'reviews')))).toMatch(/^Cluster "reviews": name: not an enmesh cluster name/);
  });

  it('a weighted cluster with total weight 0', () => {
    const any = edited(ROUTE_CONFIGURATION, 'reviews', (rc) => {
      for (const c of rc.virtual_hosts[0].routes[1].route.weighted_clusters.clusters) c.weight = { value: 0 };
    });
    expect(rejection(ROUTE_CONFIGURATION, any)).toBe('RouteConfiguration "reviews": virtual_hosts[0].routes[1].route.weighted_clusters: total weight is 0');
  });

  it('a route without a path specifier, or without a match', () => {
    const noPath = edited(ROUTE_CONFIGURATION, 'reviews', (rc) => void delete rc.virtual_hosts[0].routes[0].match.prefix);
    expect(rejection(ROUTE_CONFIGURATION, noPath)).toBe(
      'RouteConfiguration "reviews": virtual_hosts[0].routes[0].match: no path specifier (set prefix, path or safe_regex)',
    );
    const noMatch = edited(ROUTE_CONFIGURATION, 'reviews', (rc) => void delete rc.virtual_hosts[0].routes[1].match);
    expect(rejection(ROUTE_CONFIGURATION, noMatch)).toBe('RouteConfiguration "reviews": virtual_hosts[0].routes[1].match: missing');
  });

  it('negative and absurd durations', () => {
    const negative = edited(ROUTE_CONFIGURATION, 'reviews', (rc) => void (rc.virtual_hosts[0].routes[1].route.timeout = { seconds: -1 }));
    expect(rejection(ROUTE_CONFIGURATION, negative)).toBe('RouteConfiguration "reviews": virtual_hosts[0].routes[1].route.timeout: negative duration');
    const absurd = edited(CLUSTER, 'outbound|9080||reviews', (c) => void (c.outlier_detection.interval = { seconds: '999999999999999' }));
    expect(rejection(CLUSTER, absurd)).toBe('Cluster "outbound|9080||reviews": outlier_detection.interval: duration out of range');
    const perTry = edited(ROUTE_CONFIGURATION, 'reviews', (rc) => void (rc.virtual_hosts[0].routes[1].route.retry_policy.per_try_timeout = { nanos: -5 }));
    expect(rejection(ROUTE_CONFIGURATION, perTry)).toBe(
      'RouteConfiguration "reviews": virtual_hosts[0].routes[1].route.retry_policy.per_try_timeout: negative duration',
    );
  });

  it('route features the data plane cannot honour', () => {
    const cases: [(rc: Obj) => void, string][] = [
      [(rc) => void (rc.virtual_hosts[0].routes[1].route.retry_policy.retry_on = '5xx,envoy-ratelimited'), 'routes[1].route.retry_policy.retry_on: unsupported condition "envoy-ratelimited"'],
      [(rc) => void (rc.virtual_hosts[0].routes[1].route = { cluster_header: 'x-cluster' }), 'routes[1].route.cluster_header: unsupported cluster specifier (use cluster or weighted_clusters)'],
      [(rc) => void (rc.virtual_hosts[0].routes[0].route.cluster = 'reviews-v2'), 'routes[0].route.cluster: "reviews-v2" is not an enmesh cluster name (outbound|<port>|<subset>|<service>)'],
      [(rc) => void (rc.virtual_hosts[0].routes[0].match = { safe_regex: { regex: '(' } }), 'routes[0].match.safe_regex.regex: not a valid regular expression: ('],
      [(rc) => void (rc.virtual_hosts[0].routes[0].match.headers[1].string_match = { contains: 'x' }), 'routes[0].match.headers[1].string_match.contains: unsupported string match (use exact, prefix, suffix or safe_regex)'],
      [(rc) => void (rc.virtual_hosts[0].routes[0].match.case_sensitive = { value: false }), 'routes[0].match.case_sensitive: case-insensitive matching is not supported'],
      [(rc) => void delete rc.virtual_hosts[0].routes[0].route, 'routes[0]: no action (set route, redirect or direct_response)'],
    ];
    for (const [edit, message] of cases) {
      expect(rejection(ROUTE_CONFIGURATION, edited(ROUTE_CONFIGURATION, 'reviews', edit))).toBe(`RouteConfiguration "reviews": virtual_hosts[0].${message}`);
    }
  });

  it('a listener without API listener or without RDS', () => {
    expect(rejection(LISTENER, edited(LISTENER, 'reviews', (l) => void delete l.api_listener))).toBe(
      'Listener "reviews": api_listener: missing (enmesh clients need an API listener holding an HttpConnectionManager)',
    );
    const inline = edited(LISTENER, 'reviews', editHcm((hcm) => {
      delete hcm.rds;
      hcm.route_config = { name: 'inline' };
    }));
    expect(rejection(LISTENER, inline)).toBe('Listener "reviews": api_listener.api_listener.rds: inline route_config is not supported; use rds');
    const noSource = edited(LISTENER, 'reviews', editHcm((hcm) => void delete hcm.rds.config_source));
    expect(rejection(LISTENER, noSource)).toBe('Listener "reviews": api_listener.api_listener.rds.config_source: must be ads or self');
  });

  it('an HTTP filter chain the client cannot apply', () => {
    const unknown = edited(LISTENER, 'reviews', editHcm((hcm) => hcm.http_filters.unshift({ name: 'ratelimit', typed_config: toAny(LOCAL_RATE_LIMIT_FILTER, { stat_prefix: 'x' }) })));
    expect(rejection(LISTENER, unknown)).toBe(`Listener "reviews": api_listener.api_listener.http_filters[0].typed_config.type_url: unsupported filter ${LOCAL_RATE_LIMIT_FILTER}`);
    const optional = edited(LISTENER, 'reviews', editHcm((hcm) => hcm.http_filters.unshift({ name: 'ratelimit', typed_config: toAny(LOCAL_RATE_LIMIT_FILTER, { stat_prefix: 'x' }), is_optional: true })));
    expect(decodeResource(LISTENER, optional).value).toMatchObject({ httpFilters: [FAULT_FILTER, ROUTER_FILTER] });
    const routerFirst = edited(LISTENER, 'reviews', editHcm((hcm) => hcm.http_filters.reverse()));
    expect(rejection(LISTENER, routerFirst)).toBe('Listener "reviews": api_listener.api_listener.http_filters[0]: the router filter must be the last filter, and only the last');
  });

  it('addresses that are neither IP nor host name, and ports out of range', () => {
    const at = 'endpoints[0].lb_endpoints[0].endpoint.address.socket_address';
    const sa = (edit: (s: Obj) => void) =>
      edited(CLUSTER_LOAD_ASSIGNMENT, 'outbound|9080||reviews', (cla) => edit(cla.endpoints[0].lb_endpoints[0].endpoint.address.socket_address));
    expect(rejection(CLUSTER_LOAD_ASSIGNMENT, sa((s) => void (s.address = 'not a host!')))).toBe(
      `ClusterLoadAssignment "outbound|9080||reviews": ${at}.address: "not a host!" is neither an IP address nor a host name`,
    );
    expect(rejection(CLUSTER_LOAD_ASSIGNMENT, sa((s) => void delete s.port_value))).toBe(
      `ClusterLoadAssignment "outbound|9080||reviews": ${at}.port_value: port 0 is out of range 1-65535`,
    );
    expect(rejection(CLUSTER_LOAD_ASSIGNMENT, sa((s) => void (s.port_value = 70000)))).toBe(
      `ClusterLoadAssignment "outbound|9080||reviews": ${at}.port_value: port 70000 is out of range 1-65535`,
    );
  });

  it('a resource over the size limit, naming it from the wire', () => {
    const any = toAny(CLUSTER_LOAD_ASSIGNMENT, { cluster_name: 'outbound|80||big', endpoints: [{ locality: { zone: 'z'.repeat(MAX_RESOURCE_BYTES) } }] });
    expect(rejection(CLUSTER_LOAD_ASSIGNMENT, any)).toBe(
      `ClusterLoadAssignment "outbound|80||big": size: ${any.value.byteLength} bytes is over the ${MAX_RESOURCE_BYTES}-byte limit`,
    );
  });

  it('a mismatched type, undecodable bytes, a missing name', () => {
    expect(rejection(CLUSTER, original(LISTENER, 'reviews'))).toBe(`Cluster "reviews": type_url: expected ${CLUSTER}, got ${LISTENER}`);
    expect(rejection(CLUSTER, { type_url: CLUSTER, value: Uint8Array.from([0x0a, 0xff]) })).toMatch(/^Cluster "": bytes: cannot decode/);
    expect(rejection(LISTENER, toAny(LISTENER, {}))).toBe('Listener "": name: missing');
    expect(() => decodeResource('type.googleapis.com/x.Y', original(LISTENER, 'reviews'))).toThrow(/unsupported resource type/);
  });
});

describe('decodeResource rejects resilience settings out of range', () => {
  /** The reviews cluster with its enmesh metadata changed by `edit`. */
  const clusterMeta = (edit: (meta: Record<string, any>) => void) =>
    edited(CLUSTER, 'outbound|9080||reviews', (c) => {
      const meta = JSON.parse(JSON.stringify(readEnmeshMetadata(c.metadata))) as Record<string, any>;
      edit(meta);
      c.metadata = enmeshMetadata(meta as JsonObject);
    });

  it('a rate-limit side or descriptor the data plane does not know', () => {
    expect(rejection(CLUSTER, clusterMeta((m) => (m.rateLimit.side = 'both')))).toMatch(
      /Cluster "outbound\|9080\|\|reviews": metadata.filter_metadata.enmesh.rateLimit.side: unsupported value both/,
    );
    expect(rejection(CLUSTER, clusterMeta((m) => (m.rateLimit.descriptors[1].by = 'cookie')))).toMatch(/rateLimit.descriptors\[1\].by: unsupported value cookie/);
    expect(rejection(CLUSTER, clusterMeta((m) => delete m.rateLimit.descriptors[0].header))).toMatch(/descriptors\[0\].header: required when by is header/);
    expect(rejection(CLUSTER, clusterMeta((m) => (m.rateLimit.descriptors[3].requestsPerSecond = 0)))).toMatch(/descriptors\[3\].requestsPerSecond: must be a positive number/);
  });

  it('a circuit breaker or adaptive limit missing a field or out of range', () => {
    expect(rejection(CLUSTER, clusterMeta((m) => delete m.circuitBreaker.windowMs))).toMatch(/circuitBreaker.windowMs: must be a positive number/);
    expect(rejection(CLUSTER, clusterMeta((m) => (m.circuitBreaker.errorThresholdPercent = 150)))).toMatch(/circuitBreaker.errorThresholdPercent: 150 is not a percentage/);
    const adaptive = { dryRun: false, initialLimit: 500, minLimit: 1, maxLimit: 100, intervalMs: 250, tolerance: 1.5, maxEventLoopDelayMs: 0 };
    expect(rejection(CLUSTER, clusterMeta((m) => (m.adaptiveConcurrency = adaptive)))).toMatch(/adaptiveConcurrency.initialLimit: is outside minLimit..maxLimit/);
  });

  it('a panic threshold over 100 % and a hedge percentile of 0', () => {
    const panic = edited(CLUSTER, 'outbound|9080||reviews', (c) => (c.common_lb_config.healthy_panic_threshold.value = 101));
    expect(rejection(CLUSTER, panic)).toMatch(/common_lb_config.healthy_panic_threshold: 101 is not a percentage/);
    const hedge = edited(ROUTE_CONFIGURATION, 'reviews', (rc) => {
      const r = rc.virtual_hosts[0].routes[1];
      const meta = JSON.parse(JSON.stringify(readEnmeshMetadata(r.metadata))) as Record<string, any>;
      meta.hedge.percentile = 0;
      r.metadata = enmeshMetadata(meta as JsonObject);
    });
    expect(rejection(ROUTE_CONFIGURATION, hedge)).toMatch(/metadata.filter_metadata.enmesh.hedge.percentile: 0 is not a percentile/);
  });
});

describe('decodeResource accepts', () => {
  it('redirect and direct-response routes of HTTP services', () => {
    const { value } = decodeResource(ROUTE_CONFIGURATION, original(ROUTE_CONFIGURATION, 'details'));
    expect(value).toMatchObject({ kind: 'route-config', virtualHosts: [{ routes: [{ route: { redirect: { status: 308 } } }, {}, { route: { directResponse: { status: 200 } } }, {}] }] });
  });

  it('plain xDS without enmesh metadata, with xDS defaults', () => {
    const cluster = toAny(CLUSTER, { name: 'outbound|80||web', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } }, outlier_detection: {} });
    expect(decodeResource(CLUSTER, cluster).value).toStrictEqual<DecodedCluster>({
      kind: 'cluster',
      name: 'outbound|80||web',
      service: 'web',
      port: 80,
      edsServiceName: 'outbound|80||web',
      loadBalancer: 'round-robin',
      outlierDetection: {
        consecutive5xx: 5,
        intervalMs: 10_000,
        baseEjectionTimeMs: 30_000,
        maxEjectionPercent: 10,
        successRate: { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 },
      },
    });
    const cla = toAny(CLUSTER_LOAD_ASSIGNMENT, {
      cluster_name: 'outbound|80||web',
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'web-0.web', port_value: 80 } } } }, { endpoint: { address: { socket_address: { address: '10.1.1.1', port_value: 80 } } }, health_status: 'DRAINING' }] }],
    });
    expect(decodeResource(CLUSTER_LOAD_ASSIGNMENT, cla).value).toStrictEqual<DecodedAssignment>({
      kind: 'assignment',
      name: 'outbound|80||web',
      endpoints: [
        { host: 'web-0.web', port: 80, labels: {}, weight: 1, zone: '', healthy: true, origin: 'static' },
        { host: '10.1.1.1', port: 80, labels: {}, weight: 1, zone: '', healthy: false, origin: 'static', draining: true },
      ],
    });
  });
});

describe('assembleModel and requiredResourceNames with partial state', () => {
  const decode = (typeUrl: string) =>
    new Map([...translated.byType.get(typeUrl)!].map(([name, r]) => [name, decodeResource(typeUrl, r.any).value] as [string, unknown]));
  const listeners = decode(LISTENER);
  const routeConfigs = decode(ROUTE_CONFIGURATION);
  const clusters = decode(CLUSTER);
  const empty = new Map<string, unknown>();

  it('serves listeners alone with default routes and no endpoints, and asks for the rest', () => {
    const state = { listeners, routeConfigs: empty, clusters: empty, assignments: empty };
    const model = assembleModel(state);
    expect([...model.services.keys()]).toEqual(['reviews', 'ratings', 'details']);
    expect(model.mesh).toEqual({ name: 'demo', trustDomain: 'demo.local', mtls: 'strict' });
    const reviews = model.services.get('reviews')!;
    expect(reviews.endpoints).toEqual([]);
    expect(reviews.routes).toEqual([{ name: 'default', match: { methods: [], headers: [], query: [] }, backends: [{ service: 'reviews', weight: 1 }], timeoutMs: 0 }]);
    expect(requiredResourceNames(state)).toEqual({
      routeConfigs: ['reviews', 'ratings', 'details'],
      clusters: ['outbound|9080||reviews', 'outbound|50051||ratings', 'outbound|8080||details'],
      assignments: [],
    });
  });

  it('asks for the clusters routes name, then for their assignments', () => {
    const withRoutes = { listeners, routeConfigs, clusters: empty, assignments: empty };
    expect(requiredResourceNames(withRoutes).clusters).toEqual([
      'outbound|9080||reviews',
      'outbound|50051||ratings',
      'outbound|8080||details',
      'outbound|9080|v2|reviews',
      'outbound|9080|v1|reviews',
      'outbound|50051|v1|ratings',
    ]);
    const withClusters = { listeners, routeConfigs, clusters, assignments: empty };
    expect(requiredResourceNames(withClusters)).toEqual({ routeConfigs: [], clusters: [], assignments: [...clusters.keys()] });
    expect(referencedResourceNames(withClusters).assignments).toEqual([...clusters.keys()]);
    const model = assembleModel(withClusters);
    expect(model.services.get('reviews')!.endpoints).toEqual([]);
    expect(model.services.get('reviews')!.loadBalancer).toBe('least-request');
  });

  it('refuses values that are not decoded resources', () => {
    expect(() => assembleModel({ listeners: new Map([['x', { name: 'x' }]]), routeConfigs: empty, clusters: empty, assignments: empty })).toThrow(
      /listeners\["x"\] is not a decoded listener/,
    );
  });
});
