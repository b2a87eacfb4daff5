/**
 * SPIFFE IDs (`spiffe://<trust-domain>/<path>`), parsed strictly by the
 * SPIFFE ID specification: one spelling per identity, so comparing two IDs
 * is comparing two strings.
 *
 * - scheme exactly `spiffe://` (lower case);
 * - trust domain: 1..255 chars of `a-z 0-9 . - _` (no upper case, port,
 *   userinfo or IP literal brackets);
 * - path: optional; segments of `a-z A-Z 0-9 . - _`, none empty, none `.` or
 *   `..`, no trailing slash; no percent-encoding, query or fragment;
 * - 2048 bytes at most in all.
 *
 * Nothing here is a pattern: a `.` is a literal dot everywhere.
 * enmesh workloads are `spiffe://<trust-domain>/service/<name>`.
 */
import { EnmeshError } from '../errors.ts';

export interface SpiffeId {
  /** The whole ID, e.g. `spiffe://demo.local/service/reviews`. */
  readonly id: string;
  readonly trustDomain: string;
  /** `''` for a trust domain ID, else `/seg/seg`. */
  readonly path: string;
}

export type SpiffeIdProblem =
  | 'empty'
  | 'too-long'
  | 'scheme'
  | 'trust-domain-empty'
  | 'trust-domain-too-long'
  | 'trust-domain-chars'
  | 'path-empty-segment'
  | 'path-dot-segment'
  | 'path-chars';

export type SpiffeIdCheck = { readonly ok: true; readonly value: SpiffeId } | { readonly ok: false; readonly problem: SpiffeIdProblem };

export const SPIFFE_SCHEME = 'spiffe://';
export const MAX_SPIFFE_ID_LENGTH = 2048;
export const MAX_TRUST_DOMAIN_LENGTH = 255;

/** Path segment of an enmesh workload ID: `/service/<name>`. */
const SERVICE_PREFIX = '/service/';

// Char classes as lookup tables: one array index per char, no regex backtracking on hostile input.
const TD_CHARS = charTable('abcdefghijklmnopqrstuvwxyz0123456789.-_');
const PATH_CHARS = charTable('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_');

function charTable(chars: string): Uint8Array {
  const t = new Uint8Array(128);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

function problem(p: SpiffeIdProblem): SpiffeIdCheck {
  return { ok: false, problem: p };
}

/** Parses `text` as a SPIFFE ID, saying what is wrong when it is not one. Never throws. */
export function checkSpiffeId(text: string): SpiffeIdCheck {
  if (typeof text !== 'string' || text.length === 0) return problem('empty');
  // Every accepted char is ASCII, so the UTF-16 length is the byte length for any valid ID.
  if (text.length > MAX_SPIFFE_ID_LENGTH) return problem('too-long');
  if (!text.startsWith(SPIFFE_SCHEME)) return problem('scheme');
  const start = SPIFFE_SCHEME.length;
  let slash = text.indexOf('/', start);
  if (slash < 0) slash = text.length;
  if (slash === start) return problem('trust-domain-empty');
  if (slash - start > MAX_TRUST_DOMAIN_LENGTH) return problem('trust-domain-too-long');
  for (let i = start; i < slash; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TD_CHARS[c] === 0) return problem('trust-domain-chars');
  }
  // Path: each '/' opens a segment that must be non-empty, not a dot segment, and plain chars only.
  let segStart = slash + 1;
  for (let i = slash; i < text.length; ) {
    let end = text.indexOf('/', segStart);
    if (end < 0) end = text.length;
    const len = end - segStart;
    if (len === 0) return problem('path-empty-segment');
    for (let j = segStart; j < end; j++) {
      const c = text.charCodeAt(j);
      if (c >= 128 || PATH_CHARS[c] === 0) return problem('path-chars');
    }
    if (text.charCodeAt(segStart) === 46 && (len === 1 || (len === 2 && text.charCodeAt(segStart + 1) === 46))) return problem('path-dot-segment');
    i = end;
    segStart = end + 1;
  }
  return { ok: true, value: { id: text, trustDomain: text.slice(start, slash), path: text.slice(slash) } };
}

/** The SPIFFE ID in `text`, or undefined when `text` is not exactly one. */
export function parseSpiffeId(text: string): SpiffeId | undefined {
  const r = checkSpiffeId(text);
  return r.ok ? r.value : undefined;
}

/** True for a valid trust domain name (what `mesh.trustDomain` must be). */
export function isTrustDomain(text: string): boolean {
  if (typeof text !== 'string' || text.length === 0 || text.length > MAX_TRUST_DOMAIN_LENGTH) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || TD_CHARS[c] === 0) return false;
  }
  return true;
}

/**
 * Builds a SPIFFE ID from a trust domain and a path (`''` or `/a/b`).
 * Throws `ENMESH_ERR_SPIFFE_ID` when the result would not parse back to the same parts.
 */
export function formatSpiffeId(trustDomain: string, path = ''): string {
  const text = `${SPIFFE_SCHEME}${trustDomain}${path}`;
  const r = checkSpiffeId(text);
  if (!r.ok || r.value.trustDomain !== trustDomain) {
    throw new EnmeshError(
      'ENMESH_ERR_SPIFFE_ID',
      `cannot build a SPIFFE ID from trust domain "${trustDomain}" and path "${path}": ${r.ok ? 'the path must start with /' : r.problem}`,
    );
  }
  return text;
}

/** The identity of service `name` in `trustDomain`: `spiffe://<trustDomain>/service/<name>`. */
export function serviceSpiffeId(trustDomain: string, name: string): string {
  if (name.length === 0 || name.includes('/')) {
    throw new EnmeshError('ENMESH_ERR_SPIFFE_ID', `"${name}" is not a service name usable in a SPIFFE ID`);
  }
  return formatSpiffeId(trustDomain, `${SERVICE_PREFIX}${name}`);
}

/**
 * The service name of an enmesh workload ID (`/service/<name>`, nothing
 * after), or undefined for any other ID, or one of another trust domain
 * when `trustDomain` is given.
 */
export function serviceOf(id: SpiffeId, trustDomain?: string): string | undefined {
  if (trustDomain !== undefined && id.trustDomain !== trustDomain) return undefined;
  if (!id.path.startsWith(SERVICE_PREFIX)) return undefined;
  const name = id.path.slice(SERVICE_PREFIX.length);
  return name.length > 0 && !name.includes('/') ? name : undefined;
}
