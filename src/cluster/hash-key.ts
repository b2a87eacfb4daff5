import type { HashOn } from '../model/types.ts';
import type { RequestView } from '../routing/types.ts';

/** Computes a request's ring-hash key; undefined means "no key: pick at random". */
export type HashKeyOf = (req: RequestView) => string | undefined;

const noKey: HashKeyOf = () => undefined;

function isCookieSeparator(c: number): boolean {
  // `;` between cookies, `,` where a transport joined several cookie headers, and whitespace.
  return c === 59 || c === 44 || c === 32 || c === 9;
}

/**
 * The value of cookie `name` in a `Cookie` header, or undefined. Scans for the
 * name in place: only the value found is allocated. Surrounding double quotes
 * are removed (RFC 6265 allows them around a value).
 */
export function findCookie(header: string, name: string): string | undefined {
  if (name.length === 0) return undefined;
  let from = 0;
  for (;;) {
    const at = header.indexOf(name, from);
    if (at < 0) return undefined;
    const eq = at + name.length;
    if ((at === 0 || isCookieSeparator(header.charCodeAt(at - 1))) && header.charCodeAt(eq) === 61 /* = */) {
      let end = eq + 1;
      while (end < header.length && header.charCodeAt(end) !== 59 && header.charCodeAt(end) !== 44) end++;
      let start = eq + 1;
      while (end > start && (header.charCodeAt(end - 1) === 32 || header.charCodeAt(end - 1) === 9)) end--;
      if (end - start >= 2 && header.charCodeAt(start) === 34 && header.charCodeAt(end - 1) === 34) {
        start++;
        end--;
      }
      return header.slice(start, end);
    }
    from = at + 1;
  }
}

/**
 * Compiles the `hashOn` setting into a key function, once per config. The
 * first configured source wins (header, then cookie, then source IP); when
 * the request lacks it the key is undefined and the ring is sampled at random.
 */
export function compileHashKey(hashOn: HashOn | undefined): HashKeyOf {
  if (hashOn === undefined) return noKey;
  const { header, cookie } = hashOn;
  if (header !== undefined) {
    const name = header.toLowerCase();
    return (req) => req.header(name);
  }
  if (cookie !== undefined) {
    return (req) => {
      const h = req.header('cookie');
      return h === undefined ? undefined : findCookie(h, cookie);
    };
  }
  if (hashOn.sourceIp === true) return (req) => req.sourceIp;
  return noKey;
}

/**
 * The key for one request, without compiling anything: for callers that do
 * not keep a {@link compileHashKey} function. Same precedence and result.
 */
export function computeHashKey(hashOn: HashOn | undefined, req: RequestView): string | undefined {
  if (hashOn === undefined) return undefined;
  if (hashOn.header !== undefined) return req.header(hashOn.header.toLowerCase());
  if (hashOn.cookie !== undefined) {
    const h = req.header('cookie');
    return h === undefined ? undefined : findCookie(h, hashOn.cookie);
  }
  return hashOn.sourceIp === true ? req.sourceIp : undefined;
}
