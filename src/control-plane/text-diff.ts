/**
 * Line diffs of mesh.yaml texts, for the admin API's change reports and the
 * audit log (unified `diff -u` format, from the `diff` package), and for
 * carrying an edit made on a re-rendered document back onto the operator's
 * own text (comments and layout kept).
 */
import { createTwoFilesPatch, diffArrays } from 'diff';

/** One line of a line diff: kept (' '), removed ('-') or added ('+'). */
export type Op = readonly [kind: ' ' | '-' | '+', line: string];

export interface DiffOptions {
  readonly oldName?: string;
  readonly newName?: string;
  /** Unchanged lines shown around each change. Default 3. */
  readonly context?: number;
}

/** The unified diff from `before` to `after`; empty when they are equal. */
export function unifiedDiff(before: string, after: string, options: DiffOptions = {}): string {
  if (before === after) return '';
  const patch = createTwoFilesPatch(options.oldName ?? 'a/mesh.yaml', options.newName ?? 'b/mesh.yaml', before, after, undefined, undefined, {
    context: options.context ?? 3,
  });
  // Without the `Index:`/`===` preamble: `--- a` / `+++ b` first, as `diff -u` prints it.
  return patch.slice(patch.indexOf('--- '));
}

/** The lines of a text, and whether it ended with a newline. */
export function lines(text: string): { lines: string[]; finalNewline: boolean } {
  if (text === '') return { lines: [], finalNewline: false };
  const finalNewline = text.endsWith('\n');
  const parts = (finalNewline ? text.slice(0, -1) : text).split('\n');
  return { lines: parts, finalNewline };
}

/** The line-by-line edit script from `a` to `b`. */
export function diffLines(a: readonly string[], b: readonly string[]): Op[] {
  const ops: Op[] = [];
  for (const change of diffArrays(a as string[], b as string[])) {
    const kind = change.added ? '+' : change.removed ? '-' : ' ';
    for (const line of change.value) ops.push([kind, line]);
  }
  return ops;
}

/**
 * Carries an edit over to a text that a renderer reformats. `rendered` and
 * `edited` are the renderer's output for the original document and for the
 * edited one; `original` is the text as the operator wrote it. The result is
 * `original` with only the lines the edit touched replaced: lines the renderer
 * would have reformatted but the edit left alone keep their original layout.
 */
export function carryEdit(original: string, rendered: string, edited: string): string {
  if (rendered === original) return edited;
  const orig = lines(original).lines;
  const r0 = lines(rendered).lines;
  const r1 = lines(edited).lines;
  // The edit, seen on the rendered text: per rendered line, kept or not, and lines inserted before it.
  const keep = new Array<boolean>(r0.length).fill(true);
  const inserts: string[][] = Array.from({ length: r0.length + 1 }, () => []);
  let p = 0;
  for (const [kind, line] of diffLines(r0, r1)) {
    if (kind === ' ') p++;
    else if (kind === '-') keep[p++] = false;
    else inserts[p]!.push(line);
  }
  const out: string[] = [];
  const emitRendered = (from: number, to: number): void => {
    for (let r = from; r < to; r++) {
      if (r > from) out.push(...inserts[r]!);
      if (keep[r]) out.push(r0[r]!);
    }
  };
  // Walk the alignment of the original with its rendering: equal lines and reformatted blocks.
  let o = 0;
  let r = 0;
  const ops = diffLines(orig, r0);
  let k = 0;
  while (k < ops.length) {
    if (ops[k]![0] === ' ') {
      out.push(...inserts[r]!);
      if (keep[r]) out.push(orig[o]!);
      o++;
      r++;
      k++;
      continue;
    }
    const oStart = o;
    const rStart = r;
    while (k < ops.length && ops[k]![0] !== ' ') {
      if (ops[k]![0] === '-') o++;
      else r++;
      k++;
    }
    if (r === rStart) {
      // Original lines the renderer drops: kept; inserts before the next rendered line follow them.
      out.push(...orig.slice(oStart, o));
      continue;
    }
    out.push(...inserts[rStart]!);
    let touched = false;
    for (let x = rStart; x < r && !touched; x++) if (!keep[x] || (x > rStart && inserts[x]!.length > 0)) touched = true;
    if (touched) emitRendered(rStart, r);
    else out.push(...orig.slice(oStart, o));
  }
  out.push(...inserts[r0.length]!);
  const text = out.join('\n');
  return text === '' ? '' : `${text}\n`;
}
