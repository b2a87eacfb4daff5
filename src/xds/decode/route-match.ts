/** `RouteMatch` → RouteMatchModel. */
import type { NamedMatch, RouteMatchModel, StringMatch } from '../../model/types.ts';
import type { JsonObject } from '../metadata.ts';
import { invalid, METADATA_PATH, metaArray, type Obj, type Where } from './fields.ts';

export function decodeMatch(match: Obj | undefined, meta: JsonObject | undefined, where: Where, at: string): RouteMatchModel {
  if (match === undefined) invalid(where, `${at}.match`, 'missing');
  const path = decodePath(match, meta, where, `${at}.match`);
  if (match.case_sensitive !== undefined && match.case_sensitive.value === false) {
    invalid(where, `${at}.match.case_sensitive`, 'case-insensitive matching is not supported');
  }
  for (const unsupported of ['runtime_fraction', 'grpc', 'tls_context', 'dynamic_metadata', 'filter_state']) {
    const v = match[unsupported];
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) invalid(where, `${at}.match.${unsupported}`, 'not supported');
  }

  let methods: string[] = [];
  const headers: NamedMatch[] = [];
  ((match.headers ?? []) as Obj[]).forEach((h, i) => {
    const hp = `${at}.match.headers[${i}]`;
    if (h.name === ':method' && methods.length === 0) {
      const parsed = parseMethodMatcher(h);
      if (parsed !== undefined && parsed.length > 0) {
        methods = parsed;
        return;
      }
    }
    headers.push(decodeHeaderMatcher(h, where, hp));
  });

  const query: NamedMatch[] = ((match.query_parameters ?? []) as Obj[]).map((q, i) => {
    const qp = `${at}.match.query_parameters[${i}]`;
    const name = String(q.name ?? '');
    if (name === '') invalid(where, `${qp}.name`, 'missing');
    if (q.present_match === true) return { name, match: { kind: 'present' } };
    if (q.string_match !== undefined) return { name, match: decodeStringMatcher(q.string_match, where, `${qp}.string_match`) };
    return invalid(where, qp, 'no match specifier (set string_match or present_match)');
  });
  // Reinsert the "parameter absent" matchers, which only metadata can carry, at their positions.
  const absent = metaArray(meta, 'queryAbsent', where, METADATA_PATH) ?? [];
  for (const entry of absent) {
    const e = entry as { name?: unknown; index?: unknown };
    if (typeof e?.name !== 'string' || typeof e.index !== 'number') invalid(where, `${METADATA_PATH}.queryAbsent`, 'expected {name, index} entries');
    query.splice(Math.min(e.index, query.length), 0, { name: e.name, match: { kind: 'absent' } });
  }

  return path === undefined ? { methods, headers, query } : { path, methods, headers, query };
}

function decodePath(match: Obj, meta: JsonObject | undefined, where: Where, at: string): StringMatch | undefined {
  switch (match.path_specifier) {
    case 'prefix': {
      const value = String(match.prefix ?? '');
      // `/` (or nothing) matches every path: the model says that by having no path match.
      if ((value === '/' || value === '') && meta?.rootPrefix !== true) return undefined;
      return { kind: 'prefix', value };
    }
    case 'path':
      return { kind: 'exact', value: String(match.path ?? '') };
    case 'safe_regex':
      return { kind: 'regex', value: regex(match.safe_regex, where, `${at}.safe_regex`) };
    case undefined:
      return invalid(where, at, 'no path specifier (set prefix, path or safe_regex)');
    default:
      return invalid(where, `${at}.${String(match.path_specifier)}`, 'unsupported path specifier (use prefix, path or safe_regex)');
  }
}

/** A RegexMatcher's pattern, checked to compile. */
export function regex(matcher: Obj | undefined, where: Where, at: string): string {
  const pattern = String(matcher?.regex ?? '');
  if (pattern === '') invalid(where, `${at}.regex`, 'missing');
  try {
    new RegExp(pattern);
  } catch {
    invalid(where, `${at}.regex`, `not a valid regular expression: ${pattern}`);
  }
  return pattern;
}

/** The methods of a `:method` matcher as the translator writes it; undefined for other shapes. */
export function parseMethodMatcher(h: Obj): string[] | undefined {
  if (h.present_match === true && h.invert_match === true) return [];
  if (h.invert_match === true) return undefined;
  const exact = h.string_match?.exact ?? h.exact_match;
  if (typeof exact === 'string' && exact !== '') return [exact];
  const pattern = (h.string_match?.safe_regex ?? h.safe_regex_match)?.regex;
  if (typeof pattern !== 'string') return undefined;
  const m = /^\^\(([A-Za-z_-]+(?:\|[A-Za-z_-]+)*)\)\$$/.exec(pattern);
  return m === null ? undefined : m[1].split('|');
}

export function decodeHeaderMatcher(h: Obj, where: Where, at: string): NamedMatch {
  const name = String(h.name ?? '').toLowerCase();
  if (name === '') invalid(where, `${at}.name`, 'missing');
  const invert = h.invert_match === true;
  let match: StringMatch;
  switch (h.header_match_specifier) {
    case 'present_match':
      // present_match false (rarely sent) means "absent", as does an inverted true.
      return { name, match: { kind: h.present_match === true && !invert ? 'present' : 'absent' } };
    case 'string_match':
      match = decodeStringMatcher(h.string_match, where, `${at}.string_match`);
      break;
    case 'exact_match':
      match = { kind: 'exact', value: String(h.exact_match ?? '') };
      break;
    case 'prefix_match':
      match = { kind: 'prefix', value: String(h.prefix_match) };
      break;
    case 'suffix_match':
      match = { kind: 'suffix', value: String(h.suffix_match) };
      break;
    case 'safe_regex_match':
      match = { kind: 'regex', value: regex(h.safe_regex_match, where, `${at}.safe_regex_match`) };
      break;
    case undefined:
      // No specifier: Envoy treats it as "present".
      return { name, match: { kind: invert ? 'absent' : 'present' } };
    default:
      return invalid(where, `${at}.${String(h.header_match_specifier)}`, 'unsupported header match');
  }
  if (invert) invalid(where, `${at}.invert_match`, 'only supported with present_match');
  return { name, match };
}

export function decodeStringMatcher(m: Obj | undefined, where: Where, at: string): StringMatch {
  if (m?.ignore_case === true) invalid(where, `${at}.ignore_case`, 'case-insensitive matching is not supported');
  switch (m?.match_pattern) {
    case 'exact':
      return { kind: 'exact', value: String(m.exact ?? '') };
    case 'prefix':
      return { kind: 'prefix', value: String(m.prefix ?? '') };
    case 'suffix':
      return { kind: 'suffix', value: String(m.suffix ?? '') };
    case 'safe_regex':
      return { kind: 'regex', value: regex(m.safe_regex, where, `${at}.safe_regex`) };
    case undefined:
      // An exact match on the empty string encodes as nothing at all.
      return { kind: 'exact', value: '' };
    default:
      return invalid(where, `${at}.${String(m?.match_pattern)}`, 'unsupported string match (use exact, prefix, suffix or safe_regex)');
  }
}
