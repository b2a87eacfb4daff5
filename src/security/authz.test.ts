import { describe, expect, it } from 'vitest';
import type { AuthorizationPolicyModel } from '../model/types.ts';
import { compileAuthorization } from './authz.ts';
import type { AuthzPolicy, AuthzRequest, DryRunEvent } from './authz.ts';

const TD = 'demo.local';
const id = (service: string, td = TD): { spiffeId: string; service: string } => ({ spiffeId: `spiffe://${td}/service/${service}`, service });

const policy = (p: Partial<AuthzPolicy> & Pick<AuthzPolicy, 'name' | 'target'>): AuthzPolicy => ({ action: 'allow', dryRun: false, from: [], to: [], ...p });

const POLICIES: AuthzPolicy[] = [
  policy({ name: 'reviews-reads-ratings', target: 'ratings', from: [{ service: 'reviews' }], to: [{ methods: ['GET'], paths: ['/ratings/*'] }] }),
  policy({ name: 'no-admin-even-for-reviews', target: 'ratings', action: 'deny', from: [{ principal: 'spiffe://demo.local/service/reviews' }], to: [{ methods: [], paths: ['/ratings/admin', '/ratings/admin/*'] }] }),
  policy({ name: 'no-batch-writes', target: 'reviews', action: 'deny', from: [{ service: 'batch' }], to: [{ methods: ['POST', 'PUT', 'DELETE'], paths: [] }] }),
  policy({ name: 'static-for-all', target: 'productpage', to: [{ methods: ['GET'], paths: ['*.png', '/static/*'] }] }),
  policy({
    name: 'admins-with-jwt',
    target: 'productpage',
    from: [{ requestPrincipal: 'https://issuer.example/*' }],
    to: [{ methods: [], paths: ['/admin/*'] }],
    when: [{ key: 'request.auth.claims[groups]', values: ['admin'] }, { key: 'request.auth.claims[org][tier]', notValues: ['free'] }],
  }),
  policy({ name: 'grpc-get', target: 'grpc-ratings', from: [{ service: 'reviews' }], to: [{ methods: [], paths: ['/ratings.Ratings/Get'] }] }),
  policy({ name: 'grpc-all', target: 'grpc-ratings', from: [{ service: 'admin-*' }], to: [{ methods: [], paths: ['/ratings.Ratings/*'] }] }),
  policy({ name: 'canary-header', target: 'canary', to: [{ methods: [], paths: [], headers: { 'X-Canary': 'true' } }] }),
  policy({ name: 'mesh-wide-prefix', target: 'tdcheck', from: [{ principal: 'spiffe://demo.local/service/*' }] }),
  policy({ name: 'any-mesh-service', target: 'orders', from: [{ service: '*' }] }),
  policy({ name: 'except-internal', target: 'orders', action: 'deny', to: [{ methods: [], paths: ['/orders/internal/*'] }] }),
  policy({ name: 'shadow-deny-legacy', target: 'details', action: 'deny', dryRun: true, from: [{ service: 'legacy' }] }),
  policy({ name: 'inventory-reviews', target: 'inventory', from: [{ service: 'reviews' }] }),
  policy({ name: 'shadow-allow-ratings', target: 'inventory', dryRun: true, from: [{ service: 'ratings' }] }),
  policy({ name: 'shadow-lockdown', target: 'catalog', dryRun: true, from: [{ service: 'frontend' }] }),
];

const req = (r: Partial<AuthzRequest> & Pick<AuthzRequest, 'path'>): AuthzRequest => ({ method: 'GET', ...r });

describe('authorization', () => {
  const events: DryRunEvent[] = [];
  const authz = compileAuthorization(POLICIES, { trustDomain: TD, onDryRun: (e) => events.push(e) });

  it.each<[string, string, AuthzRequest, boolean, string | undefined]>([
    // allow-list: only what an ALLOW matches
    ['ratings', 'reviews GET a rating', req({ path: '/ratings/1', peer: id('reviews') }), true, 'reviews-reads-ratings'],
    ['ratings', 'reviews POST', req({ method: 'POST', path: '/ratings/1', peer: id('reviews') }), false, undefined],
    ['ratings', 'another service', req({ path: '/ratings/1', peer: id('details') }), false, undefined],
    ['ratings', 'plaintext (no peer)', req({ path: '/ratings/1' }), false, undefined],
    ['ratings', 'reviews of another trust domain', req({ path: '/ratings/1', peer: id('reviews', 'other.local') }), false, undefined],
    ['ratings', 'path outside the prefix', req({ path: '/ratingsX/1', peer: id('reviews') }), false, undefined],
    // deny wins over allow
    ['ratings', 'reviews on the denied admin path', req({ path: '/ratings/admin/x', peer: id('reviews') }), false, 'no-admin-even-for-reviews'],
    ['ratings', 'reviews on the denied admin root', req({ path: '/ratings/admin', peer: id('reviews') }), false, 'no-admin-even-for-reviews'],
    // only DENY policies: the rest is allowed
    ['reviews', 'batch reads', req({ path: '/r', peer: id('batch') }), true, undefined],
    ['reviews', 'batch writes', req({ method: 'DELETE', path: '/r', peer: id('batch') }), false, 'no-batch-writes'],
    ['reviews', 'others write', req({ method: 'DELETE', path: '/r', peer: id('productpage') }), true, undefined],
    ['nobody', 'a target without policies', req({ path: '/' }), true, undefined],
    // suffix and prefix paths, JWT principals and claims
    ['productpage', 'anonymous png', req({ path: '/img/logo.png' }), true, 'static-for-all'],
    ['productpage', 'anonymous .png.exe', req({ path: '/img/logo.png.exe' }), false, undefined],
    ['productpage', 'anonymous admin', req({ path: '/admin/x' }), false, undefined],
    ['productpage', 'admin by JWT claims', req({ path: '/admin/x', auth: { principal: 'https://issuer.example/alice', claims: { groups: ['dev', 'admin'], org: { tier: 'pro' } } } }), true, 'admins-with-jwt'],
    ['productpage', 'JWT without the group', req({ path: '/admin/x', auth: { principal: 'https://issuer.example/bob', claims: { groups: ['dev'] } } }), false, undefined],
    ['productpage', 'JWT of a free tier', req({ path: '/admin/x', auth: { principal: 'https://issuer.example/carol', claims: { groups: 'admin', org: { tier: 'free' } } } }), false, undefined],
    ['productpage', 'JWT of another issuer', req({ path: '/admin/x', auth: { principal: 'https://evil.example/alice', claims: { groups: ['admin'] } } }), false, undefined],
    // gRPC method paths
    ['grpc-ratings', 'reviews calls Get', req({ method: 'POST', path: '/ratings.Ratings/Get', peer: id('reviews') }), true, 'grpc-get'],
    ['grpc-ratings', 'reviews calls Delete', req({ method: 'POST', path: '/ratings.Ratings/Delete', peer: id('reviews') }), false, undefined],
    ['grpc-ratings', 'admin-tool calls Delete', req({ method: 'POST', path: '/ratings.Ratings/Delete', peer: id('admin-tool') }), true, 'grpc-all'],
    ['grpc-ratings', 'admin-tool calls another service', req({ method: 'POST', path: '/ratingsXRatings/Delete', peer: id('admin-tool') }), false, undefined],
    // headers
    ['canary', 'with the header', req({ path: '/', headers: { 'x-canary': 'true' } }), true, 'canary-header'],
    ['canary', 'with the header twice', req({ path: '/', headers: { 'x-canary': ['false', 'true'] } }), true, 'canary-header'],
    ['canary', 'without it', req({ path: '/', headers: { 'x-canary': 'false' } }), false, undefined],
    // a literal dot is a dot
    ['tdcheck', 'same trust domain', req({ path: '/', peer: id('a') }), true, 'mesh-wide-prefix'],
    ['tdcheck', 'trust domain with x where the dot was', req({ path: '/', peer: { spiffeId: 'spiffe://demoxlocal/service/a' } }), false, undefined],
    ['tdcheck', 'trust domain that only starts the same', req({ path: '/', peer: { spiffeId: 'spiffe://demo.local.evil/service/a' } }), false, undefined],
    // allow with exceptions
    ['orders', 'any mesh service', req({ path: '/orders/1', peer: id('frontend') }), true, 'any-mesh-service'],
    ['orders', 'the exception', req({ path: '/orders/internal/x', peer: id('frontend') }), false, 'except-internal'],
    ['orders', 'plaintext', req({ path: '/orders/1' }), false, undefined],
    ['orders', 'a foreign SVID', req({ path: '/orders/1', peer: { spiffeId: 'spiffe://other.local/service/frontend' } }), false, undefined],
  ])('%s: %s', (target, _what, request, allowed, policyName) => {
    const d = authz.check(target, request);
    expect(d.allowed).toBe(allowed);
    expect(d.policy).toBe(policyName);
  });

  it('only counts and reports dry-run policies, never enforces them', () => {
    events.length = 0;
    const before = authz.dryRunDenials.get('shadow-deny-legacy') ?? 0;
    expect(authz.check('details', req({ path: '/', peer: id('legacy') })).allowed).toBe(true);
    expect(authz.check('details', req({ path: '/', peer: id('other') })).allowed).toBe(true);
    expect(authz.dryRunDenials.get('shadow-deny-legacy')).toBe(before + 1);
    // A dry-run ALLOW on a target without enforced ALLOWs would deny everyone else.
    expect(authz.check('catalog', req({ path: '/', peer: id('mobile') })).allowed).toBe(true);
    expect(authz.dryRunDenials.get('(no allow policy matched)')).toBe(1);
    expect(authz.check('catalog', req({ path: '/', peer: id('frontend') })).allowed).toBe(true);
    // A dry-run ALLOW beside an enforced one: would allow what is denied today (reported, not counted as a denial).
    expect(authz.check('inventory', req({ path: '/', peer: id('ratings') })).allowed).toBe(false);
    expect(events.map((e) => [e.target, e.decision.allowed, e.wouldBe.allowed, e.wouldBe.policy])).toEqual([
      ['details', true, false, 'shadow-deny-legacy'],
      ['catalog', true, false, undefined],
      ['inventory', false, true, 'shadow-allow-ratings'],
    ]);
  });

  it('accepts the config model as is (the fields it lacks are optional)', () => {
    const model: AuthorizationPolicyModel[] = [{ name: 'm', target: 't', action: 'allow', dryRun: false, from: [{ service: 'a' }], to: [{ methods: ['GET'], paths: ['/x'] }] }];
    const a = compileAuthorization(model, { trustDomain: TD });
    expect(a.check('t', req({ path: '/x', peer: id('a') })).allowed).toBe(true);
    expect(a.check('t', req({ path: '/x', peer: id('b') })).allowed).toBe(false);
  });

  it('refuses patterns it would have to guess at, and warns about namespaces', () => {
    expect(() => compileAuthorization([policy({ name: 'p', target: 't', to: [{ methods: [], paths: ['/a/*/b'] }] })], { trustDomain: TD })).toThrow(/pattern "\/a\/\*\/b" is not supported/);
    expect(() => compileAuthorization([policy({ name: 'p', target: 't', from: [{ principal: '*spiffe*' }] })], { trustDomain: TD })).toThrow(/not supported/);
    expect(() => compileAuthorization([policy({ name: 'p', target: 't', when: [{ key: 'request.time', values: ['x'] }] })], { trustDomain: TD })).toThrow(/unknown key/);
    const a = compileAuthorization([policy({ name: 'p', target: 't', action: 'deny', from: [{ namespace: 'jobs' }] })], { trustDomain: TD });
    expect(a.warnings.join()).toMatch(/namespace "jobs" never matches/);
  });

  it('reports the per-request check cost (micro-benchmark)', () => {
    const requests = [
      ['ratings', req({ path: '/ratings/42', peer: id('reviews') })],
      ['ratings', req({ path: '/ratings/admin/x', peer: id('reviews') })],
      ['productpage', req({ path: '/admin/x', auth: { principal: 'https://issuer.example/alice', claims: { groups: ['admin'], org: { tier: 'pro' } } } })],
      ['orders', req({ path: '/orders/1', peer: id('frontend') })],
      ['nobody', req({ path: '/' })],
    ] as const;
    const a = compileAuthorization(POLICIES, { trustDomain: TD });
    const n = 200_000;
    for (let i = 0; i < 20_000; i++) a.check(requests[i % 5]![0], requests[i % 5]![1]);
    const start = process.hrtime.bigint();
    let allowed = 0;
    for (let i = 0; i < n; i++) if (a.check(requests[i % 5]![0], requests[i % 5]![1]).allowed) allowed++;
    const nsPerCheck = Number(process.hrtime.bigint() - start) / n;
    console.log(`authz check: ${nsPerCheck.toFixed(0)} ns per request (${n} checks over ${requests.length} shapes)`);
    expect(allowed).toBe((n / 5) * 4);
    // Loose bound for a shared CI machine; typical is a few hundred ns.
    expect(nsPerCheck).toBeLessThan(10_000);
  });
});
