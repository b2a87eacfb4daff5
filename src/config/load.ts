import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { CST, Document, LineCounter, Node, ParsedNode } from 'yaml';
import { EnmeshError } from '../errors.ts';
import type { MeshModel } from '../model/types.ts';
import { MAX_NESTING } from './check.ts';
import { scanYamlHazards } from './flow-depth.ts';
import { configError, formatPath } from './issues.ts';
import type { KeyPath, LocatedIssue } from './issues.ts';
import { readPlainYaml } from './plain-yaml.ts';
import { checkModel } from './validate.ts';

export interface LoadOptions {
  /** Largest document accepted, in bytes. Default 1 MiB. */
  readonly maxBytes?: number;
  /** Deepest nesting of mappings and lists accepted. Default 32 (mesh.yaml needs about 10). */
  readonly maxDepth?: number;
}

export const DEFAULT_MAX_BYTES = 1024 * 1024;
export const DEFAULT_MAX_DEPTH = MAX_NESTING;
/** Alias expansions allowed per anchor: enough to reuse a block, far too few for "billion laughs". */
const MAX_ALIAS_COUNT = 50;
/** Alias nodes a file may hold at all, counted before parsing (each costs the parser about 4.5 kB). */
const MAX_ALIAS_NODES = 1000;

type YamlDoc = Document.Parsed<ParsedNode, true>;

let yamlModule: typeof Yaml | undefined;
/** The `yaml` package, loaded the first time a file needs the full path (plain-yaml.ts reads the rest). */
const yaml = (): typeof Yaml => (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof Yaml);

/**
 * Parses mesh.yaml text into the frozen model. Syntax errors, duplicate keys
 * and validation problems all come out as one ENMESH_ERR_CONFIG_INVALID naming
 * `source`, with line and column where they are known.
 */
export function parseMeshYaml(text: string, source: string, options: LoadOptions = {}): MeshModel {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) {
    throw tooLarge(source, bytes, maxBytes);
  }

  // Deep flow nesting and masses of aliases are refused before the parser builds them (see flow-depth.ts).
  const hazard = scanYamlHazards(text, maxDepth, MAX_ALIAS_NODES);
  if (hazard === undefined) {
    // A valid file without anchors is read cheaply; anything else is read again below, for positions.
    const plain = readPlainYaml(text, maxDepth);
    const result = plain === undefined ? undefined : checkModel(plain.value, source);
    if (result?.model !== undefined && result.issues.length === 0) return result.model;
  }
  const { Composer, LineCounter, Parser } = yaml();
  const lines = new LineCounter();
  if (hazard !== undefined) {
    // LineCounter needs every line start, the first one included.
    lines.addNewLine(0);
    for (let i = text.indexOf('\n'); i !== -1 && i < hazard.offset; i = text.indexOf('\n', i + 1)) lines.addNewLine(i + 1);
    const { line, col } = lines.linePos(hazard.offset);
    const message =
      hazard.kind === 'depth'
        ? `nesting is deeper than ${maxDepth} levels; mesh.yaml never needs that much`
        : `more than ${MAX_ALIAS_NODES} aliases (*name); mesh.yaml never needs that many: write the values out or use fewer anchors`;
    throw configError(source, [{ path: '', message, line, column: col }]);
  }

  // Parse to the concrete syntax tree first (cheap, iterative) and refuse deep
  // nesting before composing the document, whose recursion it would strain.
  const tokens = Array.from(new Parser(lines.addNewLine).parse(text));
  const tooDeep = deepestOffset(tokens, maxDepth);
  if (tooDeep !== undefined) {
    const { line, col } = lines.linePos(tooDeep);
    throw configError(source, [{ path: '', message: `nesting is deeper than ${maxDepth} levels; mesh.yaml never needs that much`, line, column: col }]);
  }

  const docs = Array.from(new Composer({ uniqueKeys: false }).compose(tokens, true, text.length)) as YamlDoc[];
  if (docs.length > 1) {
    const { line, col } = lines.linePos(docs[1].range[0]);
    throw configError(source, [{ path: '', message: `found ${docs.length} YAML documents; mesh.yaml holds one (remove the --- separator)`, line, column: col }]);
  }
  const doc = docs[0];
  if (doc.errors.length > 0) {
    throw configError(
      source,
      doc.errors.map((err) => {
        const { line, col } = lines.linePos(err.pos[0]);
        return { path: `line ${line}, column ${col}`, message: `YAML syntax error: ${err.message.split('\n')[0]}` };
      }),
    );
  }

  const issues: LocatedIssue[] = [];
  findDuplicateKeys(doc.contents, [], lines, issues);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const unresolved: LocatedIssue[] = [];
    findUnresolvedAliases(doc.contents, [], new Set(), lines, unresolved);
    if (unresolved.length > 0) throw configError(source, [...issues, ...unresolved]);
    throw configError(source, [...issues, { path: '', message: `cannot expand aliases: ${(err as Error).message}; use fewer *alias references` }]);
  }
  const result = checkModel(raw, source);
  for (const issue of result.issues) {
    const offset = locate(doc, issue.at);
    const pos = offset === undefined ? undefined : lines.linePos(offset);
    issues.push({ path: formatPath(issue.at), message: issue.message, ...(pos && { line: pos.line, column: pos.col }) });
  }
  if (issues.length > 0 || result.model === undefined) throw configError(source, issues);
  return result.model;
}

/** Reads and parses a mesh.yaml file; an unreadable file is ENMESH_ERR_CONFIG_READ. */
export async function loadMeshFile(path: string, options: LoadOptions = {}): Promise<MeshModel> {
  return parseMeshYaml(await readMeshFile(path, options.maxBytes), path, options);
}

/**
 * The file's text; a failure to read is ENMESH_ERR_CONFIG_READ naming the path.
 * A file over `maxBytes` is refused from its size, before it is read into memory.
 */
export async function readMeshFile(path: string, maxBytes = DEFAULT_MAX_BYTES): Promise<string> {
  let handle: FileHandle | undefined;
  let size: number;
  let bytes: Buffer | undefined;
  try {
    handle = await open(path, 'r');
    size = (await handle.stat()).size;
    if (size <= maxBytes) bytes = await handle.readFile();
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new EnmeshError('ENMESH_ERR_CONFIG_READ', `cannot read mesh config ${path}: ${reason}`, { cause: err, file: path });
  } finally {
    await handle?.close().catch(() => undefined);
  }
  if (bytes === undefined) throw tooLarge(path, size, maxBytes);
  return decodeUtf8(bytes, path);
}

/**
 * The text of `bytes`, refusing invalid UTF-8: a lenient decode would turn
 * the bytes into U+FFFD and load a value nobody wrote.
 */
export function decodeUtf8(bytes: Uint8Array, source: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    // The shortest prefix that fails ends at the first bad byte (`stream` lets a prefix end mid-character).
    let lo = 0;
    let hi = bytes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(0, mid + 1), { stream: true });
        lo = mid + 1;
      } catch {
        hi = mid;
      }
    }
    let line = 1;
    for (let i = 0; i < lo && i < bytes.length; i++) if (bytes[i] === 0x0a) line++;
    throw configError(source, [{ path: '', message: `not valid UTF-8 at line ${line}; save the file as UTF-8`, line }]);
  }
}

function tooLarge(source: string, bytes: number, maxBytes: number): EnmeshError {
  return configError(source, [{ path: '', message: `the document is ${bytes} bytes; the limit is ${maxBytes} bytes. Split or trim it` }]);
}

/** Offset of the first collection nested deeper than `limit`, walking the CST without recursion. */
function deepestOffset(tokens: readonly CST.Token[], limit: number): number | undefined {
  const stack: { token: CST.Token; depth: number }[] = tokens.map((token) => ({ token, depth: 0 }));
  while (stack.length > 0) {
    const { token, depth } = stack.pop()!;
    if (token.type === 'document') {
      if (token.value !== undefined) stack.push({ token: token.value, depth });
    } else if (token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection') {
      if (depth + 1 > limit) return token.offset;
      for (const item of token.items) {
        if (item.key) stack.push({ token: item.key, depth: depth + 1 });
        if (item.value) stack.push({ token: item.value, depth: depth + 1 });
      }
    }
  }
  return undefined;
}

/** Reports every key defined twice in one mapping (the parser keeps only one of them). */
function findDuplicateKeys(node: unknown, at: KeyPath, lines: LineCounter, out: LocatedIssue[]): void {
  const { isMap, isScalar, isSeq } = yaml();
  if (isMap(node)) {
    const first = new Map<string, number>();
    for (const pair of node.items) {
      if (!isScalar(pair.key)) continue;
      const key = String(pair.key.value);
      const offset = pair.key.range?.[0] ?? 0;
      const seen = first.get(key);
      if (seen !== undefined) {
        const pos = lines.linePos(offset);
        out.push({
          path: formatPath([...at, key]),
          message: `duplicate key "${key}" (first defined at line ${lines.linePos(seen).line}); keep one of them`,
          line: pos.line,
          column: pos.col,
        });
      } else {
        first.set(key, offset);
      }
      findDuplicateKeys(pair.value, [...at, key], lines, out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => findDuplicateKeys(item, [...at, i], lines, out));
  }
}

/**
 * Reports every `*name` with no `&name` before it, walking in document order
 * (an alias refers to the last anchor of that name above it).
 */
function findUnresolvedAliases(node: unknown, at: KeyPath, anchors: Set<string>, lines: LineCounter, out: LocatedIssue[]): void {
  const { isAlias, isMap, isNode, isScalar, isSeq } = yaml();
  if (!isNode(node)) return;
  if (isAlias(node)) {
    if (!anchors.has(node.source)) {
      const { line, col } = lines.linePos(node.range?.[0] ?? 0);
      out.push({ path: formatPath(at), message: `unknown alias *${node.source}: define &${node.source} before using it`, line, column: col });
    }
    return;
  }
  if (node.anchor) anchors.add(node.anchor);
  if (isMap(node)) {
    for (const pair of node.items) {
      findUnresolvedAliases(pair.key, at, anchors, lines, out);
      const key = isScalar(pair.key) ? String(pair.key.value) : isAlias(pair.key) ? `*${pair.key.source}` : '?';
      findUnresolvedAliases(pair.value, [...at, key], anchors, lines, out);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => findUnresolvedAliases(item, [...at, i], anchors, lines, out));
  }
}

/** Source offset of the deepest node on `at` that exists: the key itself when present, else its parent. */
function locate(doc: YamlDoc, at: KeyPath): number | undefined {
  const { isAlias, isMap, isScalar, isSeq } = yaml();
  let node: unknown = doc.contents;
  let offset = (node as Node | null)?.range?.[0];
  for (const seg of at) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair === undefined) break;
      offset = (pair.key as Node).range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      node = node.items[seg];
      offset = (node as Node | null)?.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return offset;
}
