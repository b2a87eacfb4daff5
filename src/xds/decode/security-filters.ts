/**
 * RBAC and jwt_authn filters of a service's listener → the authorization and
 * authentication policies of the config model, so control-plane mode
 * enforces what file mode does. Reads the shapes translate/security-filters.ts
 * writes (the standard fields, in Istio's layout); anything else is refused
 * with the field named, never skipped: a policy read wrong is a hole.
 */
import type { AuthenticationPolicyModel, AuthorizationCondition, AuthorizationOperation, AuthorizationPolicyModel, AuthorizationSource } from '../../model/types.ts';
import { decodeMessage } from '../protos.ts';
import { JWT_AUTHN_FILTER, RBAC_FILTER } from '../type-urls.ts';
import { AUTHN_METADATA, CLAIMS_KEY, REQUEST_PRINCIPAL_KEY } from '../translate/security-filters.ts';
import { invalid, type Obj, type Where } from './fields.ts';

/** A StringMatcher / ValueMatcher as the engine's pattern (`exact`, `prefix*`, `*suffix`, `*`). */
function glob(m: Obj | undefined, where: Where, path: string): string {
  if (m === undefined) invalid(where, path, 'missing matcher');
  if (m.present_match === true) return '*';
  const s = (m.string_match ?? m) as Obj;
  if (typeof s.exact === 'string') return s.exact;
  if (typeof s.prefix === 'string') return `${s.prefix}*`;
  if (typeof s.suffix === 'string') return `*${s.suffix}`;
  invalid(where, path, 'unsupported matcher (enmesh policies use exact, prefix, suffix or present)');
}

function source(id: Obj, trustDomain: string, where: Where, path: string): AuthorizationSource {
  const prefix = `spiffe://${trustDomain}/service/`;
  if (id.authenticated !== undefined) {
    const pn = id.authenticated.principal_name as Obj | undefined;
    if (pn === undefined) return { principal: '*' };
    if (typeof pn.exact === 'string' && pn.exact.startsWith(prefix) && /^[^/]+$/.test(pn.exact.slice(prefix.length))) return { service: pn.exact.slice(prefix.length) };
    if (pn.prefix === prefix) return { service: '*' };
    const regex = pn.safe_regex?.regex as string | undefined;
    if (regex !== undefined) {
      const ns = /^\.\*\/ns\/(.+)\/\.\*$/.exec(regex);
      if (ns === null) invalid(where, `${path}.authenticated.principal_name.safe_regex`, 'unsupported regex (only the namespace form .*/ns/<name>/.*)');
      return { namespace: ns[1]!.replace(/\\(.)/g, '$1') };
    }
    return { principal: glob(pn, where, `${path}.authenticated.principal_name`) };
  }
  const ids = id.and_ids?.ids as Obj[] | undefined;
  if (ids?.length === 2 && ids[0]!.authenticated?.principal_name?.prefix === prefix && typeof ids[1]!.authenticated?.principal_name?.suffix === 'string') {
    return { service: `*${ids[1]!.authenticated.principal_name.suffix as string}` };
  }
  if (id.metadata !== undefined && metadataPath(id.metadata, where, `${path}.metadata`).join('/') === REQUEST_PRINCIPAL_KEY) {
    return { requestPrincipal: glob(id.metadata.value, where, `${path}.metadata.value`) };
  }
  invalid(where, path, 'unsupported principal (enmesh reads service/principal names, namespaces and request principals)');
}

function metadataPath(m: Obj, where: Where, path: string): string[] {
  if (m.filter !== AUTHN_METADATA) invalid(where, `${path}.filter`, `unsupported metadata namespace ${String(m.filter)} (expected ${AUTHN_METADATA})`);
  return ((m.path ?? []) as Obj[]).map((p) => String(p.key));
}

function operation(perm: Obj, where: Where, path: string): AuthorizationOperation {
  if (perm.any === true) return { methods: [], paths: [] };
  const rules = perm.and_rules?.rules as Obj[] | undefined;
  if (rules === undefined) invalid(where, path, 'unsupported permission (expected any or and_rules)');
  const methods: string[] = [];
  const paths: string[] = [];
  const headers: Record<string, string> = {};
  rules.forEach((r, i) => {
    const at = `${path}.and_rules.rules[${i}]`;
    const alts = r.or_rules?.rules as Obj[] | undefined;
    if (alts !== undefined && alts.every((a) => a.header?.name === ':method')) {
      alts.forEach((a, j) => methods.push(glob(a.header, where, `${at}.or_rules.rules[${j}].header`)));
    } else if (alts !== undefined && alts.every((a) => a.url_path !== undefined || a.any === true)) {
      alts.forEach((a, j) => paths.push(a.any === true ? '*' : glob(a.url_path.path, where, `${at}.or_rules.rules[${j}].url_path.path`)));
    } else if (r.header !== undefined) {
      headers[String(r.header.name)] = glob(r.header, where, `${at}.header`);
    } else invalid(where, at, 'unsupported permission rule (methods, paths or a header)');
  });
  return { methods, paths, ...(Object.keys(headers).length > 0 ? { headers } : {}) };
}

/** A principal-side condition: and_ids[values or present, not_id(or_ids(notValues))?]. */
function idCondition(c: Obj, where: Where, path: string): AuthorizationCondition {
  const ids = c.and_ids.ids as Obj[];
  let key: string | undefined;
  const valueOf = (id: Obj, at: string): string => {
    let k: string;
    let v: string;
    if (id.authenticated !== undefined) {
      k = 'source.principal';
      v = id.authenticated.principal_name === undefined ? '*' : glob(id.authenticated.principal_name, where, `${at}.authenticated.principal_name`);
    } else if (id.metadata !== undefined) {
      const p = metadataPath(id.metadata, where, `${at}.metadata`);
      const value = id.metadata.value as Obj | undefined;
      if (p[0] === CLAIMS_KEY && p.length > 1) {
        k = `${CLAIMS_KEY}${p.slice(1).map((s) => `[${s}]`).join('')}`;
        v = glob(value?.list_match?.one_of ?? value, where, `${at}.metadata.value`);
      } else if (p.join('/') === REQUEST_PRINCIPAL_KEY) {
        k = REQUEST_PRINCIPAL_KEY;
        v = glob(value, where, `${at}.metadata.value`);
      } else invalid(where, `${at}.metadata.path`, 'unsupported key');
    } else invalid(where, at, 'unsupported condition');
    if (key !== undefined && key !== k) invalid(where, at, 'a condition must test one attribute');
    key = k;
    return v;
  };
  let values: string[] | undefined;
  let notValues: string[] | undefined;
  ids.forEach((id, i) => {
    const at = `${path}.and_ids.ids[${i}]`;
    if (id.not_id !== undefined) notValues = ((id.not_id.or_ids?.ids ?? []) as Obj[]).map((x, j) => valueOf(x, `${at}.not_id.or_ids.ids[${j}]`));
    else if (id.or_ids !== undefined) values = (id.or_ids.ids as Obj[]).map((x, j) => valueOf(x, `${at}.or_ids.ids[${j}]`));
    else valueOf(id, at); // presence only
  });
  return { key: key!, ...(values !== undefined ? { values } : {}), ...(notValues !== undefined ? { notValues } : {}) };
}

/** A header condition: and_rules[or_rules(headers) or present, not_rule(or_rules)?]. */
function permCondition(c: Obj, where: Where, path: string): AuthorizationCondition {
  const rules = c.and_rules.rules as Obj[];
  let name: string | undefined;
  const valueOf = (r: Obj, at: string): string => {
    if (r.header === undefined) invalid(where, at, 'unsupported condition (a header)');
    if (name !== undefined && name !== r.header.name) invalid(where, at, 'a condition must test one header');
    name = String(r.header.name);
    return glob(r.header, where, `${at}.header`);
  };
  let values: string[] | undefined;
  let notValues: string[] | undefined;
  rules.forEach((r, i) => {
    const at = `${path}.and_rules.rules[${i}]`;
    if (r.not_rule !== undefined) notValues = ((r.not_rule.or_rules?.rules ?? []) as Obj[]).map((x, j) => valueOf(x, `${at}.not_rule.or_rules.rules[${j}]`));
    else if (r.or_rules !== undefined) values = (r.or_rules.rules as Obj[]).map((x, j) => valueOf(x, `${at}.or_rules.rules[${j}]`));
    else valueOf(r, at);
  });
  return { key: `request.headers[${name ?? ''}]`, ...(values !== undefined ? { values } : {}), ...(notValues !== undefined ? { notValues } : {}) };
}

/** `[and(or(parts) | any, cond...)]` when conditions were appended; else the parts themselves. */
function split(list: Obj[], set: 'and_ids' | 'and_rules', or: 'or_ids' | 'or_rules', item: 'ids' | 'rules'): { parts: Obj[]; conds: Obj[] } {
  const only = list.length === 1 ? list[0]! : undefined;
  const members = only?.[set]?.[item] as Obj[] | undefined;
  if (members !== undefined && members.length >= 2 && (members[0]![or] !== undefined || members[0]!.any === true) && members.slice(1).every((m) => m[set] !== undefined)) {
    return { parts: members[0]!.any === true ? [] : (members[0]![or][item] as Obj[]), conds: members.slice(1) };
  }
  if (list.length === 1 && only!.any === true) return { parts: [], conds: [] };
  return { parts: list, conds: [] };
}

function policies(rules: Obj | undefined, service: string, trustDomain: string, dryRun: boolean, where: Where, path: string): AuthorizationPolicyModel[] {
  if (rules === undefined) return [];
  const action = rules.action === 'DENY' ? 'deny' : rules.action === 'ALLOW' || rules.action === undefined ? 'allow' : invalid(where, `${path}.action`, `unsupported value ${String(rules.action)}`);
  return Object.entries((rules.policies ?? {}) as Record<string, Obj>).map(([name, p]) => {
    const at = `${path}.policies.${name}`;
    const principals = split((p.principals ?? []) as Obj[], 'and_ids', 'or_ids', 'ids');
    const permissions = split((p.permissions ?? []) as Obj[], 'and_rules', 'or_rules', 'rules');
    const when = [
      ...principals.conds.map((c, i) => idCondition(c, where, `${at}.principals[0].and_ids.ids[${i + 1}]`)),
      ...permissions.conds.map((c, i) => permCondition(c, where, `${at}.permissions[0].and_rules.rules[${i + 1}]`)),
    ];
    return {
      name,
      target: service,
      action,
      dryRun,
      from: principals.parts.map((id, i) => source(id, trustDomain, where, `${at}.principals[${i}]`)),
      to: permissions.parts.map((perm, i) => operation(perm, where, `${at}.permissions[${i}]`)),
      ...(when.length > 0 ? { when } : {}),
    };
  });
}

/** The authorization policies of one RBAC filter (its enforced rules, and its shadow rules as dry-run). */
export function decodeRbacFilter(bytes: Uint8Array, service: string, trustDomain: string, where: Where, path: string): AuthorizationPolicyModel[] {
  let rbac: Obj;
  try {
    rbac = decodeMessage(RBAC_FILTER, bytes);
  } catch (err) {
    invalid(where, path, `cannot decode RBAC: ${(err as Error).message}`);
  }
  return [...policies(rbac.rules, service, trustDomain, false, where, `${path}.rules`), ...policies(rbac.shadow_rules, service, trustDomain, true, where, `${path}.shadow_rules`)];
}

/** The authentication policies of a jwt_authn filter: one per provider. */
export function decodeJwtAuthnFilter(bytes: Uint8Array, service: string, where: Where, path: string): AuthenticationPolicyModel[] {
  let config: Obj;
  try {
    config = decodeMessage(JWT_AUTHN_FILTER, bytes);
  } catch (err) {
    invalid(where, path, `cannot decode JwtAuthentication: ${(err as Error).message}`);
  }
  return Object.entries((config.providers ?? {}) as Record<string, Obj>).map(([name, p]) => {
    const at = `${path}.providers.${name}`;
    const uri = p.remote_jwks?.http_uri?.uri as string | undefined;
    const inline = p.local_jwks?.inline_string as string | undefined;
    let jwks: unknown;
    if (uri === undefined) {
      if (inline === undefined) invalid(where, at, 'needs remote_jwks.http_uri.uri or local_jwks.inline_string');
      try {
        jwks = JSON.parse(inline);
      } catch (err) {
        invalid(where, `${at}.local_jwks.inline_string`, `not JSON: ${(err as Error).message}`);
      }
    }
    return {
      name,
      target: service,
      jwt: { issuer: String(p.issuer ?? ''), ...(uri !== undefined ? { jwksUri: uri } : { jwks }), audiences: ((p.audiences ?? []) as string[]).map(String) },
    };
  });
}
