import type { RedirectModel, RouteModel } from '../model/types.ts';

const DEFAULT_PORT: Readonly<Record<string, number>> = { http: 80, https: 443 };

/**
 * Replaces `prefix` at the start of `path` (query kept) with `replacement`.
 * Slashes at the seam are fixed up as users expect (and as Gateway API's
 * ReplacePrefixMatch does): `/api` → `/` on `/api/x` gives `/x`, not `//x`,
 * and `/api/` → `/v2` on `/api/x` gives `/v2/x`, not `/v2x`.
 * A path that does not start with `prefix` is returned unchanged.
 */
export function rewritePrefix(path: string, prefix: string, replacement: string): string {
  if (!path.startsWith(prefix)) return path;
  let rest = path.slice(prefix.length);
  const restStartsWithSlash = rest.charCodeAt(0) === 47; /* / */
  if (replacement.endsWith('/')) {
    if (restStartsWithSlash) rest = rest.slice(1);
  } else if (prefix.endsWith('/') && rest.length > 0 && !restStartsWithSlash && rest.charCodeAt(0) !== 63 /* ? */) {
    rest = `/${rest}`;
  }
  const out = replacement + rest;
  return out.length === 0 || out.charCodeAt(0) === 63 ? `/${out}` : out;
}

/**
 * The path to forward for a route with `rewritePrefix`: the matched prefix (or
 * exact path) replaced. Routes without a rewrite, or matching by regex, keep
 * the path.
 */
export function rewriteRoutePath(route: RouteModel, path: string): string {
  const replacement = route.rewritePrefix;
  const match = route.match.path;
  if (replacement === undefined || match === undefined) return path;
  if (match.kind !== 'prefix' && match.kind !== 'exact') return path;
  return rewritePrefix(path, match.value, replacement);
}

function bracketIpv6(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

/** Splits `host:port`, `[v6]:port`, `host` or a bare IPv6 literal. */
function splitAuthority(authority: string): { host: string; port: number | undefined } {
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    const host = authority.slice(0, close + 1);
    const port = authority.charCodeAt(close + 1) === 58 /* : */ ? Number(authority.slice(close + 2)) : undefined;
    return { host, port: Number.isInteger(port) ? port : undefined };
  }
  const colon = authority.indexOf(':');
  if (colon < 0 || colon !== authority.lastIndexOf(':')) return { host: bracketIpv6(authority), port: undefined };
  const port = Number(authority.slice(colon + 1));
  return { host: authority.slice(0, colon), port: Number.isInteger(port) ? port : undefined };
}

/**
 * The `Location` of a redirect, as an absolute URL.
 *
 * - scheme: the redirect's, else the request's.
 * - host: the redirect's, else the request authority's host.
 * - port: the redirect's; else, when the scheme changes, the new scheme's
 *   well-known port; else the request's. A well-known port is left out.
 * - path: `path` replaces the whole path (a query inside it replaces the
 *   request's); `prefixRewrite` replaces `matchedPrefix` (the route's prefix
 *   match); else the request path. The request query is kept unless
 *   `stripQuery`.
 *
 * @param path request path with query, as sent
 * @param authority request `host[:port]`
 * @param scheme request scheme, `http` or `https`
 */
export function redirectLocation(
  path: string,
  authority: string,
  scheme: string,
  redirect: RedirectModel,
  matchedPrefix?: string,
): string {
  const newScheme = redirect.scheme ?? scheme;
  const requested = splitAuthority(authority);
  const host = redirect.host === undefined ? requested.host : bracketIpv6(redirect.host);
  let port: number | undefined;
  if (redirect.port !== undefined) port = redirect.port;
  else if (redirect.scheme === undefined || redirect.scheme === scheme) port = requested.port;
  const portPart = port === undefined || port === DEFAULT_PORT[newScheme] ? '' : `:${port}`;
  const base = `${newScheme}://${host}${portPart}`;

  const q = path.indexOf('?');
  const bare = q < 0 ? path : path.slice(0, q);
  const query = q < 0 || redirect.stripQuery ? '' : path.slice(q);
  if (redirect.path !== undefined) {
    return redirect.path.includes('?') ? base + redirect.path : base + redirect.path + query;
  }
  if (redirect.prefixRewrite !== undefined && matchedPrefix !== undefined) {
    return base + rewritePrefix(bare, matchedPrefix, redirect.prefixRewrite) + query;
  }
  return base + bare + query;
}
