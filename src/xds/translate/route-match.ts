/** RouteMatchModel → `envoy.config.route.v3.RouteMatch`. */
import { EnmeshError } from '../../errors.ts';
import type { NamedMatch, RouteModel, StringMatch } from '../../model/types.ts';
import type { Message } from './types.ts';

export interface TranslatedMatch {
  readonly match: Message;
  /** Route metadata entries for what the standard match cannot say. */
  readonly metadata: Record<string, unknown>;
}

/**
 * @param grpcClient the client is a gRPC xDS client: its calls are always POST
 *   and never carry a query string, and it ignores query matchers, so those
 *   are rewritten to keep the meaning (see docs/xds-mapping.md).
 * @returns undefined when the route can never match for this client.
 */
export function translateMatch(route: RouteModel, where: string, grpcClient: boolean): TranslatedMatch | undefined {
  const { path, methods, headers, query } = route.match;
  const match: Message = {};
  const metadata: Record<string, unknown> = {};

  if (path === undefined) {
    match.prefix = '/';
  } else if (path.kind === 'exact') {
    match.path = path.value;
  } else if (path.kind === 'prefix') {
    match.prefix = path.value;
    // `prefix: /` also stands for "no path match"; remember that this one was spelled out.
    if (path.value === '/') metadata.rootPrefix = true;
  } else if (path.kind === 'regex') {
    match.safe_regex = { regex: path.value };
  } else {
    throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', `${where}: a path match must be exact, prefix or regex, not ${path.kind}`);
  }

  const headerMatchers: Message[] = [];
  // gRPC calls are all POST, and a gRPC client cannot see `:method`: keep the meaning by dropping the matcher.
  if (methods.length > 0 && !(grpcClient && methods.includes('POST'))) headerMatchers.push(methodMatcher(methods));
  for (const h of headers) headerMatchers.push(headerMatcher(h));
  if (headerMatchers.length > 0) match.headers = headerMatchers;

  const queryMatchers: Message[] = [];
  const queryAbsent: { name: string; index: number }[] = [];
  query.forEach((q, index) => {
    // No standard field says "parameter absent": metadata carries it, with its position.
    if (q.match.kind === 'absent') queryAbsent.push({ name: q.name, index });
    else if (q.match.kind === 'present') queryMatchers.push({ name: q.name, present_match: true });
    else queryMatchers.push({ name: q.name, string_match: stringMatcher(q.match) });
  });
  if (grpcClient && queryMatchers.length > 0) return undefined;
  if (queryMatchers.length > 0) match.query_parameters = queryMatchers;
  if (queryAbsent.length > 0) metadata.queryAbsent = queryAbsent;

  return { match, metadata };
}

/** A `:method` header matcher: exact for one method, an anchored alternation for several. */
export function methodMatcher(methods: readonly string[]): Message {
  if (methods.length === 0) return { name: ':method', present_match: true, invert_match: true };
  if (methods.length === 1) return { name: ':method', string_match: { exact: methods[0] } };
  return { name: ':method', string_match: { safe_regex: { regex: `^(${methods.map(escapeRegex).join('|')})$` } } };
}

function headerMatcher(h: NamedMatch): Message {
  switch (h.match.kind) {
    case 'present':
      return { name: h.name, present_match: true };
    case 'absent':
      return { name: h.name, present_match: true, invert_match: true };
    default:
      return { name: h.name, string_match: stringMatcher(h.match) };
  }
}

function stringMatcher(m: Exclude<StringMatch, { kind: 'present' } | { kind: 'absent' }>): Message {
  switch (m.kind) {
    case 'exact':
      return { exact: m.value };
    case 'prefix':
      return { prefix: m.value };
    case 'suffix':
      return { suffix: m.value };
    case 'regex':
      return { safe_regex: { regex: m.value } };
  }
}

function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}
