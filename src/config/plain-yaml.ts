/**
 * The common mesh.yaml read cheaply. The `yaml` package, which load.ts keeps
 * for what it does best (line and column of every node, duplicate keys named,
 * alias expansion limited), builds a syntax tree and a document of nodes with
 * source ranges before the values: for a file of 1,000 endpoints that is
 * about 14 MB of resident memory the process keeps after the garbage is
 * collected (V8 holds on to the pages), where js-yaml, building the values
 * directly, leaves about 2 MB (docs/performance.md, P8).
 *
 * Both must read the same values. The schema below is YAML 1.2's core schema
 * with the `yaml` package's own patterns (js-yaml's differ: it reads `0b101`
 * and `+0o7` as numbers, `-.5` as a string). A document with an anchor is left
 * to the other path, which limits how far aliases expand; so is a document
 * with a collection for a key, which the two turn into different strings, and
 * anything js-yaml refuses (a duplicate key, several documents, an unknown tag, too
 * deep), and the caller parses again with `yaml` for a located error.
 */
import { createRequire } from 'node:module';
import type * as JsYaml from 'js-yaml';

// The CommonJS build: V8 keeps every module's source, and the ES module build is one file
// with a few characters outside Latin-1, so all of it is kept at two bytes a character
// (0.43 MB of heap against 0.19 MB for the CommonJS files, where only the dumper has them).
const { FAILSAFE_SCHEMA, load, Type } = createRequire(import.meta.url)('js-yaml') as typeof JsYaml;

const nullType = new Type('tag:yaml.org,2002:null', {
  kind: 'scalar',
  resolve: (s: string) => /^(?:~|[Nn]ull|NULL)?$/.test(s),
  construct: () => null,
  predicate: (v: unknown) => v === null,
});

const boolType = new Type('tag:yaml.org,2002:bool', {
  kind: 'scalar',
  resolve: (s: string) => /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/.test(s),
  construct: (s: string) => s[0] === 't' || s[0] === 'T',
  predicate: (v: unknown) => typeof v === 'boolean',
});

const INT = /^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$/;
const intType = new Type('tag:yaml.org,2002:int', {
  kind: 'scalar',
  resolve: (s: string) => INT.test(s),
  construct: (s: string) => (s[1] === 'o' ? parseInt(s.slice(2), 8) : s[1] === 'x' ? parseInt(s.slice(2), 16) : Number(s)),
  predicate: (v: unknown) => Number.isInteger(v),
});

const FLOAT = /^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+|[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)|[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const floatType = new Type('tag:yaml.org,2002:float', {
  kind: 'scalar',
  resolve: (s: string) => FLOAT.test(s),
  construct: (s: string) => {
    if (s.endsWith('nan') || s.endsWith('NaN') || s.endsWith('NAN')) return NaN;
    if (/inf$/i.test(s)) return s[0] === '-' ? -Infinity : Infinity;
    return Number(s);
  },
  predicate: (v: unknown) => typeof v === 'number',
});

/** YAML 1.2 core schema, matched exactly as the `yaml` package matches it. */
const CORE = FAILSAFE_SCHEMA.extend({ implicit: [nullType, boolType, intType, floatType] });

/** What js-yaml's loader state shows a listener (its published types name fewer fields). */
interface ListenedState {
  readonly anchor?: string | null;
  readonly kind: string | null;
  readonly result: unknown;
}

/**
 * Whether every collection the loader built is in the value: one used as a key
 * (`[a]: 1`, `{ a }`, `? [a]`) was turned into a string, `a` or
 * `[object Object]`, where the `yaml` package writes `[ a ]`. Without anchors
 * the value is a tree, so the walk is linear.
 */
function allReachable(value: unknown, built: readonly unknown[]): boolean {
  const seen = new Set<unknown>();
  const stack = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null) continue;
    seen.add(v);
    for (const child of Object.values(v)) stack.push(child);
  }
  return built.every((c) => seen.has(c));
}

/**
 * The document's value, or undefined when this path cannot vouch for it
 * (anchors, or anything js-yaml refuses): then parse with load.ts's full path.
 */
export function readPlainYaml(text: string, maxDepth: number): { readonly value: unknown } | undefined {
  let anchored = false;
  const collections: unknown[] = [];
  try {
    const value = load(text, {
      schema: CORE,
      // js-yaml ≥ 4.3 takes maxDepth; the published types predate it.
      ...({ maxDepth } as object),
      listener(event, state) {
        if (event !== 'close') return;
        const node = state as unknown as ListenedState;
        if (node.anchor != null) anchored = true;
        if (node.kind === 'mapping' || node.kind === 'sequence') collections.push(node.result);
      },
    });
    return anchored || !allReachable(value, collections) ? undefined : { value };
  } catch {
    return undefined;
  }
}
