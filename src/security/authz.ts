/**
 * Authorization: may this request reach this service? Evaluated as Istio
 * evaluates AuthorizationPolicy:
 * 1. any enforced DENY policy of the target that matches → denied (deny wins);
 * 2. else, when the target has enforced ALLOW policies → allowed only if one
 *    matches (everything else is denied);
 * 3. else allowed.
 * Dry-run policies never change the decision: the decision is evaluated a
 * second time as if they were enforced, and a difference is counted and
 * reported (`onDryRun`).
 *
 * A policy matches when the request matches any of its `from` sources (or
 * it has none), any of its `to` operations (or it has none), and all of its
 * `when` conditions.
 *
 * Patterns are exact, `prefix*`, `*suffix` or `*` (any present value); no
 * regex anywhere, so a `.` is always a literal dot (a trust domain
 * `demo.local` never matches `demoxlocal`).
 *
 * Policies are compiled once per config into closures and frozen decision
 * objects: a check allocates nothing.
 */
import { EnmeshError } from '../errors.ts';
import type { AuthorizationOperation, AuthorizationPolicyModel, AuthorizationSource } from '../model/types.ts';
import { SPIFFE_SCHEME } from './spiffe-id.ts';

/** A source of the config model, plus JWT request principals (`<iss>/<sub>`). */
export interface AuthzSource extends AuthorizationSource {
  readonly requestPrincipal?: string;
}

/** An operation of the config model, plus header matches (lower-case name → pattern). */
export interface AuthzOperation extends AuthorizationOperation {
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * A condition on a request attribute. Keys: `request.auth.claims[<name>]`
 * (nested: `[a][b]`), `request.auth.principal`, `request.headers[<name>]`,
 * `source.principal`. Holds when the attribute is present, matches one of
 * `values` (when given) and none of `notValues`.
 */
export interface AuthzCondition {
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

/** An authorization policy: the config model's, optionally with `when` and the extra match fields above. */
export interface AuthzPolicy extends Omit<AuthorizationPolicyModel, 'from' | 'to'> {
  readonly from: readonly AuthzSource[];
  readonly to: readonly AuthzOperation[];
  readonly when?: readonly AuthzCondition[];
}

export interface AuthzRequest {
  /** Upper case. */
  readonly method: string;
  /** Normalised (path-normalize.ts): never match policies on a raw path. */
  readonly path: string;
  /** Lower-case names, as node:http gives them. */
  readonly headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The verified mTLS peer; absent for plaintext. */
  readonly peer?: { readonly spiffeId: string; readonly service?: string | undefined };
  /** The verified JWT (jwt.ts); absent without one. */
  readonly auth?: { readonly principal: string; readonly claims: Readonly<Record<string, unknown>> };
}

export type AuthzReason = 'no-policies' | 'allowed-by-policy' | 'no-allow-policies' | 'denied-by-policy' | 'no-allow-matched';

export interface AuthzDecision {
  readonly allowed: boolean;
  readonly reason: AuthzReason;
  /** The policy that decided, if one did. */
  readonly policy: string | undefined;
}

export interface DryRunEvent {
  readonly target: string;
  /** What was enforced. */
  readonly decision: AuthzDecision;
  /** What would be enforced if the dry-run policies were. */
  readonly wouldBe: AuthzDecision;
}

export interface AuthorizerOptions {
  /** The mesh trust domain: `service: x` means `spiffe://<trustDomain>/service/x`. */
  readonly trustDomain: string;
  /** Called when a dry-run policy would change a decision. */
  readonly onDryRun?: (event: DryRunEvent) => void;
}

type Match = (req: AuthzRequest) => boolean;
type StringMatch = (value: string) => boolean;

interface Compiled {
  readonly name: string;
  readonly matches: Match;
  readonly decision: AuthzDecision;
}

interface TargetPolicies {
  readonly deny: readonly Compiled[];
  readonly allow: readonly Compiled[];
  readonly dryDeny: readonly Compiled[];
  readonly dryAllow: readonly Compiled[];
  readonly noAllowMatched: AuthzDecision;
}

const NO_POLICIES: AuthzDecision = Object.freeze({ allowed: true, reason: 'no-policies', policy: undefined });
const NO_ALLOW_POLICIES: AuthzDecision = Object.freeze({ allowed: true, reason: 'no-allow-policies', policy: undefined });
const NO_ALLOW_MATCHED: AuthzDecision = Object.freeze({ allowed: false, reason: 'no-allow-matched', policy: undefined });

export class Authorizer {
  readonly trustDomain: string;
  /** Problems that do not stop compilation but make a policy weaker than it reads. */
  readonly warnings: readonly string[];
  allowed = 0;
  denied = 0;
  /** Would-be denials of dry-run policies, by policy name. */
  readonly dryRunDenials = new Map<string, number>();
  readonly #targets: ReadonlyMap<string, TargetPolicies>;
  readonly #onDryRun: ((event: DryRunEvent) => void) | undefined;

  constructor(policies: readonly AuthzPolicy[], options: AuthorizerOptions) {
    this.trustDomain = options.trustDomain;
    this.#onDryRun = options.onDryRun;
    const warnings: string[] = [];
    const byTarget = new Map<string, { deny: Compiled[]; allow: Compiled[]; dryDeny: Compiled[]; dryAllow: Compiled[] }>();
    for (const p of policies) {
      let t = byTarget.get(p.target);
      if (t === undefined) byTarget.set(p.target, (t = { deny: [], allow: [], dryDeny: [], dryAllow: [] }));
      const compiled = compilePolicy(p, options.trustDomain, warnings);
      if (p.action === 'deny') (p.dryRun ? t.dryDeny : t.deny).push(compiled);
      else (p.dryRun ? t.dryAllow : t.allow).push(compiled);
    }
    const targets = new Map<string, TargetPolicies>();
    for (const [name, t] of byTarget) targets.set(name, Object.freeze({ ...t, noAllowMatched: NO_ALLOW_MATCHED }));
    this.#targets = targets;
    this.warnings = Object.freeze(warnings);
  }

  /** The decision for a request to `target`. */
  check(target: string, req: AuthzRequest): AuthzDecision {
    const t = this.#targets.get(target);
    if (t === undefined) {
      this.allowed++;
      return NO_POLICIES;
    }
    const decision = decide(t.deny, t.allow, undefined, undefined, req);
    if (decision.allowed) this.allowed++;
    else this.denied++;
    if (t.dryDeny.length > 0 || t.dryAllow.length > 0) {
      const wouldBe = decide(t.deny, t.allow, t.dryDeny, t.dryAllow, req);
      if (wouldBe.allowed !== decision.allowed) {
        if (!wouldBe.allowed) {
          const key = wouldBe.policy ?? '(no allow policy matched)';
          this.dryRunDenials.set(key, (this.dryRunDenials.get(key) ?? 0) + 1);
        }
        this.#onDryRun?.({ target, decision, wouldBe });
      }
    }
    return decision;
  }
}

/** Compiles the policies of a config (or any {@link AuthzPolicy} list). Throws `ENMESH_ERR_CONFIG_INVALID` for a pattern that is not one. */
export function compileAuthorization(policies: readonly AuthzPolicy[], options: AuthorizerOptions): Authorizer {
  return new Authorizer(policies, options);
}

function decide(deny: readonly Compiled[], allow: readonly Compiled[], dryDeny: readonly Compiled[] | undefined, dryAllow: readonly Compiled[] | undefined, req: AuthzRequest): AuthzDecision {
  for (let i = 0; i < deny.length; i++) if (deny[i]!.matches(req)) return deny[i]!.decision;
  if (dryDeny !== undefined) for (let i = 0; i < dryDeny.length; i++) if (dryDeny[i]!.matches(req)) return dryDeny[i]!.decision;
  const allows = allow.length + (dryAllow?.length ?? 0);
  if (allows === 0) return NO_ALLOW_POLICIES;
  for (let i = 0; i < allow.length; i++) if (allow[i]!.matches(req)) return allow[i]!.decision;
  if (dryAllow !== undefined) for (let i = 0; i < dryAllow.length; i++) if (dryAllow[i]!.matches(req)) return dryAllow[i]!.decision;
  return NO_ALLOW_MATCHED;
}

function compilePolicy(p: AuthzPolicy, trustDomain: string, warnings: string[]): Compiled {
  const at = `authorization policy "${p.name}"`;
  const from = p.from.map((s, i) => compileSource(s, trustDomain, `${at} from[${i}]`, warnings));
  const to = p.to.map((o, i) => compileOperation(o, `${at} to[${i}]`));
  const when = (p.when ?? []).map((c, i) => compileCondition(c, `${at} when[${i}]`));
  const matches: Match = (req) => anyOrEmpty(from, req) && anyOrEmpty(to, req) && all(when, req);
  const allowed = p.action !== 'deny';
  return {
    name: p.name,
    matches,
    decision: Object.freeze({ allowed, reason: allowed ? 'allowed-by-policy' : 'denied-by-policy', policy: p.name }),
  };
}

function anyOrEmpty(list: readonly Match[], req: AuthzRequest): boolean {
  if (list.length === 0) return true;
  for (let i = 0; i < list.length; i++) if (list[i]!(req)) return true;
  return false;
}

function all(list: readonly Match[], req: AuthzRequest): boolean {
  for (let i = 0; i < list.length; i++) if (!list[i]!(req)) return false;
  return true;
}

/**
 * `*` (any value), `prefix*`, `*suffix`, or an exact value. A `*` anywhere
 * else is refused rather than guessed at.
 */
export function compileGlob(pattern: string, where: string): StringMatch {
  const stars = pattern.split('*').length - 1;
  if (pattern === '*') return () => true;
  if (stars === 0) return (v) => v === pattern;
  if (stars === 1 && pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    return (v) => v.startsWith(prefix);
  }
  if (stars === 1 && pattern.startsWith('*')) {
    const suffix = pattern.slice(1);
    return (v) => v.endsWith(suffix);
  }
  throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', `${where}: pattern "${pattern}" is not supported; use an exact value, prefix*, *suffix or *`);
}

function anyGlob(patterns: readonly string[], where: string): StringMatch {
  const ms = patterns.map((p) => compileGlob(p, where));
  if (ms.length === 1) return ms[0]!;
  return (v) => {
    for (let i = 0; i < ms.length; i++) if (ms[i]!(v)) return true;
    return false;
  };
}

function compileSource(s: AuthzSource, trustDomain: string, where: string, warnings: string[]): Match {
  const parts: Match[] = [];
  if (s.service !== undefined) {
    const m = compileGlob(s.service, where);
    const prefix = `${SPIFFE_SCHEME}${trustDomain}/service/`;
    // Only identities of this mesh's trust domain have a service name here.
    parts.push((req) => {
      const id = req.peer?.spiffeId;
      if (id === undefined || !id.startsWith(prefix)) return false;
      const name = id.slice(prefix.length);
      return !name.includes('/') && m(name);
    });
  }
  if (s.principal !== undefined) {
    const m = compileGlob(s.principal, where);
    parts.push((req) => req.peer !== undefined && m(req.peer.spiffeId));
  }
  if (s.requestPrincipal !== undefined) {
    const m = compileGlob(s.requestPrincipal, where);
    parts.push((req) => req.auth !== undefined && m(req.auth.principal));
  }
  if (s.namespace !== undefined) {
    // The CA issues spiffe://<trust domain>/service/<name> only: no caller is ever in a namespace.
    warnings.push(`${where}: namespace "${s.namespace}" never matches: enmesh identities (spiffe://<trust domain>/service/<name>) carry no namespace; use service or principal`);
    parts.push(() => false);
  }
  if (parts.length === 0) throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', `${where}: a source needs service, principal, requestPrincipal or namespace`);
  return parts.length === 1 ? parts[0]! : (req) => all(parts, req);
}

function compileOperation(o: AuthzOperation, where: string): Match {
  const parts: Match[] = [];
  if (o.methods.length > 0) {
    const methods = new Set(o.methods.map((m) => m.toUpperCase()));
    parts.push((req) => methods.has(req.method));
  }
  if (o.paths.length > 0) {
    const m = anyGlob(o.paths, `${where} paths`);
    parts.push((req) => m(req.path));
  }
  for (const [name, pattern] of Object.entries(o.headers ?? {})) {
    const header = name.toLowerCase();
    const m = compileGlob(pattern, `${where} headers.${name}`);
    parts.push((req) => someValue(req.headers?.[header], m));
  }
  return parts.length === 0 ? () => true : parts.length === 1 ? parts[0]! : (req) => all(parts, req);
}

function someValue(v: string | readonly string[] | undefined, m: StringMatch): boolean {
  if (v === undefined) return false;
  if (typeof v === 'string') return m(v);
  for (let i = 0; i < v.length; i++) if (m(v[i]!)) return true;
  return false;
}

const CLAIM_KEY = /^request\.auth\.claims((?:\[[^\][]+\])+)$/;
const HEADER_KEY = /^request\.headers\[([^\][]+)\]$/;

/** The `when` keys the engine understands (for the config validator). */
export function isConditionKey(key: string): boolean {
  return CLAIM_KEY.test(key) || HEADER_KEY.test(key) || key === 'request.auth.principal' || key === 'source.principal';
}

function compileCondition(c: AuthzCondition, where: string): Match {
  const yes = c.values === undefined || c.values.length === 0 ? undefined : anyGlob(c.values, `${where} values`);
  const no = c.notValues === undefined || c.notValues.length === 0 ? undefined : anyGlob(c.notValues, `${where} notValues`);
  if (yes === undefined && no === undefined) throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', `${where}: a condition needs values or notValues`);
  const test = (values: readonly string[]): boolean => {
    if (values.length === 0) return false;
    let hit = yes === undefined;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      if (no !== undefined && no(v)) return false;
      if (!hit && yes!(v)) hit = true;
    }
    return hit;
  };
  let m = CLAIM_KEY.exec(c.key);
  if (m !== null) {
    const path = m[1]!.slice(1, -1).split('][');
    return (req) => req.auth !== undefined && test(claimValues(req.auth.claims, path));
  }
  m = HEADER_KEY.exec(c.key);
  if (m !== null) {
    const name = m[1]!.toLowerCase();
    return (req) => {
      const v = req.headers?.[name];
      return v !== undefined && test(typeof v === 'string' ? [v] : v);
    };
  }
  if (c.key === 'request.auth.principal') return (req) => req.auth !== undefined && test([req.auth.principal]);
  if (c.key === 'source.principal') return (req) => req.peer !== undefined && test([req.peer.spiffeId]);
  throw new EnmeshError(
    'ENMESH_ERR_CONFIG_INVALID',
    `${where}: unknown key "${c.key}"; use request.auth.claims[name], request.auth.principal, request.headers[name] or source.principal`,
  );
}

/** A claim's values as strings: a string, a number or boolean, or an array of those. */
function claimValues(claims: Readonly<Record<string, unknown>>, path: readonly string[]): readonly string[] {
  let v: unknown = claims;
  for (const key of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v) || !Object.hasOwn(v, key)) return [];
    v = (v as Record<string, unknown>)[key];
  }
  if (typeof v === 'string') return [v];
  if (typeof v === 'number' || typeof v === 'boolean') return [String(v)];
  if (Array.isArray(v)) return v.filter((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean').map(String);
  return [];
}
