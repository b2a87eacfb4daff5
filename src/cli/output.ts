/**
 * What the operator commands print: tables, coloured diffs, percentages, and
 * a progress line for anything that waits. Colour and in-place redraws only
 * on a terminal (see CliIo), so piped output stays plain text.
 */
import type { CliIo } from './io.ts';

export interface Style {
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

const sgr = (on: number, off: number) => (text: string) => `\u001b[${on}m${text}\u001b[${off}m`;
const same = (text: string): string => text;

export function styleFor(io: CliIo): Style {
  if (io.colour !== true) return { bold: same, dim: same, red: same, green: same, yellow: same, cyan: same };
  return { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) };
}

const ANSI = /\u001b\[[0-9;]*m/g;
const width = (text: string): number => text.replace(ANSI, '').length;

/** Left-aligned columns two spaces apart; headers upper-cased. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], style?: Style): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c + ' '.repeat(widths[i]! - width(c))))
      .join('  ')
      .trimEnd();
  const head = line(headers.map((h) => h.toUpperCase()));
  return `${[style === undefined ? head : style.bold(head), ...rows.map(line)].join('\n')}\n`;
}

/** A unified diff with additions green and removals red. */
export function colourDiff(diff: string, style: Style): string {
  const text = diff.endsWith('\n') ? diff : `${diff}\n`;
  return text
    .split('\n')
    .map((l) => {
      if (l.startsWith('+++') || l.startsWith('---')) return style.bold(l);
      if (l.startsWith('+')) return style.green(l);
      if (l.startsWith('-')) return style.red(l);
      if (l.startsWith('@@')) return style.cyan(l);
      return l;
    })
    .join('\n');
}

/** `0.051` → `5.1%`; null → `-`. */
export function pct(share: number | null | undefined): string {
  if (share === null || share === undefined) return '-';
  return `${Number((share * 100).toFixed(share > 0 && share < 0.001 ? 3 : 1))}%`;
}

export function ms(value: number | null | undefined): string {
  return value === null || value === undefined ? '-' : `${Math.round(value)}ms`;
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * A status line for something that waits, on stderr. On a terminal it is
 * redrawn in place (with a spinner); otherwise each new text is one line, so
 * logs show every change and nothing else.
 */
export class Progress {
  readonly #io: CliIo;
  #last = '';
  #frame = 0;
  #shown = false;

  constructor(io: CliIo) {
    this.#io = io;
  }

  update(text: string): void {
    if (this.#io.interactive === true) {
      const spin = '|/-\\'[this.#frame++ % 4];
      this.#io.stderr(`\r\u001b[K${spin} ${text}`);
      this.#shown = true;
    } else if (text !== this.#last) {
      this.#io.stderr(`${text}\n`);
    }
    this.#last = text;
  }

  /** Clears the in-place line (a final result follows on stdout). */
  done(): void {
    if (this.#shown) this.#io.stderr('\r\u001b[K');
    this.#shown = false;
  }
}
