import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { finalizeModel } from '../../model/finalize.ts';
import type { MeshModel, ServiceModel } from '../../model/types.ts';
import { readEnmeshMetadata } from '../metadata.ts';
import { decodeMessage, encodeMessage, fromAny, type AnyMessage } from '../protos.ts';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, FAULT_FILTER, HTTP_CONNECTION_MANAGER, LISTENER, ROUTE_CONFIGURATION, ROUTER_FILTER } from '../type-urls.ts';
import { ENMESH_PROFILE, ENVOY_PROFILE, GRPC_XDS_PROFILE, MAX_RESOURCE_BYTES, profileForNode, translateModel, type TranslatedResources } from './index.ts';
import { richModel, richServices } from '../../../test/fixtures/xds/rich-model.ts';

type Obj = Record<string, any>;

function resource(tr: TranslatedResources, typeUrl: string, name: string): Obj {
  const r = tr.byType.get(typeUrl)?.get(name);
  if (r === undefined) throw new Error(`no ${typeUrl} named ${name}`);
  return fromAny(r.any);
}

function routesOf(tr: TranslatedResources, service: string): Obj[] {
  return resource(tr, ROUTE_CONFIGURATION, service).virtual_hosts[0].routes ?? [];
}

function route(tr: TranslatedResources, service: string, name: string): Obj {
  const r = routesOf(tr, service).find((x) => x.name === name);
  if (r === undefined) throw new Error(`no route ${name}`);
  return r;
}

function modelWith(services: Map<string, ServiceModel>): MeshModel {
  return finalizeModel({ source: 'test', mesh: { name: 'demo', trustDomain: 'demo.local', mtls: 'strict' }, services, policies: { authorization: [], authentication: [] } });
}

describe('profileForNode', () => {
  it('recognises the user agent grpc-js-xds actually sends', () => {
    const require = createRequire(import.meta.url);
    const src = readFileSync(require.resolve('@grpc/grpc-js-xds/build/src/xds-client.js'), 'utf8');
    const agent = /const userAgentName = '([^']+)'/.exec(src)?.[1];
    expect(agent).toBeDefined();
    expect(profileForNode({ user_agent_name: agent }).kind).toBe('grpc-xds');
  });

  it('tells enmesh, gRPC and other clients apart', () => {
    expect(profileForNode({ user_agent_name: 'enmesh' }).kind).toBe('enmesh');
    expect(profileForNode({ user_agent_name: 'gRPC Go' }).kind).toBe('grpc-xds');
    expect(profileForNode({ user_agent_name: 'x', client_features: ['envoy.lb.does_not_support_overprovisioning'] }).kind).toBe('grpc-xds');
    expect(profileForNode({ user_agent_name: 'envoy' }).kind).toBe('envoy');
    expect(profileForNode(undefined).kind).toBe('envoy');
  });
});

describe('translateModel for enmesh clients', () => {
  const tr = translateModel(richModel(), ENMESH_PROFILE);

  it('publishes every resource type, one listener per target name', () => {
    expect([...tr.byType.get(LISTENER)!.keys()]).toEqual(['reviews', 'reviews:9080', 'ratings', 'ratings:50051', 'details', 'details:8080']);
    expect([...tr.byType.get(ROUTE_CONFIGURATION)!.keys()]).toEqual(['reviews', 'ratings', 'details']);
    expect([...tr.byType.get(CLUSTER)!.keys()]).toEqual([
      'outbound|9080||reviews',
      'outbound|9080|v1|reviews',
      'outbound|9080|v2|reviews',
      'outbound|50051||ratings',
      'outbound|50051|v1|ratings',
      'outbound|8080||details',
    ]);
    expect([...tr.byType.get(CLUSTER_LOAD_ASSIGNMENT)!.keys()]).toEqual([...tr.byType.get(CLUSTER)!.keys()]);
    expect(tr.degradations).toEqual([]);
  });

  it('builds API listeners that fetch their routes over ADS, router filter last', () => {
    const l = resource(tr, LISTENER, 'ratings:50051');
    expect(l.api_listener.api_listener.type_url).toBe(HTTP_CONNECTION_MANAGER);
    const hcm = fromAny<Obj>(l.api_listener.api_listener);
    expect(hcm.rds).toMatchObject({ config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: 'ratings' });
    expect(hcm.http_filters.map((f: Obj) => [f.name, f.typed_config.type_url])).toEqual([
      ['envoy.filters.http.fault', FAULT_FILTER],
      ['envoy.filters.http.router', ROUTER_FILTER],
    ]);
    expect(readEnmeshMetadata(l.metadata)).toEqual({
      service: 'ratings',
      port: 50051,
      protocol: 'grpc',
      mesh: { name: 'demo', trustDomain: 'demo.local', mtls: 'strict' },
    });
  });

  it('gives each route configuration a virtual host answering to its listener names', () => {
    const rc = resource(tr, ROUTE_CONFIGURATION, 'reviews');
    expect(rc.virtual_hosts).toHaveLength(1);
    expect(rc.virtual_hosts[0]).toMatchObject({ name: 'reviews', domains: ['reviews', 'reviews:9080'] });
  });

  it('maps matches onto path specifiers, header and query matchers', () => {
    const canary = route(tr, 'reviews', 'canary-by-header');
    expect(canary.match.prefix).toBe('/api');
    expect(canary.match.headers).toEqual([
      { name: ':method', string_match: { exact: 'GET', match_pattern: 'exact' }, header_match_specifier: 'string_match' },
      { name: 'x-canary', string_match: { exact: 'true', match_pattern: 'exact' }, header_match_specifier: 'string_match' },
      { name: 'x-debug', present_match: true, invert_match: true, header_match_specifier: 'present_match' },
      { name: 'x-trace', present_match: true, header_match_specifier: 'present_match' },
      { name: 'x-suffix', string_match: { suffix: '.internal', match_pattern: 'suffix' }, header_match_specifier: 'string_match' },
    ]);
    expect(canary.match.query_parameters).toEqual([
      { name: 'q', string_match: { prefix: 'abc', match_pattern: 'prefix' }, query_parameter_match_specifier: 'string_match' },
      { name: 'flag', present_match: true, query_parameter_match_specifier: 'present_match' },
    ]);
    expect(readEnmeshMetadata(canary.metadata)?.queryAbsent).toEqual([{ name: 'nocache', index: 1 }]);

    const def = route(tr, 'reviews', 'default');
    expect(def.match.prefix).toBe('/');
    expect(def.match.headers[0].string_match.safe_regex.regex).toBe('^(GET|HEAD)$');
    expect(route(tr, 'ratings', 'get').match.path).toBe('/ratings.Ratings/Get');
    expect(route(tr, 'ratings', 'rest').match.safe_regex.regex).toBe('^/ratings\\.Ratings/(List|Watch)$');
  });

  it('maps backends, timeouts and per-request policies onto the route action', () => {
    const a = route(tr, 'reviews', 'default').route;
    expect(a.weighted_clusters.clusters).toEqual([
      { name: 'outbound|9080|v1|reviews', weight: { value: 90 } },
      { name: 'outbound|9080|v2|reviews', weight: { value: 10 } },
    ]);
    expect(a.weighted_clusters.total_weight).toBeUndefined();
    expect(a.prefix_rewrite).toBe('/v1');
    expect(a.timeout).toEqual({ seconds: '2' });
    expect(a.retry_policy).toEqual({
      retry_on: '5xx,reset,connect-failure,retriable-status-codes',
      num_retries: { value: 3 },
      per_try_timeout: { nanos: 500_000_000 },
      retriable_status_codes: [503, 429],
      retry_back_off: { base_interval: { nanos: 25_000_000 }, max_interval: { nanos: 250_000_000 } },
    });
    expect(a.hedge_policy).toEqual({ initial_requests: { value: 1 }, hedge_on_per_try_timeout: true });
    expect(a.request_mirror_policies).toEqual([
      { cluster: 'outbound|9080|v2|reviews', runtime_fraction: { default_value: { numerator: 5, denominator: 'HUNDRED' } } },
    ]);
    // This route's retry budget differs from the one its service's clusters carry (its first route's).
    expect(readEnmeshMetadata(route(tr, 'reviews', 'default').metadata)).toEqual({
      hedge: { delayMs: 50, maxAttempts: 2, percentile: 95 },
      retryBudget: { percent: 20, minPerSecond: 10 },
    });

    const canary = route(tr, 'reviews', 'canary-by-header');
    expect(canary.route.cluster).toBe('outbound|9080|v2|reviews');
    expect(canary.route.retry_policy.retriable_request_headers[0].string_match.safe_regex.regex).toBe('^(GET|POST)$');
    // No backoff Envoy would accept: metadata carries it. The budget is the clusters' one, so it is not repeated.
    expect(readEnmeshMetadata(canary.metadata)).toEqual({ queryAbsent: [{ name: 'nocache', index: 1 }], retryBackoff: { baseMs: 0, maxMs: 0 } });

    const rest = route(tr, 'ratings', 'rest').route;
    expect(rest.weighted_clusters.clusters.map((c: Obj) => c.weight.value)).toEqual([50, 125]);
    expect(readEnmeshMetadata(route(tr, 'ratings', 'rest').metadata)?.weights).toEqual([0.5, 1.25]);
    expect(rest.max_stream_duration).toEqual({ max_stream_duration: { seconds: '3' }, grpc_timeout_header_max: { seconds: '3' } });
    expect(rest.hash_policy).toEqual([{ header: { header_name: 'x-user' }, policy_specifier: 'header' }]);
  });

  it('configures the fault filter per route', () => {
    const cfg = route(tr, 'reviews', 'default').typed_per_filter_config['envoy.filters.http.fault'] as AnyMessage;
    expect(cfg.type_url).toBe(FAULT_FILTER);
    expect(fromAny(cfg)).toEqual({
      delay: { fixed_delay: { nanos: 100_000_000 }, percentage: { numerator: 10, denominator: 'HUNDRED' }, fault_delay_secifier: 'fixed_delay' },
      abort: { http_status: 503, percentage: { numerator: 50, denominator: 'TEN_THOUSAND' }, error_type: 'http_status' },
      headers: [{ name: 'x-fault', present_match: true, header_match_specifier: 'present_match' }],
    });
    const grpcAbort = fromAny<Obj>(route(tr, 'ratings', 'get').typed_per_filter_config['envoy.filters.http.fault']);
    expect(grpcAbort.abort).toMatchObject({ grpc_status: 14, error_type: 'grpc_status' });
    expect(grpcAbort.max_active_faults).toEqual({ value: 3 });
  });

  it('maps header mutations, redirects and direct responses', () => {
    const def = route(tr, 'reviews', 'default');
    expect(def.request_headers_to_add).toEqual([
      { header: { key: 'x-route', value: 'default' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' },
      { header: { key: 'x-added', value: 'a' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
      { header: { key: 'x-added', value: 'b' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' },
    ]);
    expect(def.request_headers_to_remove).toEqual(['x-remove']);
    expect(def.response_headers_to_remove).toEqual(['server']);

    expect(route(tr, 'details', 'old-docs').redirect).toEqual({
      scheme_redirect: 'https',
      host_redirect: 'docs.example',
      port_redirect: 8443,
      prefix_rewrite: '/new',
      response_code: 'PERMANENT_REDIRECT',
      strip_query: true,
      scheme_rewrite_specifier: 'scheme_redirect',
      path_rewrite_specifier: 'prefix_rewrite',
    });
    const health = route(tr, 'details', 'health');
    expect(health.direct_response).toEqual({ status: 200, body: { inline_string: 'ok', specifier: 'inline_string' } });
    expect(health.response_headers_to_add.map((h: Obj) => [h.header.key, h.header.value])).toEqual([
      ['content-type', 'text/plain'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['cache-control', 'no-store'],
      ['x-served-by', 'mesh'],
    ]);
    expect(readEnmeshMetadata(health.metadata)).toEqual({ directResponseHeaders: 3 });
  });

  it('builds EDS clusters with balancing, circuit breakers and outlier detection', () => {
    const c = resource(tr, CLUSTER, 'outbound|9080|v1|reviews');
    expect(c).toMatchObject({
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: 'outbound|9080|v1|reviews' },
      connect_timeout: { seconds: '5' },
      lb_policy: 'LEAST_REQUEST',
    });
    expect(c.circuit_breakers.thresholds).toEqual([
      {
        priority: 'DEFAULT',
        max_connections: { value: 50 },
        max_pending_requests: { value: 100 },
        max_requests: { value: 1000 },
        retry_budget: { budget_percent: { value: 50 }, min_retry_concurrency: { value: 1 } },
      },
    ]);
    expect(c.outlier_detection).toEqual({
      consecutive_5xx: { value: 5 },
      interval: { seconds: '10' },
      base_ejection_time: { seconds: '30' },
      max_ejection_percent: { value: 50 },
      max_ejection_time: { seconds: '120' },
      enforcing_success_rate: { value: 0 },
      consecutive_gateway_failure: { value: 3 },
      enforcing_consecutive_gateway_failure: { value: 100 },
      split_external_local_origin_errors: true,
      consecutive_local_origin_failure: { value: 4 },
    });
    expect(c.common_lb_config).toEqual({ healthy_panic_threshold: { value: 30 } });
    expect(readEnmeshMetadata(c.metadata)).toEqual({
      labels: { version: 'v1' },
      rateLimit: {
        requestsPerSecond: 100,
        burst: 20,
        scope: 'local',
        side: 'server',
        descriptors: [
          { by: 'header', header: 'x-tenant', value: 'acme', requestsPerSecond: 5, burst: 1 },
          { by: 'source-service', requestsPerSecond: 10, burst: 2 },
          { by: 'path', value: '/api/bulk', requestsPerSecond: 0.5, burst: 0 },
          { by: 'route', requestsPerSecond: 50, burst: 5 },
        ],
      },
      circuitBreaker: { errorThresholdPercent: 50, volumeThreshold: 20, windowMs: 10_000, resetTimeoutMs: 30_000, halfOpenRequests: 2 },
      retryBudgetMinPerSecond: 1,
    });
    const ratings = resource(tr, CLUSTER, 'outbound|50051||ratings');
    // A threshold of 0 (never panic) is said explicitly: absent means Envoy's 50.
    expect(ratings.common_lb_config).toEqual({ healthy_panic_threshold: { value: 0 } });
    expect(readEnmeshMetadata(ratings.metadata)?.adaptiveConcurrency).toEqual({
      dryRun: true,
      initialLimit: 20,
      minLimit: 2,
      maxLimit: 200,
      intervalMs: 250,
      tolerance: 1.5,
      maxEventLoopDelayMs: 100,
    });
    expect(resource(tr, CLUSTER, 'outbound|50051||ratings')).toMatchObject({ lb_policy: 'RING_HASH', ring_hash_lb_config: {} });
    const details = resource(tr, CLUSTER, 'outbound|8080||details');
    expect(details.lb_policy).toBe('LEAST_REQUEST');
    // No forwarding route can carry hashOn, so the cluster does.
    expect(readEnmeshMetadata(details.metadata)).toEqual({ lb: 'peak-ewma', hashOn: { cookie: 'session', sourceIp: true } });
  });

  it('groups endpoints by zone with locality weights; subsets get their matching endpoints', () => {
    const cla = resource(tr, CLUSTER_LOAD_ASSIGNMENT, 'outbound|9080||reviews');
    expect(cla.endpoints.map((l: Obj) => [l.locality.zone ?? '', l.load_balancing_weight.value, l.lb_endpoints.length])).toEqual([
      ['zone-a', 2, 2],
      ['zone-b', 2, 1],
      ['', 1, 1],
    ]);
    const unhealthy = cla.endpoints[0].lb_endpoints[1];
    expect(unhealthy).toMatchObject({
      endpoint: { address: { socket_address: { address: '10.0.0.3', port_value: 9083 } } },
      health_status: 'UNHEALTHY',
      load_balancing_weight: { value: 1 },
    });
    expect(readEnmeshMetadata(unhealthy.metadata)).toEqual({ labels: { canary: 'yes', version: 'v1' }, origin: 'consul', index: 2 });
    const v2 = resource(tr, CLUSTER_LOAD_ASSIGNMENT, 'outbound|9080|v2|reviews');
    expect(v2.endpoints.flatMap((l: Obj) => l.lb_endpoints.map((e: Obj) => e.endpoint.address.socket_address.port_value))).toEqual([9082, 9084]);
  });

  it('encodes resources that protobufjs decodes and re-encodes to the same bytes', () => {
    for (const [typeUrl, resources] of tr.byType) {
      for (const r of resources.values()) {
        expect(r.any.type_url).toBe(typeUrl);
        const again = encodeMessage(typeUrl, decodeMessage(typeUrl, r.any.value));
        expect(Buffer.from(again).equals(Buffer.from(r.any.value)), r.name).toBe(true);
      }
    }
  });
});

describe('translateModel for grpc-xds clients', () => {
  const tr = translateModel(richModel(), GRPC_XDS_PROFILE);

  it('reports each degradation once', () => {
    expect(tr.degradations).toEqual([
      'service reviews route "default": fault injection limited to requests with header x-fault is not supported by grpc-xds clients; fault omitted',
      'service reviews route "default": retry conditions (5xx, reset, connect-failure, retriable-status-codes), per-try timeout, hedge, mirror, header mutations not applied by grpc-xds clients',
      'service reviews: loadBalancer least-request served as ROUND_ROBIN to grpc-xds clients',
      'service reviews: rateLimit, circuitBreaker, outlierDetection (gRPC ejects on success rate and failure percentage only; add successRate), connectionPool limits other than maxRequests, retry budget not applied by grpc-xds clients',
      'service ratings: adaptiveConcurrency, outlierDetection consecutive-failure ejection and panicThreshold (gRPC applies only successRate), retry budget not applied by grpc-xds clients',
      'service details route "old-docs": redirect routes are not supported by grpc-xds clients; route omitted',
      'service details route "moved": redirect routes are not supported by grpc-xds clients; route omitted',
      'service details route "health": directResponse routes are not supported by grpc-xds clients; route omitted',
      'service details route "teapot": directResponse routes are not supported by grpc-xds clients; route omitted',
      'service details: loadBalancer peak-ewma served as ROUND_ROBIN to grpc-xds clients',
      'service details: endpoint details.internal:8080 skipped for grpc-xds clients (they need an IP address, not a host name)',
      'service details: duplicate endpoint 10.0.0.7:8080 sent once to grpc-xds clients',
    ]);
  });

  it('rewrites what gRPC clients would NACK', () => {
    expect(resource(tr, CLUSTER, 'outbound|9080||reviews').lb_policy).toBe('ROUND_ROBIN');
    expect(resource(tr, CLUSTER, 'outbound|8080||details').lb_policy).toBe('ROUND_ROBIN');
    expect(resource(tr, CLUSTER, 'outbound|50051||ratings').lb_policy).toBe('RING_HASH');
    expect(routesOf(tr, 'details')).toEqual([]);
    // A query match never applies to a gRPC call; gRPC clients would ignore it and match everything.
    expect(routesOf(tr, 'reviews').map((r) => r.name)).toEqual(['default']);
    expect(route(tr, 'reviews', 'default').typed_per_filter_config).toBeUndefined();
    // num_retries 0 is NACKed; no retry policy means the same.
    expect(route(tr, 'ratings', 'rest').route.retry_policy).toBeUndefined();
    const cla = resource(tr, CLUSTER_LOAD_ASSIGNMENT, 'outbound|8080||details');
    expect(cla.endpoints.flatMap((l: Obj) => l.lb_endpoints.map((e: Obj) => e.endpoint.address.socket_address.address))).toEqual(['10.0.0.7', '10.0.0.8']);
  });

  it('emits success-rate ejection with every field set, and reports only what gRPC ignores of it', () => {
    const services = richServices();
    const reviews = services.get('reviews')!;
    services.set('reviews', {
      ...reviews,
      outlierDetection: { ...reviews.outlierDetection!, maxEjectionTimeMs: 90_000, successRate: { minimumHosts: 2, requestVolume: 5, stdevFactor: 0.5 } },
    });
    const grpc = translateModel(modelWith(services), GRPC_XDS_PROFILE);
    expect(resource(grpc, CLUSTER, 'outbound|9080||reviews').outlier_detection).toMatchObject({
      max_ejection_time: { seconds: '90' },
      enforcing_success_rate: { value: 100 },
      success_rate_minimum_hosts: { value: 2 },
      success_rate_request_volume: { value: 5 },
      success_rate_stdev_factor: { value: 500 },
    });
    const report = grpc.degradations.find((d) => d.startsWith('service reviews: rateLimit'));
    expect(report).toContain('outlierDetection consecutive-failure ejection and panicThreshold (gRPC applies only successRate)');
  });

  it('drops a :method matcher that includes POST, as gRPC clients cannot see the method', () => {
    const services = richServices();
    const ratings = services.get('ratings')!;
    services.set('ratings', {
      ...ratings,
      routes: [{ ...ratings.routes[0], match: { ...ratings.routes[0].match, methods: ['POST'] } }],
    });
    const grpc = translateModel(modelWith(services), GRPC_XDS_PROFILE);
    expect(route(grpc, 'ratings', 'get').match.headers).toBeUndefined();
    const enmesh = translateModel(modelWith(services), ENMESH_PROFILE);
    expect(route(enmesh, 'ratings', 'get').match.headers[0].name).toBe(':method');
  });

  it('is accepted by grpc-js-xds own resource validation, which rejects the enmesh profile', () => {
    const require = createRequire(import.meta.url);
    require('@grpc/grpc-js-xds').register();
    const dir = '@grpc/grpc-js-xds/build/src/xds-resource-type/';
    const validators: Record<string, { decode(ctx: unknown, r: AnyMessage): { error?: string } }> = {
      [LISTENER]: require(`${dir}listener-resource-type.js`).ListenerResourceType.get(),
      [ROUTE_CONFIGURATION]: require(`${dir}route-config-resource-type.js`).RouteConfigurationResourceType.get(),
      [CLUSTER]: require(`${dir}cluster-resource-type.js`).ClusterResourceType.get(),
      [CLUSTER_LOAD_ASSIGNMENT]: require(`${dir}endpoint-resource-type.js`).EndpointResourceType.get(),
    };
    // The rich model is mTLS strict: its gRPC clusters name the bootstrap's `enmesh` certificate provider.
    const errors = (t: TranslatedResources, certificateProviders: object = { enmesh: {} }): string[] => {
      const out: string[] = [];
      for (const [typeUrl, resources] of t.byType) {
        for (const r of resources.values()) {
          const result = validators[typeUrl].decode({ bootstrap: { certificateProviders }, server: {} }, { type_url: r.any.type_url, value: Buffer.from(r.any.value) });
          if (result.error !== undefined) out.push(`${r.name}: ${result.error}`);
        }
      }
      return out;
    };
    expect(errors(tr)).toEqual([]);
    // Without that provider in its bootstrap, a gRPC client refuses the TLS clusters (gRFC A29).
    expect(errors(tr, {}).join('\n')).toMatch(/Unmatched UpstreamTlsContext.tls_certificate_provider_instance.instance_name: enmesh/);
    const full = errors(translateModel(richModel(), ENMESH_PROFILE)).join('\n');
    expect(full).toMatch(/unsupported lb_policy: LEAST_REQUEST/);
    expect(full).toMatch(/unsupported action: redirect/);
    expect(full).toMatch(/not a valid IPv4 or IPv6 address: details.internal/);
    expect(full).toMatch(/duplicate of another address/);
  });
});

describe('translateModel for envoy clients', () => {
  it('keeps standard policies but only IP endpoints', () => {
    const tr = translateModel(richModel(), ENVOY_PROFILE);
    expect(resource(tr, CLUSTER, 'outbound|9080||reviews').lb_policy).toBe('LEAST_REQUEST');
    expect(routesOf(tr, 'details')).toHaveLength(4);
    expect(tr.degradations).toEqual(['service details: endpoint details.internal:8080 skipped for envoy clients (they need an IP address, not a host name)']);
  });
});

describe('resource versions', () => {
  it('are equal for equal content and change only where content changed', () => {
    const a = translateModel(richModel(), ENMESH_PROFILE);
    const b = translateModel(richModel(), ENMESH_PROFILE);
    const services = richServices();
    const reviews = services.get('reviews')!;
    services.set('reviews', { ...reviews, endpoints: reviews.endpoints.map((e, i) => (i === 1 ? { ...e, weight: 5 } : e)) });
    const c = translateModel(modelWith(services), ENMESH_PROFILE);

    const changed: string[] = [];
    for (const [typeUrl, resources] of a.byType) {
      for (const [name, r] of resources) {
        expect(b.byType.get(typeUrl)!.get(name)!.version).toBe(r.version);
        if (c.byType.get(typeUrl)!.get(name)!.version !== r.version) changed.push(name);
      }
    }
    // The endpoint is in the service's assignment and in subset v2's.
    expect(changed).toEqual(['outbound|9080||reviews', 'outbound|9080|v2|reviews']);
  });
});

describe('resource size', () => {
  it('reports a resource over the size clients accept', () => {
    const services = richServices();
    const ratings = services.get('ratings')!;
    const big = 'x'.repeat(MAX_RESOURCE_BYTES);
    services.set('ratings', { ...ratings, endpoints: [{ ...ratings.endpoints[0], labels: { big } }] });
    const tr = translateModel(modelWith(services), ENMESH_PROFILE);
    expect(tr.degradations).toEqual([
      expect.stringMatching(/^ClusterLoadAssignment "outbound\|50051\|\|ratings" is \d+ bytes, over the 4194304-byte limit clients accept$/),
    ]);
  });
});
