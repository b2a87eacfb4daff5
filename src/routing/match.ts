import { EnmeshError } from '../errors.ts';
import type { NamedMatch, RouteMatchModel, StringMatch } from '../model/types.ts';
import type { RequestView } from './types.ts';

/**
 * Route matching, compiled once per config into plain predicates so that a
 * request costs only the comparisons it needs: no regex compilation, no query
 * parsing unless a route matches on the query, no allocation otherwise.
 */

/** Tests one header or query value; `undefined` means the name is absent. */
export type StringPredicate = (value: string | undefined) => boolean;

/** Tests a path (query string included) whose path part ends at `pathEnd`. */
export type PathPredicate = (path: string, pathEnd: number) => boolean;

/**
 * Tests a request. `pathEnd` is {@link pathEnd}`(req.path)`, computed once per
 * request by the caller and shared by every route it tries.
 */
export type RouteMatcher = (req: RequestView, pathEnd: number) => boolean;

/** Index where the path part ends: the `?` that starts the query, or the length. */
export function pathEnd(path: string): number {
  const q = path.indexOf('?');
  return q < 0 ? path.length : q;
}

const isPresent: StringPredicate = (v) => v !== undefined;
const isAbsent: StringPredicate = (v) => v === undefined;
const anyPath: PathPredicate = () => true;
const noPath: PathPredicate = () => false;
const matchAll: RouteMatcher = () => true;

/**
 * Full-match semantics, as Envoy's `safe_regex`: `v1` must not match `xv1y`.
 * The pattern is JavaScript syntax (RE2 patterns without lookaround or
 * backreferences read the same).
 */
function compileRegex(pattern: string, where: string): RegExp {
  try {
    return new RegExp(`^(?:${pattern})$`);
  } catch (cause) {
    throw new EnmeshError(
      'ENMESH_ERR_CONFIG_INVALID',
      `${where}: invalid regex ${JSON.stringify(pattern)} (${(cause as Error).message}); fix the pattern`,
      { cause },
    );
  }
}

/** Compiles a header or query value match. `where` names the config location in errors. */
export function compileStringMatch(match: StringMatch, where = 'match'): StringPredicate {
  switch (match.kind) {
    case 'exact': {
      const value = match.value;
      return (v) => v === value;
    }
    case 'prefix': {
      const value = match.value;
      return (v) => v !== undefined && v.startsWith(value);
    }
    case 'suffix': {
      const value = match.value;
      return (v) => v !== undefined && v.endsWith(value);
    }
    case 'regex': {
      const re = compileRegex(match.value, where);
      return (v) => v !== undefined && re.test(v);
    }
    case 'present':
      return isPresent;
    case 'absent':
      return isAbsent;
  }
}

/**
 * Compiles a path match. The query string is never part of what is matched;
 * exact/prefix/suffix compare in place, only a regex needs the path sliced off
 * (and only when a query is present).
 */
export function compilePathMatch(match: StringMatch, where = 'match.path'): PathPredicate {
  switch (match.kind) {
    case 'exact': {
      const value = match.value;
      return (p, end) => end === value.length && p.startsWith(value);
    }
    case 'prefix': {
      const value = match.value;
      return (p, end) => value.length <= end && p.startsWith(value);
    }
    case 'suffix': {
      const value = match.value;
      return (p, end) => value.length <= end && p.endsWith(value, end);
    }
    case 'regex': {
      const re = compileRegex(match.value, where);
      return (p, end) => re.test(end === p.length ? p : p.slice(0, end));
    }
    case 'present':
      return anyPath;
    case 'absent':
      return noPath;
  }
}

/** Decodes a query key or value as a form would (`+` is a space); malformed escapes stay as sent. */
function decodeQueryComponent(s: string): string {
  if (s.indexOf('%') < 0 && s.indexOf('+') < 0) return s;
  const spaced = s.replaceAll('+', ' ');
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

function hasEscape(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */ || c === 43 /* + */) return true;
  }
  return false;
}

/**
 * First value of query parameter `name` in `path` (whose query starts after
 * `pathEnd`), decoded; `''` for a bare key; undefined when absent. Scans the
 * query in place instead of building a map: only the value found is allocated.
 */
export function queryParam(path: string, pathEnd: number, name: string): string | undefined {
  const len = path.length;
  let i = pathEnd + 1;
  while (i < len) {
    let amp = path.indexOf('&', i);
    if (amp < 0) amp = len;
    let eq = path.indexOf('=', i);
    if (eq < 0 || eq > amp) eq = amp;
    const keyMatches =
      (eq - i === name.length && path.startsWith(name, i)) ||
      (hasEscape(path, i, eq) && decodeQueryComponent(path.slice(i, eq)) === name);
    if (keyMatches) return eq === amp ? '' : decodeQueryComponent(path.slice(eq + 1, amp));
    i = amp + 1;
  }
  return undefined;
}

interface NamedPredicates {
  readonly names: readonly string[];
  readonly tests: readonly StringPredicate[];
}

function compileNamed(matches: readonly NamedMatch[], where: string): NamedPredicates {
  return {
    names: matches.map((m) => m.name),
    tests: matches.map((m, i) => compileStringMatch(m.match, `${where}[${i}] (${m.name})`)),
  };
}

/**
 * Compiles a route's match. Cheapest checks first: method, path, headers, and
 * the query last since it is the only one that may need to decode.
 */
export function compileRouteMatch(match: RouteMatchModel, where = 'match'): RouteMatcher {
  const methods = match.methods.length > 0 ? match.methods : undefined;
  const path = match.path === undefined ? undefined : compilePathMatch(match.path, `${where}.path`);
  const headers = match.headers.length > 0 ? compileNamed(match.headers, `${where}.headers`) : undefined;
  const query = match.query.length > 0 ? compileNamed(match.query, `${where}.query`) : undefined;
  if (methods === undefined && path === undefined && headers === undefined && query === undefined) return matchAll;

  return (req, end) => {
    if (methods !== undefined && !methods.includes(req.method)) return false;
    if (path !== undefined && !path(req.path, end)) return false;
    if (headers !== undefined) {
      const { names, tests } = headers;
      for (let i = 0; i < names.length; i++) if (!tests[i](req.header(names[i]))) return false;
    }
    if (query !== undefined) {
      const { names, tests } = query;
      const p = req.path;
      for (let i = 0; i < names.length; i++) if (!tests[i](queryParam(p, end, names[i]))) return false;
    }
    return true;
  };
}
