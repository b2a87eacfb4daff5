import { EnmeshError } from '../errors.ts';
import type { ConfigIssue } from '../errors.ts';

/** A key path as segments: map keys and list indexes. */
export type KeyPath = readonly (string | number)[];

/** An issue with its path still in segments, so a loader can locate it in the source. */
export interface PathIssue {
  readonly at: KeyPath;
  readonly message: string;
}

/** A finished issue plus, when known, where in the file it is (1-based). */
export interface LocatedIssue extends ConfigIssue {
  readonly line?: number;
  readonly column?: number;
}

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** `services.reviews.routes[0].backends[1].weight`; odd keys are quoted: `headers["x.y"]`. */
export function formatPath(at: KeyPath): string {
  let out = '';
  for (const seg of at) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (PLAIN_KEY.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

/** The one error every config problem turns into: all issues at once, readable message first. */
export function configError(source: string, issues: readonly LocatedIssue[]): EnmeshError {
  const lines = issues.map((i) => {
    const where = i.line === undefined ? '' : ` (${source}:${i.line}:${i.column ?? 1})`;
    return `  - ${i.path === '' ? '(document)' : i.path}: ${i.message}${where}`;
  });
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  const plain: ConfigIssue[] = issues.map((i) => ({ path: i.path, message: i.message }));
  return new EnmeshError('ENMESH_ERR_CONFIG_INVALID', `${source}: ${count}:\n${lines.join('\n')}`, {
    file: source,
    issues: plain,
  });
}

/**
 * Optimal string alignment distance (Levenshtein plus adjacent swaps), so the
 * common `weigth` typo is one edit away from `weight`.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array(rows * cols);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[(i - 1) * cols + j] + 1, d[i * cols + j - 1] + 1, d[(i - 1) * cols + j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[(i - 2) * cols + j - 2] + 1);
      d[i * cols + j] = v;
    }
  }
  return d[rows * cols - 1];
}

/** The closest candidate within a few edits (case-insensitive), or undefined. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  // Two-letter names (v1, v2) are all one edit apart: only a case slip counts there.
  const limit = word.length < 3 ? 0 : Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const dist = editDistance(w, c.toLowerCase());
    if (dist <= limit && dist < bestDistance) {
      best = c;
      bestDistance = dist;
    }
  }
  return best;
}

/** ` — did you mean "x"?` or nothing. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const hit = closest(word, candidates);
  return hit === undefined ? '' : ` — did you mean "${hit}"?`;
}

/** A short, quoted rendering of a YAML value for "got ..." messages. */
export function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (typeof value === 'string') return JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}
