/**
 * A linear pre-scan for flow collections (`[...]`, `{...}`) nested deeper than
 * a limit, run before the YAML parser: the parser builds every level of its
 * syntax tree before the depth can be checked on it, about 2 kB and 30 µs per
 * level, so 200 kB of `[[[[...` would cost 200 MB and seconds. Block nesting
 * needs a line of indentation per level, which the size limit bounds, and is
 * checked on the tree as before.
 *
 * Only indicators where YAML starts a node count (after a line start, `: `,
 * `[`, `{`, `,` in a flow collection, or `- ` / `? ` there), so `a[0]` in a
 * plain scalar does not; quoted
 * scalars, comments and block scalars (`|`, `>`) are skipped. Flow depth alone
 * over the limit means the whole depth is too.
 *
 * The same pass counts alias nodes (`*name` where a node starts: a plain
 * scalar cannot begin with `*`): the parser keeps a node, a token and a map
 * entry for each, about 4.5 kB apiece, before alias expansion is limited, so
 * 10 000 of them in 120 kB would cost 45 MB.
 */

/** Offset of the first flow collection opened deeper than `limit`, or undefined. */
export function deepFlowOffset(text: string, limit: number): number | undefined {
  const r = scanYamlHazards(text, limit, Infinity);
  return r?.kind === 'depth' ? r.offset : undefined;
}

export interface YamlHazard {
  readonly kind: 'depth' | 'aliases';
  /** Where the first flow collection over the depth limit opens, or the first alias over the count. */
  readonly offset: number;
}

/** The first of: flow nesting deeper than `maxDepth`, more than `maxAliases` alias nodes. */
export function scanYamlHazards(text: string, maxDepth: number, maxAliases: number): YamlHazard | undefined {
  const limit = maxDepth;
  let aliases = 0;
  let depth = 0;
  /** Whether a node may start here (only whitespace since a line start or an indicator). */
  let nodeStart = true;
  let lineIndent = 0;
  let atLineStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') {
      nodeStart = true;
      atLineStart = true;
      lineIndent = 0;
      continue;
    }
    if (c === ' ' || c === '\t') {
      if (atLineStart) lineIndent++;
      continue;
    }
    const lineStart = atLineStart;
    atLineStart = false;
    if (c === '#' && (lineStart || text[i - 1] === ' ' || text[i - 1] === '\t')) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++;
      continue;
    }
    const spaceAfter = i + 1 >= text.length || text[i + 1] === ' ' || text[i + 1] === '\t' || text[i + 1] === '\n';
    if (nodeStart && (c === '"' || c === "'")) {
      i = skipQuoted(text, i, c);
      nodeStart = false;
    } else if (nodeStart && depth === 0 && (c === '|' || c === '>')) {
      i = skipBlockScalar(text, i, lineIndent) - 1;
    } else if (nodeStart && (c === '[' || c === '{')) {
      depth++;
      if (depth > limit) return { kind: 'depth', offset: i };
    } else if (nodeStart && c === '*') {
      if (++aliases > maxAliases) return { kind: 'aliases', offset: i };
      nodeStart = false;
    } else if ((c === ']' || c === '}') && depth > 0) {
      depth--;
      nodeStart = false;
    } else if (c === ':') {
      nodeStart = spaceAfter || depth > 0;
    } else if (c === ',' && depth > 0) {
      nodeStart = true;
    } else if ((c === '-' || c === '?') && nodeStart && spaceAfter) {
      nodeStart = true;
    } else {
      nodeStart = false;
    }
  }
  return undefined;
}

/** Index of the closing quote (or the end); `''` escapes a single quote, `\` escapes in double quotes. */
function skipQuoted(text: string, open: number, quote: string): number {
  for (let i = open + 1; i < text.length; i++) {
    const c = text[i];
    if (quote === '"' && c === '\\') i++;
    else if (c === quote) {
      if (quote === "'" && text[i + 1] === "'") i++;
      else return i;
    }
  }
  return text.length;
}

/** Index of the newline ending the block scalar's last line: lines indented deeper than its key, or blank. */
function skipBlockScalar(text: string, at: number, keyIndent: number): number {
  let i = text.indexOf('\n', at);
  while (i !== -1 && i + 1 < text.length) {
    let j = i + 1;
    while (text[j] === ' ') j++;
    const blank = text[j] === '\n' || j >= text.length;
    if (!blank && j - (i + 1) <= keyIndent) return i;
    const next = text.indexOf('\n', j);
    if (next === -1) return text.length;
    i = next;
  }
  return i === -1 ? text.length : i;
}
