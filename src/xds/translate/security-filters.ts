/**
 * Authorization and authentication policies → standard HTTP filters on the
 * target service's listener, as Istio writes them:
 *
 * - `envoy.filters.http.jwt_authn` (JwtAuthentication): one provider per
 *   authentication policy; a request with no token passes (anonymous), a
 *   bad one is refused.
 * - `envoy.filters.http.rbac` twice: the DENY policies first, then the
 *   ALLOW ones (deny wins; with any ALLOW policy everything else is denied).
 *   Dry-run policies go to `shadow_rules` only (gRPC evaluates none).
 *
 * Every filter is `is_optional` on the API listeners: a gRPC client
 * (grpc-js-xds) applies RBAC on servers only and does not know jwt_authn, and
 * must not NACK the listener for them. enmesh's own SDK reads them back
 * (decode/security-filters.ts), so control-plane mode enforces the same
 * policies as file mode. A gRPC server's own listener (server-listener.ts)
 * gets the RBAC filters required, and no jwt_authn, which gRPC servers do not
 * implement.
 *
 * Encoding (what the decoder relies on):
 * - a source: `service` → principal_name on `spiffe://<td>/service/<name>`
 *   (exact, or prefix; `*suffix` → and_ids[prefix, suffix]); `principal` →
 *   principal_name (`*` → authenticated with no name); `namespace` → a
 *   regex on `/ns/<n>/` as Istio writes it (never matches an enmesh
 *   identity, as in the engine); `requestPrincipal` → metadata `istio_authn`
 *   `request.auth.principal`;
 * - an operation: and_rules of [or_rules(:method), or_rules(url_path),
 *   header...]; none → any;
 * - `when` conditions are and_ids / and_rules sets appended after the
 *   from/to part: principals = [and_ids[or_ids(from) | any, cond...]];
 *   header conditions likewise in permissions.
 */
import type { AuthenticationPolicyModel, AuthorizationCondition, AuthorizationOperation, AuthorizationPolicyModel, AuthorizationSource } from '../../model/types.ts';
import { toAny, type AnyMessage } from '../protos.ts';
import { JWT_AUTHN_FILTER, RBAC_FILTER } from '../type-urls.ts';
import type { HttpFilterContext, HttpFilterSpec } from './http-filters.ts';
import type { Message } from './types.ts';

export const JWT_FILTER_NAME = 'envoy.filters.http.jwt_authn';
export const RBAC_DENY_FILTER_NAME = 'envoy.filters.http.rbac.deny';
export const RBAC_ALLOW_FILTER_NAME = 'envoy.filters.http.rbac.allow';
/** Dynamic metadata namespace of the verified JWT, as Istio names it. */
export const AUTHN_METADATA = 'istio_authn';
export const REQUEST_PRINCIPAL_KEY = 'request.auth.principal';
export const CLAIMS_KEY = 'request.auth.claims';

type Id = Message;
type Perm = Message;

/** `exact`, `prefix*`, `*suffix` (the engine's patterns; `*` is handled by the caller). */
export function stringMatcher(pattern: string): Message {
  if (pattern.length > 1 && pattern.endsWith('*') && !pattern.startsWith('*')) return { prefix: pattern.slice(0, -1) };
  if (pattern.length > 1 && pattern.startsWith('*') && !pattern.endsWith('*')) return { suffix: pattern.slice(1) };
  return { exact: pattern };
}

function principalName(pattern: string): Id {
  return pattern === '*' ? { authenticated: {} } : { authenticated: { principal_name: stringMatcher(pattern) } };
}

function metadataId(path: readonly string[], value: Message): Id {
  return { metadata: { filter: AUTHN_METADATA, path: path.map((key) => ({ key })), value } };
}

function metadataValue(pattern: string, list: boolean): Message {
  const one = pattern === '*' ? { present_match: true } : { string_match: stringMatcher(pattern) };
  return list ? { list_match: { one_of: one } } : one;
}

export function sourceId(s: AuthorizationSource, trustDomain: string): Id {
  const prefix = `spiffe://${trustDomain}/service/`;
  if (s.service !== undefined) {
    const p = s.service;
    if (p === '*') return { authenticated: { principal_name: { prefix } } };
    if (p.length > 1 && p.startsWith('*') && !p.endsWith('*')) {
      return { and_ids: { ids: [{ authenticated: { principal_name: { prefix } } }, { authenticated: { principal_name: { suffix: p.slice(1) } } }] } };
    }
    return principalName(prefix + p);
  }
  if (s.principal !== undefined) return principalName(s.principal);
  if (s.requestPrincipal !== undefined) return metadataId([REQUEST_PRINCIPAL_KEY], metadataValue(s.requestPrincipal, false));
  return { authenticated: { principal_name: { safe_regex: { regex: `.*/ns/${escapeRegex(s.namespace ?? '')}/.*` } } } };
}

function headerMatcher(name: string, pattern: string): Perm {
  return { header: pattern === '*' ? { name, present_match: true } : { name, string_match: stringMatcher(pattern) } };
}

export function operationPermission(o: AuthorizationOperation): Perm {
  const rules: Perm[] = [];
  if (o.methods.length > 0) rules.push({ or_rules: { rules: o.methods.map((m) => headerMatcher(':method', m)) } });
  if (o.paths.length > 0) {
    rules.push({ or_rules: { rules: o.paths.map((p) => (p === '*' ? { any: true } : { url_path: { path: stringMatcher(p) } })) } });
  }
  for (const [name, pattern] of Object.entries(o.headers ?? {})) rules.push(headerMatcher(name, pattern));
  return rules.length === 0 ? { any: true } : { and_rules: { rules } };
}

const CLAIM_KEY = /^request\.auth\.claims((?:\[[^\][]+\])+)$/;
const HEADER_KEY = /^request\.headers\[([^\][]+)\]$/;

/** A principal-side condition (identity, JWT), or undefined for a header condition. */
function conditionId(c: AuthorizationCondition): Id | undefined {
  let matcher: (pattern: string) => Id;
  const claim = CLAIM_KEY.exec(c.key);
  if (claim !== null) {
    const path = [CLAIMS_KEY, ...claim[1]!.slice(1, -1).split('][')];
    matcher = (p) => metadataId(path, metadataValue(p, true));
  } else if (c.key === REQUEST_PRINCIPAL_KEY) {
    matcher = (p) => metadataId([REQUEST_PRINCIPAL_KEY], metadataValue(p, false));
  } else if (c.key === 'source.principal') {
    matcher = principalName;
  } else return undefined;
  const ids: Id[] = [c.values !== undefined && c.values.length > 0 ? { or_ids: { ids: c.values.map(matcher) } } : matcher('*')];
  if (c.notValues !== undefined && c.notValues.length > 0) ids.push({ not_id: { or_ids: { ids: c.notValues.map(matcher) } } });
  return { and_ids: { ids } };
}

function conditionPermission(c: AuthorizationCondition): Perm | undefined {
  const header = HEADER_KEY.exec(c.key);
  if (header === null) return undefined;
  const name = header[1]!.toLowerCase();
  const rules: Perm[] = [c.values !== undefined && c.values.length > 0 ? { or_rules: { rules: c.values.map((v) => headerMatcher(name, v)) } } : headerMatcher(name, '*')];
  if (c.notValues !== undefined && c.notValues.length > 0) rules.push({ not_rule: { or_rules: { rules: c.notValues.map((v) => headerMatcher(name, v)) } } });
  return { and_rules: { rules } };
}

/** One RBAC Policy (permissions × principals) for an authorization policy. */
export function rbacPolicy(p: AuthorizationPolicyModel, trustDomain: string): Message {
  const from = p.from.map((s) => sourceId(s, trustDomain));
  const to = p.to.map(operationPermission);
  const idConds: Id[] = [];
  const permConds: Perm[] = [];
  for (const c of p.when ?? []) {
    const id = conditionId(c);
    if (id !== undefined) idConds.push(id);
    else {
      const perm = conditionPermission(c);
      if (perm !== undefined) permConds.push(perm);
    }
  }
  const principals = idConds.length === 0 ? (from.length === 0 ? [{ any: true }] : from) : [{ and_ids: { ids: [from.length === 0 ? { any: true } : { or_ids: { ids: from } }, ...idConds] } }];
  const permissions = permConds.length === 0 ? (to.length === 0 ? [{ any: true }] : to) : [{ and_rules: { rules: [to.length === 0 ? { any: true } : { or_rules: { rules: to } }, ...permConds] } }];
  return { permissions, principals };
}

function rbacFilter(policies: readonly AuthorizationPolicyModel[], action: 'ALLOW' | 'DENY', trustDomain: string): AnyMessage | undefined {
  const mine = policies.filter((p) => (p.action === 'deny' ? 'DENY' : 'ALLOW') === action);
  if (mine.length === 0) return undefined;
  const enforced = mine.filter((p) => !p.dryRun);
  const dry = mine.filter((p) => p.dryRun);
  const rules = (list: readonly AuthorizationPolicyModel[]): Message => ({ action, policies: Object.fromEntries(list.map((p) => [p.name, rbacPolicy(p, trustDomain)])) });
  // Only dry-run policies: `rules` that enforce nothing. An empty DENY set denies nothing (an empty ALLOW
  // set would deny everything), and gRPC refuses an RBAC filter without `rules`, NACKing the listener.
  return toAny(RBAC_FILTER, { rules: enforced.length > 0 ? rules(enforced) : { action: 'DENY' }, ...(dry.length > 0 ? { shadow_rules: rules(dry), shadow_rules_stat_prefix: 'dry_run_' } : {}) });
}

function targetPolicies(ctx: HttpFilterContext): readonly AuthorizationPolicyModel[] {
  return ctx.model.policies.authorization.filter((p) => p.target === ctx.service.name);
}

export const rbacDenyFilter: HttpFilterSpec = {
  name: RBAC_DENY_FILTER_NAME,
  optional: true,
  config: (ctx) => rbacFilter(targetPolicies(ctx), 'DENY', ctx.model.mesh.trustDomain),
};

export const rbacAllowFilter: HttpFilterSpec = {
  name: RBAC_ALLOW_FILTER_NAME,
  optional: true,
  config: (ctx) => rbacFilter(targetPolicies(ctx), 'ALLOW', ctx.model.mesh.trustDomain),
};

/**
 * The same RBAC filters on a gRPC server's own listener (server-listener.ts),
 * where gRPC enforces them. Required there, not optional: a server that
 * cannot apply RBAC (grpc-js-xds without `GRPC_XDS_EXPERIMENTAL_RBAC=true`)
 * must refuse the listener and keep not serving, rather than serve unchecked.
 */
export const serverRbacDenyFilter: HttpFilterSpec = { ...rbacDenyFilter, optional: false };
export const serverRbacAllowFilter: HttpFilterSpec = { ...rbacAllowFilter, optional: false };

/** A JwtProvider for an authentication policy. */
export function jwtProvider(p: AuthenticationPolicyModel): Message {
  const jwt = p.jwt;
  const keys =
    jwt.jwksUri !== undefined
      ? {
          remote_jwks: {
            http_uri: { uri: jwt.jwksUri, cluster: `outbound|jwks|${new URL(jwt.jwksUri).host}`, timeout: { seconds: 3 } },
            cache_duration: { seconds: 300 },
          },
        }
      : { local_jwks: { inline_string: JSON.stringify(jwt.jwks) } };
  return {
    issuer: jwt.issuer,
    audiences: [...jwt.audiences],
    ...keys,
    forward: true,
    payload_in_metadata: jwt.issuer,
  };
}

export const jwtAuthnFilter: HttpFilterSpec = {
  name: JWT_FILTER_NAME,
  optional: true,
  config: (ctx) => {
    const policies = ctx.model.policies.authentication.filter((p) => p.target === ctx.service.name);
    if (policies.length === 0) return undefined;
    const names = policies.map((p) => p.name);
    return toAny(JWT_AUTHN_FILTER, {
      providers: Object.fromEntries(policies.map((p) => [p.name, jwtProvider(p)])),
      // Any provider's valid token, or none (anonymous, as Istio's RequestAuthentication); a bad token is refused.
      rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [...names.map((provider_name) => ({ provider_name })), { allow_missing: {} }] } } }],
    });
  },
};

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}
