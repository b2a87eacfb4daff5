/**
 * The inbound checks of one request, in the order they must run:
 * 1. normalise the path (path-normalize.ts); a refused path is a 400, and a
 *    changed one is written back to `req.url` so the application routes on
 *    exactly the path that was authorized;
 * 2. authenticate the end-user JWT (jwt.ts), if the service has policies:
 *    a bad token, or two Authorization headers (read from `rawHeaders`:
 *    Node's `req.headers` keeps only the first), is a 401; no token is
 *    anonymous;
 * 3. authorize (authz.ts) with the mTLS peer (`peerOf(req)`), the JWT's
 *    principal and claims, the method, the normalised path and the headers:
 *    a denial is a 403.
 * Authorization must see the normalised path and the verified identities,
 * hence the order. Steps 2 and 3 ({@link checkAccess}) are transport-neutral:
 * gRPC calls run them with the method path and the request metadata.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authorizer, AuthzDecision } from './authz.ts';
import type { JwtAuthenticator } from './jwt.ts';
import { normalizeRequestTarget } from './path-normalize.ts';
import type { PathNormalizeOptions } from './path-normalize.ts';
import { peerOf } from './peer-store.ts';
import type { PeerIdentity } from './peer-verify.ts';

export interface InboundGuardOptions {
  /** The service being called (the authorization target). */
  readonly service: string;
  readonly authorizer?: Authorizer;
  readonly authenticator?: JwtAuthenticator;
  readonly path?: PathNormalizeOptions;
}

export type InboundVerdict =
  | { readonly ok: true; readonly path: string; readonly principal: string | undefined; readonly decision: AuthzDecision | undefined }
  | { readonly ok: false; readonly status: 400 | 401 | 403; readonly reason: string; readonly message: string; readonly policy?: string | undefined };

/**
 * Synchronous unless a JWT must be verified: authorization alone decides in
 * the same tick, so the application's handler runs when Node would run it.
 */
export function checkInbound(req: IncomingMessage, options: InboundGuardOptions): InboundVerdict | Promise<InboundVerdict> {
  const target = normalizeRequestTarget(req.url ?? '/', options.path);
  if (!target.ok) return { ok: false, status: 400, reason: target.reason, message: target.message };
  if (target.changed) req.url = target.path + target.query;
  let headers: AccessRequest['headers'] = req.headers;
  if (options.authenticator !== undefined) {
    // The authenticator refuses a list of values as it does for gRPC metadata.
    const all = authorizationHeaders(req.rawHeaders);
    if (all !== undefined) headers = { ...headers, authorization: all };
  }
  return checkAccess(options, { method: (req.method ?? 'GET').toUpperCase(), path: target.path, headers, peer: peerOf(req) });
}

const AUTHORIZATION = 'authorization';

/**
 * Every Authorization value when a request carries more than one, else
 * undefined (node:http drops all but the first from `req.headers`). Names
 * are compared without building lower-case copies: nothing is allocated
 * for a request with one Authorization header or none.
 */
export function authorizationHeaders(raw: readonly string[]): string[] | undefined {
  let first = -1;
  let all: string[] | undefined;
  for (let k = 0; k < raw.length; k += 2) {
    if (!isAuthorization(raw[k]!)) continue;
    if (first < 0) first = k;
    else (all ??= [raw[first + 1]!]).push(raw[k + 1]!);
  }
  return all;
}

function isAuthorization(name: string): boolean {
  if (name.length !== AUTHORIZATION.length) return false;
  if (name === AUTHORIZATION || name === 'Authorization') return true;
  for (let i = 0; i < name.length; i++) {
    // ASCII letters only: OR-ing 0x20 lower-cases them, and no other byte maps onto one.
    if ((name.charCodeAt(i) | 0x20) !== AUTHORIZATION.charCodeAt(i)) return false;
  }
  return true;
}

/** What steps 2 and 3 look at, whatever the transport. */
export interface AccessRequest {
  /** Upper case; `POST` for gRPC. */
  readonly method: string;
  /** Normalised path, or the gRPC method path `/package.Service/Method`. */
  readonly path: string;
  /** Lower-case names: HTTP headers, or gRPC metadata. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly peer: PeerIdentity | undefined;
}

/** JWT authentication (401) then authorization (403), for HTTP requests and gRPC calls alike; a promise only when a JWT is checked. */
export function checkAccess(options: InboundGuardOptions, req: AccessRequest): InboundVerdict | Promise<InboundVerdict> {
  const authenticator = options.authenticator;
  if (authenticator === undefined) return authorize(options, req, undefined);
  return authenticator.authenticate(req.headers).then((r): InboundVerdict => {
    if (!r.ok) return { ok: false, status: 401, reason: r.reason, message: r.message };
    return authorize(options, req, r.anonymous ? undefined : { principal: r.principal, claims: r.claims });
  });
}

function authorize(options: InboundGuardOptions, req: AccessRequest, auth: { principal: string; claims: Readonly<Record<string, unknown>> } | undefined): InboundVerdict {
  let decision: AuthzDecision | undefined;
  if (options.authorizer !== undefined) {
    const peer = req.peer;
    decision = options.authorizer.check(options.service, {
      method: req.method,
      path: req.path,
      headers: req.headers,
      ...(peer === undefined ? {} : { peer }),
      ...(auth === undefined ? {} : { auth }),
    });
    if (!decision.allowed) {
      return { ok: false, status: 403, reason: decision.reason, policy: decision.policy, message: decision.policy === undefined ? 'RBAC: access denied' : `RBAC: access denied by ${decision.policy}` };
    }
  }
  return { ok: true, path: req.path, principal: auth?.principal, decision };
}

/** Answers a refused request (plain text, no details beyond the reason code). */
export function sendRefusal(res: ServerResponse, verdict: Extract<InboundVerdict, { ok: false }>): void {
  const body = verdict.status === 403 ? 'RBAC: access denied\n' : `${verdict.status === 400 ? 'bad request path' : 'invalid token'} (${verdict.reason})\n`;
  const headers: Record<string, string | number> = { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) };
  if (verdict.status === 401) headers['www-authenticate'] = 'Bearer error="invalid_token"';
  res.writeHead(verdict.status, headers);
  res.end(body);
}
