/**
 * End-user JWT authentication (`policies.authentication`), verified with jose.
 *
 * Semantics are Istio's RequestAuthentication: a request without a token
 * passes as anonymous (require one with an authorization rule on
 * `requestPrincipal`); a request with a bad token is refused (401).
 *
 * Hardening, each with a test:
 * - algorithms: an allow-list, asymmetric only by default; `none` is never
 *   accepted; HMAC (HS*) only when configured, so an RSA public key can't
 *   be used as an HMAC secret (alg confusion);
 * - JWE is not accepted at all (5-part tokens and JWE header fields such as
 *   `enc`/`p2c` are refused before any key work): no PBES2 iteration bombs;
 * - tokens over 8 KiB, two Authorization headers, or more than one token
 *   are refused;
 * - the token's issuer picks the policy; `iss`, `aud` (when configured),
 *   `exp` and `nbf` are checked with 30 s of clock tolerance;
 * - JWKS by URL: fetched with a time limit and a size limit, refreshed in
 *   the background, the last good key set kept through an outage, and
 *   refetched (at most every 30 s) when a token names an unknown key.
 *   Until a first fetch succeeds every token is refused (`jwks-unavailable`).
 */
import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey } from 'jose';
import type * as Jose from 'jose';
import { createRequire } from 'node:module';
import type { AuthenticationPolicyModel } from '../model/types.ts';

/** jose is loaded with the first authentication policy: processes without one do not pay for it. */
let joseModule: typeof Jose | undefined;
function jose(): typeof Jose {
  return (joseModule ??= createRequire(import.meta.url)('jose') as typeof Jose);
}

export const ASYMMETRIC_ALGORITHMS: readonly string[] = Object.freeze(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

export type JwtRefusal =
  | 'multiple-tokens'
  | 'token-too-large'
  | 'token-malformed'
  | 'jwe-not-accepted'
  | 'alg-not-allowed'
  | 'issuer-unknown'
  | 'signature'
  | 'key-not-found'
  | 'expired'
  | 'not-yet-valid'
  | 'audience'
  | 'claims'
  | 'jwks-unavailable';

export type JwtResult =
  | { readonly ok: true; readonly anonymous: false; readonly principal: string; readonly claims: JWTPayload; readonly policy: string }
  | { readonly ok: true; readonly anonymous: true }
  | { readonly ok: false; readonly reason: JwtRefusal; readonly message: string; readonly status: 401 };

export interface JwtLog {
  warn(message: string): void;
}

export interface JwtAuthenticatorOptions {
  /** Accepted `alg` values. Default: {@link ASYMMETRIC_ALGORITHMS}. `none` is refused whatever this says. */
  readonly algorithms?: readonly string[];
  /** Fetch used for JWKS URLs (tests inject one). Default: global fetch. */
  readonly fetch?: typeof fetch;
  /** Limit for one JWKS fetch. Default 3000 ms. */
  readonly fetchTimeoutMs?: number;
  /** Background JWKS refresh period. Default 5 min. */
  readonly refreshMs?: number;
  /** Least time between refetches for unknown keys. Default 30 s. (Before any key set was fetched: 1 s.) */
  readonly cooldownMs?: number;
  readonly clockToleranceS?: number;
  readonly maxTokenLength?: number;
  /** Wall clock, epoch ms. */
  readonly now?: () => number;
  readonly log?: JwtLog;
}

const ANONYMOUS: JwtResult = Object.freeze({ ok: true, anonymous: true });
const MAX_JWKS_BYTES = 256 * 1024;
const JWE_HEADER_FIELDS = ['enc', 'p2c', 'p2s', 'epk', 'zip', 'apu', 'apv'];

function refuse(reason: JwtRefusal, message: string): JwtResult {
  return { ok: false, reason, message, status: 401 };
}

interface IssuerEntry {
  readonly policy: AuthenticationPolicyModel;
  readonly keys: KeySource;
}

/** Authenticates the requests of one target against its authentication policies. */
export class JwtAuthenticator {
  /** Refusals by reason since start. */
  readonly refusals = new Map<JwtRefusal, number>();
  readonly #byIssuer = new Map<string, IssuerEntry>();
  readonly #algorithms: readonly string[];
  readonly #clockTolerance: number;
  readonly #maxLength: number;
  readonly #now: () => number;

  constructor(policies: readonly AuthenticationPolicyModel[], options: JwtAuthenticatorOptions = {}) {
    this.#algorithms = (options.algorithms ?? ASYMMETRIC_ALGORITHMS).filter((a) => a.toLowerCase() !== 'none');
    this.#clockTolerance = options.clockToleranceS ?? 30;
    this.#maxLength = options.maxTokenLength ?? 8192;
    this.#now = options.now ?? Date.now;
    const symmetric = this.#algorithms.some((a) => a.startsWith('HS'));
    for (const policy of policies) {
      if (this.#byIssuer.has(policy.jwt.issuer)) continue; // first policy for an issuer wins, as documented
      const keys = policy.jwt.jwksUri !== undefined
        ? new RemoteKeys(policy.jwt.jwksUri, options, symmetric)
        : new InlineKeys(policy.jwt.jwks, symmetric);
      this.#byIssuer.set(policy.jwt.issuer, { policy, keys });
    }
  }

  /** Verifies the bearer token of a request (node:http headers), if it has one. */
  async authenticate(headers: Readonly<Record<string, string | readonly string[] | undefined>>): Promise<JwtResult> {
    const r = await this.#authenticate(headers);
    if (!r.ok) this.refusals.set(r.reason, (this.refusals.get(r.reason) ?? 0) + 1);
    return r;
  }

  /** Stops background JWKS refreshes. */
  close(): void {
    for (const e of this.#byIssuer.values()) e.keys.close();
  }

  async #authenticate(headers: Readonly<Record<string, string | readonly string[] | undefined>>): Promise<JwtResult> {
    const auth = headers.authorization;
    if (auth === undefined) return ANONYMOUS;
    if (typeof auth !== 'string') return refuse('multiple-tokens', 'more than one Authorization header');
    if (!/^bearer /i.test(auth)) return ANONYMOUS; // another scheme: not ours to judge
    const token = auth.slice(7).trim();
    if (token.length > this.#maxLength) return refuse('token-too-large', `token longer than ${this.#maxLength} chars`);
    if (token.includes(' ') || token.includes(',')) return refuse('multiple-tokens', 'more than one token in the Authorization header');
    const dots = token.split('.').length - 1;
    if (dots === 4) return refuse('jwe-not-accepted', 'encrypted tokens (JWE) are not accepted');
    if (dots !== 2) return refuse('token-malformed', 'not a compact JWS (three base64url parts)');

    let header;
    let unverified: JWTPayload;
    try {
      header = jose().decodeProtectedHeader(token);
      unverified = jose().decodeJwt(token);
    } catch (err) {
      return refuse('token-malformed', (err as Error).message);
    }
    if (JWE_HEADER_FIELDS.some((f) => f in header)) return refuse('jwe-not-accepted', 'the token header has JWE fields');
    if ('b64' in header) return refuse('token-malformed', 'unencoded payloads (b64) are not JWTs');
    if (typeof header.alg !== 'string' || !this.#algorithms.includes(header.alg)) {
      return refuse('alg-not-allowed', `algorithm ${String(header.alg)} is not accepted (allowed: ${this.#algorithms.join(', ')})`);
    }
    const entry = typeof unverified.iss === 'string' ? this.#byIssuer.get(unverified.iss) : undefined;
    if (entry === undefined) return refuse('issuer-unknown', `no authentication policy for issuer ${JSON.stringify(unverified.iss)}`);

    let keySet: JWTVerifyGetKey;
    try {
      keySet = await entry.keys.get();
    } catch (err) {
      return refuse('jwks-unavailable', (err as Error).message);
    }
    const verify = (keys: JWTVerifyGetKey): ReturnType<typeof Jose.jwtVerify> =>
      jose().jwtVerify(token, keys, {
        issuer: entry.policy.jwt.issuer,
        ...(entry.policy.jwt.audiences.length > 0 ? { audience: [...entry.policy.jwt.audiences] } : {}),
        algorithms: [...this.#algorithms],
        clockTolerance: this.#clockTolerance,
        currentDate: new Date(this.#now()),
      });
    let payload: JWTPayload;
    try {
      ({ payload } = await verify(keySet));
    } catch (err) {
      if (err instanceof jose().errors.JWKSNoMatchingKey) {
        // A key rotated in at the issuer: look again (rate-limited), once.
        const fresh = await entry.keys.refreshForUnknownKey();
        if (fresh !== undefined) {
          try {
            ({ payload } = await verify(fresh));
            return this.#accepted(payload, entry);
          } catch (again) {
            return joseRefusal(again);
          }
        }
      }
      return joseRefusal(err);
    }
    return this.#accepted(payload, entry);
  }

  #accepted(payload: JWTPayload, entry: IssuerEntry): JwtResult {
    return { ok: true, anonymous: false, principal: `${payload.iss}/${payload.sub ?? ''}`, claims: payload, policy: entry.policy.name };
  }
}

/** One authenticator per target of `policies`. */
export function authenticatorsByTarget(policies: readonly AuthenticationPolicyModel[], options: JwtAuthenticatorOptions = {}): Map<string, JwtAuthenticator> {
  const byTarget = new Map<string, AuthenticationPolicyModel[]>();
  for (const p of policies) {
    const list = byTarget.get(p.target) ?? [];
    list.push(p);
    byTarget.set(p.target, list);
  }
  return new Map([...byTarget].map(([target, list]) => [target, new JwtAuthenticator(list, options)]));
}

function joseRefusal(err: unknown): JwtResult {
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof jose().errors.JWTExpired) return refuse('expired', message);
  if (err instanceof jose().errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' || (err.claim === 'iat' && err.reason === 'check_failed')) return refuse('not-yet-valid', message);
    if (err.claim === 'aud') return refuse('audience', message);
    return refuse('claims', message);
  }
  if (err instanceof jose().errors.JWSSignatureVerificationFailed) return refuse('signature', message);
  if (err instanceof jose().errors.JWKSNoMatchingKey || err instanceof jose().errors.JWKSMultipleMatchingKeys) return refuse('key-not-found', message);
  if (err instanceof jose().errors.JOSEAlgNotAllowed) return refuse('alg-not-allowed', message);
  return refuse('token-malformed', message);
}

// ---- key sources ----------------------------------------------------------------

interface KeySource {
  get(): Promise<JWTVerifyGetKey>;
  /** A refreshed key set when a refetch is allowed now, else undefined. */
  refreshForUnknownKey(): Promise<JWTVerifyGetKey | undefined>;
  close(): void;
}

/**
 * A key resolver over a JWKS document. Asymmetric keys go through jose's
 * JWKS selection (kid, kty, alg, use). Shared-secret (`oct`) keys are
 * dropped unless HMAC algorithms are allowed; then an HS* token gets the
 * `oct` key of its kid, never any other kind (no RSA public key as secret).
 */
function toKeySet(doc: unknown, symmetric: boolean): JWTVerifyGetKey {
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) throw new Error('not a JWKS document ({ keys: [...] })');
  const all = (doc as JSONWebKeySet).keys.filter((k) => typeof k === 'object' && k !== null);
  const asymmetric = jose().createLocalJWKSet({ keys: all.filter((k) => k.kty !== 'oct') });
  if (!symmetric) return asymmetric;
  const secrets = all.filter((k) => k.kty === 'oct');
  return async (header, token) => {
    if (!header.alg.startsWith('HS')) return asymmetric(header, token);
    const matching = secrets.filter((k) => (header.kid === undefined || k.kid === header.kid) && (k.alg === undefined || k.alg === header.alg));
    if (matching.length !== 1) throw new (jose().errors.JWKSNoMatchingKey)();
    return jose().importJWK(matching[0]!, header.alg);
  };
}

class InlineKeys implements KeySource {
  readonly #set: JWTVerifyGetKey | undefined;
  readonly #error: string | undefined;

  constructor(jwks: unknown, symmetric: boolean) {
    try {
      this.#set = toKeySet(jwks, symmetric);
    } catch (err) {
      this.#error = (err as Error).message;
    }
  }

  get(): Promise<JWTVerifyGetKey> {
    return this.#set === undefined ? Promise.reject(new Error(`inline JWKS unusable: ${this.#error}`)) : Promise.resolve(this.#set);
  }

  refreshForUnknownKey(): Promise<undefined> {
    return Promise.resolve(undefined);
  }

  close(): void {}
}

class RemoteKeys implements KeySource {
  readonly #url: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #cooldownMs: number;
  readonly #symmetric: boolean;
  readonly #now: () => number;
  readonly #log: JwtLog | undefined;
  #set: JWTVerifyGetKey | undefined;
  #inFlight: Promise<JWTVerifyGetKey> | undefined;
  #lastAttempt = -Infinity;
  #lastError = '';
  readonly #timer: NodeJS.Timeout | undefined;

  constructor(url: string, options: JwtAuthenticatorOptions, symmetric: boolean) {
    this.#url = url;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = options.fetchTimeoutMs ?? 3000;
    this.#cooldownMs = options.cooldownMs ?? 30_000;
    this.#symmetric = symmetric;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    const refreshMs = options.refreshMs ?? 300_000;
    if (refreshMs > 0) {
      this.#timer = setInterval(() => {
        this.#load().catch(() => undefined); // last good keys stay in use
      }, refreshMs);
      this.#timer.unref();
    }
  }

  async get(): Promise<JWTVerifyGetKey> {
    if (this.#set !== undefined) return this.#set;
    // Nothing good yet: fetch now, but at most once a second while it keeps failing (requests meanwhile fail fast).
    const backoff = Math.min(this.#cooldownMs, 1000);
    if (this.#inFlight === undefined && this.#now() - this.#lastAttempt < backoff) {
      throw new Error(`JWKS ${this.#url} unavailable (${this.#lastError}); next attempt within ${backoff} ms`);
    }
    return this.#load();
  }

  async refreshForUnknownKey(): Promise<JWTVerifyGetKey | undefined> {
    if (this.#inFlight === undefined && this.#now() - this.#lastAttempt < this.#cooldownMs) return undefined;
    try {
      return await this.#load();
    } catch {
      return undefined;
    }
  }

  close(): void {
    clearInterval(this.#timer);
  }

  #load(): Promise<JWTVerifyGetKey> {
    this.#inFlight ??= this.#fetchKeys().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #fetchKeys(): Promise<JWTVerifyGetKey> {
    this.#lastAttempt = this.#now();
    try {
      const res = await this.#fetch(this.#url, { signal: AbortSignal.timeout(this.#timeoutMs), redirect: 'error', headers: { accept: 'application/json' } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const text = await readCapped(res, MAX_JWKS_BYTES);
      const set = toKeySet(JSON.parse(text), this.#symmetric);
      this.#set = set;
      return set;
    } catch (err) {
      this.#lastError = (err as Error).message;
      this.#log?.warn(`JWKS ${this.#url} fetch failed (${this.#lastError})${this.#set === undefined ? '' : '; keeping the last good keys'}`);
      throw new Error(`JWKS ${this.#url} unavailable: ${this.#lastError}`);
    }
  }
}

async function readCapped(res: Response, limit: number): Promise<string> {
  if (res.body === null) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      throw new Error(`JWKS larger than ${limit} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
