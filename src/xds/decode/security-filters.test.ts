import { describe, expect, it } from 'vitest';
import { parseMeshYaml } from '../../config/load.ts';
import { compileAuthorization } from '../../security/authz.ts';
import { ENMESH_PROFILE, GRPC_XDS_PROFILE, translateModel, type TranslatedResources } from '../translate/index.ts';
import { JWT_AUTHN_FILTER, LISTENER, RBAC_FILTER, HTTP_CONNECTION_MANAGER } from '../type-urls.ts';
import { decodeMessage } from '../protos.ts';
import { assembleModel, decodeResource } from './index.ts';
import { decodeJwtAuthnFilter, decodeRbacFilter } from './security-filters.ts';

const YAML = `
mesh: { trustDomain: demo.local, mtls: strict }
services:
  ratings: { protocol: grpc, port: 50051 }
  productpage: { protocol: http, port: 9080 }
policies:
  authorization:
    - name: no-admin
      target: ratings
      action: deny
      to: [{ paths: [/ratings.Ratings/Admin, /admin/*] }]
    - name: no-batch-writes
      target: ratings
      action: deny
      from: [{ service: batch }, { service: "*-job" }]
      to: [{ methods: [POST, PUT], headers: { x-write: "*" } }]
    - name: lockdown-preview
      target: ratings
      action: deny
      dryRun: true
      from: [{ namespace: legacy }]
    - name: reviews-reads
      target: ratings
      from: [{ service: reviews }, { principal: spiffe://other.domain/service/* }]
      to: [{ methods: [GET], paths: [/ratings/*, "*.json"] }, { paths: [/ratings.Ratings/Get] }]
    - name: mesh-only-dry
      target: ratings
      dryRun: true
      from: [{ service: "*" }]
    - name: admins
      target: productpage
      from: [{ requestPrincipal: https://issuer.example/* }]
      to: [{ paths: [/admin/*] }]
      when:
        - { key: "request.auth.claims[groups]", values: [admin, "ops-*"] }
        - { key: "request.auth.claims[org][tier]", notValues: [free] }
        - { key: source.principal, values: ["*"] }
        # Conditions come back identity/JWT ones first, then header ones (they are ANDed: same meaning).
        - { key: "request.headers[x-region]", values: [eu-*], notValues: [eu-test] }
    - name: anyone-with-a-token
      target: productpage
      from: [{ requestPrincipal: "*" }]
  authentication:
    - name: frontend-users
      target: productpage
      jwt: { issuer: https://issuer.example, jwksUri: https://issuer.example/jwks.json, audiences: [productpage] }
    - name: inline
      target: productpage
      jwt: { issuer: https://inline.example, jwks: '{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1"}]}', audiences: [] }
`;

function decodeAll(tr: TranslatedResources) {
  const maps = { listeners: new Map<string, unknown>(), routeConfigs: new Map<string, unknown>(), clusters: new Map<string, unknown>(), assignments: new Map<string, unknown>() };
  const field: Record<string, keyof typeof maps> = {};
  for (const [typeUrl, resources] of tr.byType) {
    for (const [, r] of resources) {
      const d = decodeResource(typeUrl, r.any);
      const key = typeUrl.endsWith('Listener') ? 'listeners' : typeUrl.endsWith('RouteConfiguration') ? 'routeConfigs' : typeUrl.endsWith('Cluster') ? 'clusters' : 'assignments';
      field[typeUrl] = key;
      maps[key].set(d.name, d.value);
    }
  }
  return maps;
}

describe('authorization and authentication through xDS (RBAC, jwt_authn)', () => {
  const model = parseMeshYaml(YAML, 'mesh.yaml');

  it('decodes back to the same policies, for the SDK and grpc-xds profiles', () => {
    for (const profile of [ENMESH_PROFILE, GRPC_XDS_PROFILE]) {
      const back = assembleModel(decodeAll(translateModel(model, profile)));
      expect(back.policies).toStrictEqual(model.policies);
    }
  });

  it('writes standard filters: jwt_authn, then RBAC deny, then RBAC allow, all optional, before the router', () => {
    const listener = translateModel(model, GRPC_XDS_PROFILE).byType.get(LISTENER)!.get('productpage')!;
    const l = decodeMessage(LISTENER, listener.any.value) as { api_listener: { api_listener: { value: Uint8Array } } };
    const hcm = decodeMessage(HTTP_CONNECTION_MANAGER, l.api_listener.api_listener.value) as { http_filters: { name: string; is_optional?: boolean; typed_config: { type_url: string; value: Uint8Array } }[] };
    const names = hcm.http_filters.map((f) => f.name);
    expect(names[0]).toBe('envoy.filters.http.jwt_authn');
    expect(names[1]).toBe('envoy.filters.http.rbac.allow');
    expect(names.at(-1)).toBe('envoy.filters.http.router');
    expect(hcm.http_filters.slice(0, 2).every((f) => f.is_optional === true)).toBe(true);
    const rbac = decodeMessage(RBAC_FILTER, hcm.http_filters[1]!.typed_config.value) as { rules: { action: string; policies: Record<string, unknown> } };
    expect(rbac.rules.action).toBe('ALLOW');
    expect(Object.keys(rbac.rules.policies)).toEqual(['admins', 'anyone-with-a-token']);
    const jwt = decodeMessage(JWT_AUTHN_FILTER, hcm.http_filters[0]!.typed_config.value) as { providers: Record<string, { issuer: string; remote_jwks?: { http_uri: { uri: string } } }> };
    expect(jwt.providers['frontend-users']!.remote_jwks!.http_uri.uri).toBe('https://issuer.example/jwks.json');
  });

  it('the decoded policies decide as the originals on a request matrix', () => {
    const back = assembleModel(decodeAll(translateModel(model, ENMESH_PROFILE)));
    const a = compileAuthorization(model.policies.authorization, { trustDomain: 'demo.local' });
    const b = compileAuthorization(back.policies.authorization, { trustDomain: 'demo.local' });
    const peers = [undefined, 'reviews', 'batch', 'nightly-job', 'details'].map((s) => (s === undefined ? undefined : { spiffeId: `spiffe://demo.local/service/${s}`, service: s }));
    let n = 0;
    for (const target of ['ratings', 'productpage']) {
      for (const peer of peers) {
        for (const method of ['GET', 'POST']) {
          for (const path of ['/ratings/1', '/admin/x', '/ratings.Ratings/Get', '/x.json']) {
            for (const headers of [{}, { 'x-write': '1', 'x-region': 'eu-west' }]) {
              for (const auth of [undefined, { principal: 'https://issuer.example/u1', claims: { groups: ['admin'], org: { tier: 'gold' } } }]) {
                const req = { method, path, headers, ...(peer ? { peer } : {}), ...(auth ? { auth } : {}) };
                expect(b.check(target, req).allowed, JSON.stringify({ target, req })).toBe(a.check(target, req).allowed);
                n++;
              }
            }
          }
        }
      }
    }
    expect(n).toBe(320);
  });
});

describe('a service whose policies are all dry-run', () => {
  const model = parseMeshYaml(
    `
mesh: { trustDomain: demo.local }
services:
  ratings: { protocol: grpc, port: 50051 }
policies:
  authorization:
    - { name: preview-deny, target: ratings, action: deny, dryRun: true, from: [{ service: batch }] }
    - { name: preview-allow, target: ratings, dryRun: true, from: [{ service: reviews }] }
`,
    'mesh.yaml',
  );

  it('gets RBAC filters whose rules enforce nothing (gRPC refuses a filter without rules), and decodes back the same', () => {
    for (const profile of [ENMESH_PROFILE, GRPC_XDS_PROFILE]) {
      const tr = translateModel(model, profile);
      expect(assembleModel(decodeAll(tr)).policies).toStrictEqual(model.policies);
      const l = decodeMessage(LISTENER, tr.byType.get(LISTENER)!.get('ratings')!.any.value) as { api_listener: { api_listener: { value: Uint8Array } } };
      const hcm = decodeMessage(HTTP_CONNECTION_MANAGER, l.api_listener.api_listener.value) as { http_filters: { name: string; typed_config: { value: Uint8Array } }[] };
      for (const f of hcm.http_filters.filter((x) => x.name.startsWith('envoy.filters.http.rbac'))) {
        const rbac = decodeMessage(RBAC_FILTER, f.typed_config.value) as { rules: { action: string; policies?: object }; shadow_rules: { policies: object } };
        expect(rbac.rules, f.name).toEqual({ action: 'DENY' });
        expect(Object.keys(rbac.shadow_rules.policies)).toHaveLength(1);
      }
    }
  });
});

describe('damaged filter config', () => {
  const where = { kind: 'Listener', name: 'ratings' } as const;
  // A length-delimited field whose length runs past the end of the bytes.
  const damaged = new Uint8Array([0x0a, 0x7f, 0x01]);

  it('is refused as invalid xDS naming the resource and the field, for RBAC and jwt_authn', () => {
    for (const decode of [
      () => decodeRbacFilter(damaged, 'ratings', 'demo.local', where, 'http_filters[1].typed_config'),
      () => decodeJwtAuthnFilter(damaged, 'ratings', where, 'http_filters[0].typed_config'),
    ]) {
      let caught: unknown;
      try {
        decode();
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ code: 'ENMESH_ERR_XDS_INVALID' });
      expect(String((caught as Error).message)).toMatch(/Listener "ratings": http_filters\[\d\]\.typed_config: cannot decode/);
    }
  });
});
