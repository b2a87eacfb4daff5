import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { parseMeshYaml } from '../../config/load.ts';
import type { MeshModel } from '../../model/types.ts';
import { compileAuthorization } from '../../security/authz.ts';
import { readEnmeshMetadata } from '../metadata.ts';
import { decodeMessage, encodeMessage, fromAny, type AnyMessage } from '../protos.ts';
import { serverListenerName } from '../resource-names.ts';
import { DOWNSTREAM_TLS_CONTEXT, HTTP_CONNECTION_MANAGER, LISTENER, RBAC_FILTER, ROUTER_FILTER } from '../type-urls.ts';
import { Degradations } from './degradations.ts';
import { ENMESH_PROFILE, ENVOY_PROFILE, GRPC_XDS_PROFILE, translateModel } from './index.ts';
import { serverAddresses } from './server-listener.ts';

// grpc-js-xds registers its RBAC filter only with this set; a server without it refuses these listeners.
process.env.GRPC_XDS_EXPERIMENTAL_RBAC = 'true';
const require = createRequire(import.meta.url);

type Obj = Record<string, any>;

const MESH = (mtls: string, extra = ''): MeshModel =>
  parseMeshYaml(
    `
mesh: { trustDomain: demo.local, mtls: ${mtls} }
services:
  ratings: { protocol: grpc, port: 50051, endpoints: ["10.0.0.1:50051", "[fd00::1]:50051", "ratings-2.internal:50051"] }
  reviews: { protocol: grpc, port: 7000, endpoints: ["10.0.0.2:7000", "10.0.0.9:7000"] }
  details: { protocol: grpc, port: 7000, endpoints: ["10.0.0.9:7000", "10.0.0.3:7001"] }
  web: { protocol: http, port: 8080, endpoints: ["10.0.0.1:50051", "10.0.0.4:8080"] }
${extra}`,
    'mesh.yaml',
  );

const POLICIES = `
policies:
  authorization:
    - name: no-admin
      target: ratings
      action: deny
      to: [{ paths: [/ratings.Ratings/Admin] }]
    - name: no-batch-writes
      target: ratings
      action: deny
      from: [{ service: batch }]
      to: [{ headers: { x-write: "*" } }]
    - name: reviews-reads
      target: ratings
      from: [{ service: reviews }, { principal: spiffe://other.domain/service/* }]
      to: [{ paths: [/ratings.Ratings/Get, /ratings.Ratings/List] }]
    - name: jobs
      target: ratings
      from: [{ service: "*-job" }]
      when: [{ key: "request.headers[x-region]", values: [eu-*], notValues: [eu-test] }]
    - name: lockdown-preview
      target: ratings
      action: deny
      dryRun: true
      from: [{ service: "*" }]
    - name: maybe-everyone
      target: details
      dryRun: true
      from: [{ service: "*" }]
`;

function listener(model: MeshModel, address: string): Obj {
  const r = translateModel(model, GRPC_XDS_PROFILE).byType.get(LISTENER)!.get(serverListenerName(address));
  if (r === undefined) throw new Error(`no server listener for ${address}`);
  return fromAny(r.any);
}

const hcmOf = (l: Obj): Obj => fromAny(l.filter_chains[0].filters[0].typed_config);

describe('which service a listening address belongs to', () => {
  it('an endpoint address of one gRPC service; a wildcard address by its port, when one gRPC service alone uses it', () => {
    const d = new Degradations();
    const found = [...serverAddresses(MESH('strict'), d)].map(([address, a]) => [address, a.ip, a.port, a.service.name]);
    expect(found).toEqual([
      ['10.0.0.1:50051', '10.0.0.1', 50051, 'ratings'],
      ['[fd00::1]:50051', 'fd00::1', 50051, 'ratings'],
      ['10.0.0.2:7000', '10.0.0.2', 7000, 'reviews'],
      ['10.0.0.3:7001', '10.0.0.3', 7001, 'details'],
      // A host-name endpoint has no exact address, but its port counts.
      ['0.0.0.0:50051', '0.0.0.0', 50051, 'ratings'],
      ['[::]:50051', '::', 50051, 'ratings'],
      ['0.0.0.0:7001', '0.0.0.0', 7001, 'details'],
      ['[::]:7001', '::', 7001, 'details'],
    ]);
    // Shared by two gRPC services: neither gets it (an HTTP service at 10.0.0.1:50051 does not count).
    expect(d.list()).toEqual([
      'address 10.0.0.9:7000 is an endpoint of several gRPC services (reviews, details): a gRPC server bound to it gets no listener',
      'port 7000 is used by several gRPC services (reviews, details): a gRPC server bound to 0.0.0.0:7000 or [::]:7000 gets no listener (bind it to its endpoint address)',
    ]);
  });

  it('are listeners for grpc-xds clients only: the SDK and Envoy get none', () => {
    const model = MESH('strict');
    const names = (profile: typeof ENMESH_PROFILE): string[] => [...translateModel(model, profile).byType.get(LISTENER)!.keys()];
    expect(names(GRPC_XDS_PROFILE).filter((n) => n.startsWith('grpc/server?'))).toEqual(
      ['10.0.0.1:50051', '[fd00::1]:50051', '10.0.0.2:7000', '10.0.0.3:7001', '0.0.0.0:50051', '[::]:50051', '0.0.0.0:7001', '[::]:7001'].map(serverListenerName),
    );
    for (const profile of [ENMESH_PROFILE, ENVOY_PROFILE]) {
      expect(names(profile)).toEqual(['ratings', 'ratings:50051', 'reviews', 'reviews:7000', 'details', 'details:7000', 'web', 'web:8080']);
    }
  });
});

describe('a server listener', () => {
  it('is a socket listener on exactly the bound address, with one filter chain: inline non-forwarding routes, RBAC, router', () => {
    const l = listener(MESH('strict', POLICIES), '[fd00::1]:50051');
    expect(l.name).toBe('grpc/server?xds.resource.listening_address=[fd00::1]:50051');
    expect(l.address.socket_address).toMatchObject({ address: 'fd00::1', port_value: 50051 });
    expect(l.api_listener).toBeUndefined();
    expect(readEnmeshMetadata(l.metadata)).toEqual({ service: 'ratings' });
    expect(l.filter_chains).toHaveLength(1);
    expect(l.filter_chains[0].filter_chain_match).toBeUndefined();
    const filters = l.filter_chains[0].filters;
    expect(filters.map((f: Obj) => [f.name, f.typed_config.type_url])).toEqual([['envoy.filters.network.http_connection_manager', HTTP_CONNECTION_MANAGER]]);
    const hcm = hcmOf(l);
    expect(hcm.rds).toBeUndefined();
    expect(hcm.route_config.virtual_hosts).toEqual([
      { name: 'inbound|ratings', domains: ['*'], routes: [{ match: { prefix: '/', path_specifier: 'prefix' }, non_forwarding_action: {}, action: 'non_forwarding_action' }] },
    ]);
    // Required (no is_optional), deny before allow, router last; no jwt_authn, no fault.
    expect(hcm.http_filters.map((f: Obj) => [f.name, f.typed_config.type_url, f.is_optional ?? false])).toEqual([
      ['envoy.filters.http.rbac.deny', RBAC_FILTER, false],
      ['envoy.filters.http.rbac.allow', RBAC_FILTER, false],
      ['envoy.filters.http.router', ROUTER_FILTER, false],
    ]);
  });

  it('is encoded from shared and per-address parts into exactly the bytes of the whole listener', () => {
    const listeners = translateModel(MESH('strict', POLICIES), GRPC_XDS_PROFILE).byType.get(LISTENER)!;
    for (const [name, r] of listeners) {
      const again = encodeMessage(LISTENER, decodeMessage(LISTENER, r.any.value));
      expect(Buffer.from(again).equals(Buffer.from(r.any.value)), name).toBe(true);
    }
  });

  it('carries the same RBAC filters as the service’s API listener', () => {
    const model = MESH('strict', POLICIES);
    const tr = translateModel(model, GRPC_XDS_PROFILE);
    const api = fromAny<Obj>(fromAny<Obj>(tr.byType.get(LISTENER)!.get('ratings')!.any).api_listener.api_listener as AnyMessage);
    const rbac = (hcm: Obj): Obj[] => hcm.http_filters.filter((f: Obj) => f.typed_config.type_url === RBAC_FILTER).map((f: Obj) => fromAny(f.typed_config));
    expect(rbac(hcmOf(listener(model, '10.0.0.1:50051')))).toEqual(rbac(api));
  });

  it('with mtls strict, requires a client certificate, from the bootstrap’s enmesh provider', () => {
    const socket = listener(MESH('strict'), '10.0.0.2:7000').filter_chains[0].transport_socket;
    expect(socket.name).toBe('envoy.transport_sockets.tls');
    expect(socket.typed_config.type_url).toBe(DOWNSTREAM_TLS_CONTEXT);
    expect(fromAny(socket.typed_config)).toEqual({
      common_tls_context: {
        tls_certificate_provider_instance: { instance_name: 'enmesh' },
        validation_context: { ca_certificate_provider_instance: { instance_name: 'enmesh' } },
        validation_context_type: 'validation_context',
      },
      require_client_certificate: { value: true },
    });
  });

  it('is plaintext in permissive and disabled (a gRPC port is TLS or not), and has no RBAC filter without policies', () => {
    for (const mtls of ['permissive', 'disabled']) {
      const l = listener(MESH(mtls), '0.0.0.0:7001');
      expect(l.filter_chains[0].transport_socket).toBeUndefined();
      expect(hcmOf(l).http_filters.map((f: Obj) => f.name)).toEqual(['envoy.filters.http.router']);
    }
  });

  it('reports what a gRPC server cannot enforce: JWTs', () => {
    const extra = `
policies:
  authentication:
    - { name: users, target: ratings, jwt: { issuer: https://issuer.example, jwksUri: https://issuer.example/jwks.json } }
  authorization:
    - { name: signed-in, target: ratings, from: [{ requestPrincipal: "*" }] }
    - { name: admins, target: ratings, from: [{ service: reviews }], when: [{ key: "request.auth.claims[groups]", values: [admin] }] }
    - { name: later, target: ratings, dryRun: true, from: [{ requestPrincipal: "*" }] }
`;
    const lines = translateModel(MESH('strict', extra), GRPC_XDS_PROFILE).degradations.filter((d) => d.startsWith('service ratings: on gRPC servers'));
    expect(lines).toEqual([
      'service ratings: on gRPC servers (XdsServer), authentication (JWT) policies are not checked; authorization policies signed-in, admins match on the JWT, which is never seen there',
    ]);
    expect(translateModel(MESH('strict', extra), ENMESH_PROFILE).degradations).toEqual([]);
  });
});

describe('grpc-js-xds (1.14.1) on the server listeners', () => {
  xdsRegistered();
  const LRT = require('@grpc/grpc-js-xds/build/src/xds-resource-type/listener-resource-type.js').ListenerResourceType.get();
  const validate = (model: MeshModel, certificateProviders: object): string[] => {
    const out: string[] = [];
    for (const [name, r] of translateModel(model, GRPC_XDS_PROFILE).byType.get(LISTENER)!) {
      const result = LRT.decode({ bootstrap: { certificateProviders }, server: {} }, { type_url: r.any.type_url, value: Buffer.from(r.any.value) });
      if (result.error !== undefined) out.push(`${name}: ${result.error}`);
    }
    return out;
  };

  it('accepts every listener, client and server, including RBAC with only dry-run policies', () => {
    expect(validate(MESH('strict', POLICIES), { enmesh: {} })).toEqual([]);
    expect(validate(MESH('permissive', POLICIES), {})).toEqual([]);
  });

  it('refuses the TLS ones when its bootstrap lacks the enmesh certificate provider (gRFC A29)', () => {
    expect(validate(MESH('strict'), {}).join('\n')).toMatch(/grpc\/server\?xds\.resource\.listening_address=10\.0\.0\.1:50051: .*Unmatched DownstreamTlsContext\.tls_certificate_provider_instance\.instance_name: enmesh/);
  });

  it('decides as enmesh’s own authorizer on a matrix of callers, methods and metadata', () => {
    const model = MESH('strict', POLICIES);
    const hf = require('@grpc/grpc-js-xds/build/src/http-filter.js');
    const authz = compileAuthorization(model.policies.authorization, { trustDomain: 'demo.local' });
    const peers = [undefined, 'spiffe://demo.local/service/reviews', 'spiffe://demo.local/service/batch', 'spiffe://demo.local/service/nightly-job', 'spiffe://other.domain/service/x'];
    let n = 0;
    for (const [target, address] of [['ratings', '10.0.0.1:50051'], ['details', '10.0.0.3:7001'], ['reviews', '10.0.0.2:7000']] as const) {
      // A call passes each RBAC filter of the chain in turn.
      const groups = hcmOf(listener(model, address))
        .http_filters.filter((f: Obj) => f.typed_config.type_url === RBAC_FILTER)
        .map((f: Obj) => hf.parseTopLevelFilterConfig({ type_url: f.typed_config.type_url, value: Buffer.from(f.typed_config.value) }, false).config);
      for (const spiffeId of peers) {
        for (const path of ['/ratings.Ratings/Get', '/ratings.Ratings/List', '/ratings.Ratings/Admin', '/other.Svc/Get']) {
          for (const headers of [{}, { 'x-write': '1' }, { 'x-region': 'eu-west' }, { 'x-region': 'eu-test' }] as Record<string, string>[]) {
            const md = new grpc.Metadata();
            for (const [k, v] of Object.entries(headers)) md.set(k, v);
            md.set(':method', 'POST');
            const info = {
              headers: md,
              urlPath: path,
              tls: spiffeId !== undefined,
              peerCertificate: spiffeId === undefined ? null : { subjectaltname: `URI:${spiffeId}`, subject: {} },
              sourceIp: '10.0.0.2',
              destinationIp: '10.0.0.1',
              destinationPort: 50051,
            };
            const grpcAllows = groups.every((g: { apply(i: unknown): boolean }) => g.apply(info));
            const peer = spiffeId === undefined ? {} : { peer: { spiffeId, service: spiffeId.split('/service/')[1] } };
            const req = { method: 'POST', path, headers, ...peer };
            expect(grpcAllows, JSON.stringify({ target, req })).toBe(authz.check(target, req).allowed);
            n++;
          }
        }
      }
    }
    expect(n).toBe(3 * 5 * 4 * 4);
  });
});

/** Registers grpc-js-xds's filters; RBAC among them needs the environment variable set above, before it loads. */
function xdsRegistered(): void {
  require('@grpc/grpc-js-xds').register();
  const env = require('@grpc/grpc-js-xds/build/src/environment.js') as { EXPERIMENTAL_RBAC: boolean };
  if (!env.EXPERIMENTAL_RBAC) throw new Error('grpc-js-xds was loaded before GRPC_XDS_EXPERIMENTAL_RBAC was set');
}
