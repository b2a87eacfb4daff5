/**
 * One spelling per path, decided before authorization, and handed on to the
 * application: the policy and the handler must see the same path, or a
 * DENY on `/admin/*` is bypassed by `/public/../admin/x`, `//admin/x`,
 * `/%61dmin/x`, `/admin;x/secret` or `/admin%2fsecret`.
 *
 * The rules (Istio's `normalize_path` + `merge_slashes`, with escaped
 * slashes REJECTed by default):
 * 1. the request target is origin-form (`/p?q`), absolute-form (its path is
 *    used) or `*`; anything else is refused, and so is one starting with
 *    `//` or `/\` (URL parsers read what follows as a host);
 * 2. the fragment is dropped; the query is kept as sent and not normalised;
 * 3. raw bytes must be visible ASCII (no space, controls, NUL or non-ASCII);
 * 4. `%XX` must be two hex digits; `%00`, encoded controls and encoded
 *    escapes (`%25` then two hex digits, after decoding: double encoding)
 *    are refused;
 * 5. escapes of unreserved chars (`A-Z a-z 0-9 - . _ ~`) are decoded (so
 *    `%2e` is a dot); other escapes are kept, upper-cased (`%3b` → `%3B`);
 * 6. `%2F` and `%5C` (escaped `/` and `\`), and a raw `\`, are refused
 *    (`escapedSlashes: 'reject'`, the default), or taken as `/`
 *    (`'unescape'`);
 * 7. `;params` (also `%3B`) are cut from every segment (as servlet
 *    containers do); a `.`/`..` segment with params (`/..;/`) is refused,
 *    since servers disagree on whether it is a dot segment;
 * 8. `.` and `..` segments are resolved (RFC 3986 §5.2.4); `..` never
 *    climbs above the root; a `..` that would remove an empty segment
 *    (`/a//..`) is refused, as servers that merge slashes first disagree;
 * 9. empty segments are merged (`//` → `/`);
 * 10. a trailing slash is kept.
 * Case is kept: paths are case-sensitive.
 *
 * The result is idempotent, and paths that need no change (the common
 * case) cost one scan and no allocation.
 */

export type EscapedSlashPolicy = 'reject' | 'unescape';

export interface PathNormalizeOptions {
  /** What `%2F`, `%5C` and a raw `\` mean: refused (default) or a `/`. */
  readonly escapedSlashes?: EscapedSlashPolicy;
}

export type PathRejection =
  | 'not-origin-form'
  | 'too-long'
  | 'invalid-char'
  | 'bad-escape'
  | 'encoded-nul'
  | 'encoded-control'
  | 'double-escape'
  | 'escaped-slash'
  | 'ambiguous-dot-segment';

export type NormalizedTarget =
  | {
      readonly ok: true;
      /** The normalised path. */
      readonly path: string;
      /** `?...` as sent, or `''`. */
      readonly query: string;
      /** False when the target was already normal (path + query is the target as sent). */
      readonly changed: boolean;
    }
  | { readonly ok: false; readonly reason: PathRejection; readonly message: string };

export const MAX_TARGET_LENGTH = 8192;

// Per-char class of raw path chars: 0 invalid, 1 plain, 2 needs the slow path.
const CLASS = new Uint8Array(128);
for (let c = 0x21; c < 0x7f; c++) CLASS[c] = 1;
for (const ch of '%\\;') CLASS[ch.charCodeAt(0)] = 2;
const UNRESERVED = new Uint8Array(128);
for (const ch of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~') UNRESERVED[ch.charCodeAt(0)] = 1;

const HEX = '0123456789ABCDEF';
const DOUBLE_ESCAPE = /%25[0-9A-Fa-f]{2}/;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

const reject = (reason: PathRejection, message: string): NormalizedTarget => ({ ok: false, reason, message });
const AMBIGUOUS = reject('ambiguous-dot-segment', 'a `.` or `..` segment with ;params (like `..;/`) means different paths to different servers');

/** Normalises a request target (`req.url`). */
export function normalizeRequestTarget(target: string, options?: PathNormalizeOptions): NormalizedTarget {
  if (target.length > MAX_TARGET_LENGTH) return reject('too-long', `request target longer than ${MAX_TARGET_LENGTH} chars`);
  if (target === '*') return { ok: true, path: '*', query: '', changed: false };
  let start = 0;
  if (target.charCodeAt(0) === 47 && (target.charCodeAt(1) === 47 || target.charCodeAt(1) === 92)) {
    // `new URL('//x/admin', base)` reads x as a host: the application would see another path than we do.
    return reject('not-origin-form', 'the request target starts with // (read as a host name by URL parsers)');
  }
  if (target.charCodeAt(0) !== 47) {
    // Absolute-form (a request to a proxy): the path starts at the first '/' after the authority.
    const scheme = /^https?:\/\//i.exec(target);
    if (scheme === null) return reject('not-origin-form', 'the request target must start with /');
    const slash = target.indexOf('/', scheme[0].length);
    const q = target.indexOf('?', scheme[0].length);
    const h = target.indexOf('#', scheme[0].length);
    const authorityEnd = Math.min(...[slash, q, h, target.length].filter((i) => i >= 0));
    if (authorityEnd === target.length || target.charCodeAt(authorityEnd) !== 47) {
      const rest = target.slice(authorityEnd);
      return finish('/', rest, true, options);
    }
    start = authorityEnd;
  }
  let end = target.length;
  let slow = start > 0;
  for (let i = start; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) {
      end = i;
      break;
    }
    const k = c < 128 ? CLASS[c]! : 0;
    if (k === 0) return reject('invalid-char', `the path holds the byte 0x${c.toString(16).padStart(2, '0')}; only visible ASCII is allowed`);
    // Escapes, backslashes, params, `//`, and segments starting with a dot (maybe `.` or `..`).
    if (k === 2 || (c === 47 && (target.charCodeAt(i + 1) === 47 || target.charCodeAt(i + 1) === 46))) slow = true;
  }
  const fragment = end < target.length && target.indexOf('#', end) >= 0;
  if (!slow && !fragment) {
    // Fast path: nothing to decode, merge or resolve.
    const query = end < target.length ? target.slice(end) : '';
    return { ok: true, path: end === target.length ? target : target.slice(0, end), query, changed: false };
  }
  return finish(target.slice(start, end), target.slice(end), start > 0 || fragment, options);
}

/** Normalises a bare path (no query); undefined when refused. */
export function normalizePath(path: string, options?: PathNormalizeOptions): string | undefined {
  const r = normalizeRequestTarget(path.length === 0 ? '/' : path, options);
  return r.ok ? r.path : undefined;
}

function finish(rawPath: string, rest: string, changedSoFar: boolean, options: PathNormalizeOptions | undefined): NormalizedTarget {
  // Query: up to the fragment, kept as sent.
  const hash = rest.indexOf('#');
  const query = rest.charCodeAt(0) === 63 ? (hash < 0 ? rest : rest.slice(0, hash)) : '';
  const unescapeSlashes = options?.escapedSlashes === 'unescape';
  const segments: string[] = [];
  let seg = '';
  let params = false;
  let ambiguous = false;
  const endSegment = (last: boolean): void => {
    // `..;x` is a dot segment to servers that cut params first and a name to those (and WHATWG URL) that don't.
    if (params && (seg === '.' || seg === '..')) ambiguous = true;
    if (seg === '..') {
      // `/a//..`: `/a/` by RFC 3986 (empty segments count), `/` when slashes are merged first. Refuse rather than pick.
      if (segments.length > 0 && segments[segments.length - 1] === '') ambiguous = true;
      segments.pop();
      if (last) segments.push('');
    } else if (seg === '.') {
      if (last) segments.push('');
    } else {
      segments.push(seg);
    }
    seg = '';
    params = false;
  };
  for (let i = 1; i <= rawPath.length; i++) {
    if (i === rawPath.length) {
      endSegment(true);
      if (ambiguous) return AMBIGUOUS;
      break;
    }
    let c = rawPath.charCodeAt(i);
    const k = c < 128 ? CLASS[c]! : 0;
    if (k === 0) return reject('invalid-char', `the path holds the byte 0x${c.toString(16).padStart(2, '0')}; only visible ASCII is allowed`);
    let escaped = '';
    const raw = c;
    if (c === 37 /* % */) {
      const hi = hexValue(rawPath.charCodeAt(i + 1));
      const lo = hexValue(rawPath.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return reject('bad-escape', `"${rawPath.slice(i, i + 3)}" is not a percent-escape (two hex digits)`);
      const v = hi * 16 + lo;
      i += 2;
      if (v === 0) return reject('encoded-nul', 'the path holds an encoded NUL (%00)');
      if (v < 0x20 || v >= 0x7f) {
        if (v >= 0x80) {
          escaped = `%${HEX[hi]}${HEX[lo]}`; // UTF-8 bytes of non-ASCII names stay escaped
        } else {
          return reject('encoded-control', `the path holds an encoded control char (%${HEX[hi]}${HEX[lo]})`);
        }
      } else if (v === 0x3b) {
        // An escaped `;` is a param delimiter too: an application that decodes before cutting params must not see more than we did.
        c = 59;
      } else if (v === 0x2f || v === 0x5c) {
        if (!unescapeSlashes) return reject('escaped-slash', `the path holds an escaped ${v === 0x2f ? 'slash (%2F)' : 'backslash (%5C)'}; send a plain /`);
        c = 47;
      } else if (UNRESERVED[v] === 1) {
        c = v;
      } else {
        escaped = `%${HEX[hi]}${HEX[lo]}`;
      }
    } else if (c === 92 /* \ */) {
      if (!unescapeSlashes) return reject('escaped-slash', 'the path holds a backslash; send a plain /');
      c = 47;
    }
    if (c === 47 && escaped === '') {
      // Servers that cut params before decoding run the param on past an escaped slash; those that decode first end it there.
      if (params && raw !== 47) return reject('escaped-slash', 'an escaped slash or backslash inside ;params is read differently by different servers');
      endSegment(false);
      if (ambiguous) return AMBIGUOUS;
      continue;
    }
    if (params) continue;
    if (c === 59 /* ; */) {
      params = true;
      continue;
    }
    seg += escaped === '' ? String.fromCharCode(c) : escaped;
  }
  // Merge slashes: drop the empty segments, except a trailing one.
  let path = '';
  for (let j = 0; j < segments.length; j++) {
    if (segments[j] !== '' || j === segments.length - 1) path += `/${segments[j]}`;
  }
  if (path === '') path = '/';
  // Checked on the result, where decoding may have put two hex digits after a `%25`.
  if (path.includes('%25') && DOUBLE_ESCAPE.test(path)) {
    return reject('double-escape', 'the path holds an escaped escape (%25 and two hex digits): double encoding is refused');
  }
  return { ok: true, path, query, changed: changedSoFar || path !== rawPath };
}

/**
 * A Host (or :authority) header as policies compare it: lower case, no
 * trailing dot on the name, port kept. Undefined for a value that is not a
 * host[:port].
 */
export function normalizeHost(host: string): string | undefined {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9.])?)(?::(\d{1,5}))?$/.exec(host);
  if (m === null) return undefined;
  let name = m[1]!.toLowerCase();
  if (name.endsWith('.') && !name.startsWith('[')) name = name.slice(0, -1);
  if (name.length === 0 || name.includes('..')) return undefined;
  if (m[2] !== undefined && Number(m[2]) > 65535) return undefined;
  return m[2] === undefined ? name : `${name}:${m[2]}`;
}
