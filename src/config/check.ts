import { DURATION_HINT, parseDuration } from './duration.ts';
import { describeValue, didYouMean, formatPath } from './issues.ts';
import type { KeyPath, PathIssue } from './issues.ts';
import { re2Problem } from './re2.ts';

export type Mapping = Readonly<Record<string, unknown>>;

/** Deepest nesting of mappings and lists a mesh.yaml value may have (it needs about 10). */
export const MAX_NESTING = 32;
/** The longest delay a Node timer takes (2^31-1 ms); `setTimeout` fires after 1 ms beyond it. */
export const MAX_TIMER_MS = 2_147_483_647;
const MAX_TIMER_TEXT = `${Math.floor(MAX_TIMER_MS / 3_600_000)}h`;

/**
 * Collects issues while reading an untyped YAML value. Every reader returns
 * `undefined` when the value is absent or wrong (after reporting the latter),
 * so validation carries on and reports every problem in one pass.
 */
export class Checker {
  readonly issues: PathIssue[] = [];

  report(at: KeyPath, message: string): void {
    this.issues.push({ at, message });
  }

  /** A mapping whose keys are all in `allowed`; unknown keys are reported with a suggestion. */
  mapping(value: unknown, at: KeyPath, allowed: readonly string[]): Mapping | undefined {
    if (value === undefined) return undefined;
    if (!isMapping(value)) {
      this.report(at, `expected a mapping with keys ${allowed.join(', ')}; got ${describeValue(value)}`);
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) {
        this.report([...at, key], `unknown key "${key}"${didYouMean(key, allowed) || '.'} Allowed keys: ${allowed.join(', ')}`);
      }
    }
    return value;
  }

  /** A mapping with free-form keys (service names, labels, headers). */
  dictionary(value: unknown, at: KeyPath, what: string): Mapping | undefined {
    if (value === undefined) return undefined;
    if (!isMapping(value)) {
      this.report(at, `expected a mapping of ${what}; got ${describeValue(value)}`);
      return undefined;
    }
    return value;
  }

  list(value: unknown, at: KeyPath, what: string): readonly unknown[] | undefined {
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) {
      this.report(at, `expected a list of ${what}; got ${describeValue(value)}`);
      return undefined;
    }
    return value;
  }

  /** Reports a missing key; returns the value when present. */
  required(obj: Mapping, key: string, at: KeyPath, expected: string): unknown {
    const value = obj[key];
    if (value === undefined || value === null) {
      this.report([...at, key], `missing required key "${key}": set it to ${expected}`);
      return undefined;
    }
    return value;
  }

  string(value: unknown, at: KeyPath, what = 'a string'): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || value === '') {
      const hint = typeof value === 'number' || typeof value === 'boolean' ? ` (quote it: "${String(value)}")` : '';
      this.report(at, `expected ${what}, got ${describeValue(value)}${hint}`);
      return undefined;
    }
    return value;
  }

  /** A string that may be empty (header values, response bodies). */
  text(value: unknown, at: KeyPath): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      const hint = typeof value === 'number' || typeof value === 'boolean' ? ` (quote it: "${String(value)}")` : '';
      this.report(at, `expected a string, got ${describeValue(value)}${hint}`);
      return undefined;
    }
    return value;
  }

  /** A string that must match `pattern`; `what` describes the expected shape. */
  pattern(value: unknown, at: KeyPath, pattern: RegExp, what: string): string | undefined {
    const s = this.string(value, at, what);
    if (s === undefined) return undefined;
    if (!pattern.test(s)) {
      this.report(at, `expected ${what}, got ${describeValue(s)}`);
      return undefined;
    }
    return s;
  }

  int(value: unknown, at: KeyPath, min: number, max: number, what = 'an integer'): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      const hint = unquoteHint(value, (n) => typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max);
      this.report(at, `expected ${what} ${min}..${max}, got ${describeValue(value)}${hint}`);
      return undefined;
    }
    return value;
  }

  number(value: unknown, at: KeyPath, min: number, max: number, what = 'a number'): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      const hint = unquoteHint(value, (n) => typeof n === 'number' && n >= min && n <= max);
      this.report(at, `expected ${what} ${min}..${max}, got ${describeValue(value)}${hint}`);
      return undefined;
    }
    return value;
  }

  /** A percentage 0..100, fractions allowed. */
  percent(value: unknown, at: KeyPath): number | undefined {
    return this.number(value, at, 0, 100, 'a percentage');
  }

  bool(value: unknown, at: KeyPath): boolean | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'boolean') {
      this.report(at, `expected true or false, got ${describeValue(value)}${unquoteHint(value, (b) => typeof b === 'boolean')}`);
      return undefined;
    }
    return value;
  }

  /**
   * Milliseconds of a duration string, at most `max`: by default what a Node
   * timer can wait (longer ones fire after 1 ms). A positive duration under
   * 1ms is refused rather than read as 0, which often means "none".
   */
  duration(value: unknown, at: KeyPath, max = MAX_TIMER_MS): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string') {
      const hint = typeof value === 'number' ? ` (add a unit: "${value}ms" or "${value}s")` : '';
      this.report(at, `expected ${DURATION_HINT}, got ${describeValue(value)}${hint}`);
      return undefined;
    }
    let ms: number;
    try {
      ms = parseDuration(value);
    } catch {
      this.report(at, `expected ${DURATION_HINT}, got ${describeValue(value)}`);
      return undefined;
    }
    if (ms === 0 && /[1-9]/.test(value)) {
      this.report(at, `${describeValue(value)} rounds to 0ms (durations are whole milliseconds): write at least 1ms`);
      return undefined;
    }
    if (ms > max) {
      this.report(at, `expected a duration up to ${MAX_TIMER_TEXT} (the longest a timer can wait), got ${describeValue(value)}`);
      return undefined;
    }
    return ms;
  }

  oneOf<T extends string>(value: unknown, at: KeyPath, options: readonly T[]): T | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || !(options as readonly string[]).includes(value)) {
      const hint = typeof value === 'string' ? didYouMean(value, options) : '';
      this.report(at, `expected one of ${options.join(' | ')}, got ${describeValue(value)}${hint}`);
      return undefined;
    }
    return value as T;
  }

  /** Compiles a regex, reporting the engine's complaint, and checks it is RE2 syntax (see re2.ts). */
  regex(value: unknown, at: KeyPath): string | undefined {
    const s = this.string(value, at, 'a regular expression');
    if (s === undefined) return undefined;
    try {
      new RegExp(s);
    } catch (err) {
      this.report(at, `invalid regular expression ${describeValue(s)}: ${(err as Error).message}`);
      return undefined;
    }
    const problem = re2Problem(s);
    if (problem !== undefined) {
      this.report(at, `invalid regular expression ${describeValue(s)}: ${problem}`);
      return undefined;
    }
    return s;
  }

  /** Exactly one of `keys` present in `obj`; returns it, or reports and returns undefined. */
  exactlyOne(obj: Mapping, at: KeyPath, keys: readonly string[], what: string): string | undefined {
    const present = keys.filter((k) => obj[k] !== undefined);
    if (present.length === 1) return present[0];
    if (present.length === 0) this.report(at, `${what}: set exactly one of ${keys.join(', ')}`);
    else this.report(at, `${what}: set exactly one of ${keys.join(', ')}, not ${present.join(' and ')}`);
    return undefined;
  }

  /** Path of `at` for messages that point at another key. */
  path(at: KeyPath): string {
    return formatPath(at);
  }
}

/** What YAML would read `text` as unquoted, for the scalars mesh.yaml takes unquoted: numbers and booleans. */
function unquoted(text: string): unknown {
  if (/^(?:true|false)$/.test(text)) return text === 'true';
  if (/^[-+]?\d+(?:\.\d+)?$/.test(text)) return Number(text);
  return text;
}

/** ` (remove the quotes: 80)` when `value` is a quoted scalar that `ok` would accept unquoted; else nothing. */
export function unquoteHint(value: unknown, ok: (unquoted: unknown) => boolean): string {
  if (typeof value !== 'string') return '';
  const v = unquoted(value.trim() === value ? value : '');
  return typeof v !== 'string' && ok(v) ? ` (remove the quotes: ${value})` : '';
}

export function isMapping(value: unknown): value is Mapping {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A copy without `undefined` members, so optional model fields are truly absent. */
export function compact<T extends object>(obj: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
  return out as T;
}
