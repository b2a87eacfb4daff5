/**
 * Route regexes run here as JavaScript and go to xDS clients as RE2 (what
 * `safe_regex` means), so a pattern must be RE2 syntax that JavaScript reads
 * the same way. This scans a pattern that already compiles as JavaScript (no
 * flags) for what RE2 lacks or reads differently.
 */

/** RE2's largest repeat count (`{n,m}`). */
const RE2_MAX_REPEAT = 1000;
/** Letter escapes both read alike. */
const SHARED_LETTERS = 'dDwWsSbBfnrtv';
/** The same inside a class, where `\b` is a backspace to JavaScript and an error to RE2. */
const SHARED_CLASS_LETTERS = 'dDwWsSfnrtv';
/** Letter escapes RE2 has and JavaScript reads as the plain letter, outside and inside a class. */
const RE2_ONLY_LETTERS = 'aAzpPQEC';
const RE2_ONLY_CLASS_LETTERS = 'apP';
const POSIX_CLASS = /^\[:\^?[A-Za-z]+:\]/;
const REPEAT = /^\{(\d+)(?:,(\d*))?\}/;
const LOOK_AROUND_FIX = 'rewrite the pattern without look-around (e.g. with a character class, or a second header or query match)';
const BACK_REFERENCE_FIX = "repeat the group's pattern instead";

/** Why `pattern` cannot go to xDS clients as it is, with the fix; undefined when it can. */
export function re2Problem(pattern: string): string | undefined {
  let inClass = false;
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i];
    if (ch === '\\') {
      const bad = escapeProblem(pattern, i, inClass);
      if (bad !== undefined) return bad;
      // What follows a kept escape (hex or octal digits) reads as plain characters: harmless.
      i += 2;
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      else if (ch === '[') {
        const posix = POSIX_CLASS.exec(pattern.slice(i));
        if (posix !== null) return differs(`the POSIX class ${posix[0]}`, 'single characters', 'write the characters as ranges instead, e.g. [0-9] or [a-zA-Z]');
      }
      i++;
      continue;
    }
    if (ch === '[') {
      const negated = pattern[i + 1] === '^';
      const first = i + (negated ? 2 : 1);
      // JavaScript closes `[]` and `[^]` at once; RE2 takes that `]` as a member of the class.
      if (pattern[first] === ']') {
        return negated
          ? differs('the class [^]', 'any character', 'write [\\s\\S]')
          : differs('the class []', 'matching nothing', 'to match ] write \\]');
      }
      inClass = true;
      i = first;
      continue;
    }
    if (ch === '(' && pattern[i + 1] === '?') {
      const behind = pattern[i + 2] === '<';
      const kind = pattern[i + (behind ? 3 : 2)];
      if (kind === '=' || kind === '!') {
        return notRe2(`the ${behind ? 'lookbehind' : 'lookahead'} ${pattern.slice(i, i + (behind ? 4 : 3))}...)`, LOOK_AROUND_FIX);
      }
    }
    if (ch === '{') {
      const repeat = REPEAT.exec(pattern.slice(i));
      if (repeat !== null && Math.max(Number(repeat[1]), Number(repeat[2] || 0)) > RE2_MAX_REPEAT) {
        return notRe2(`the repeat count ${repeat[0]}`, `RE2 allows at most ${RE2_MAX_REPEAT}; use a smaller count, or + or *`);
      }
    }
    i++;
  }
  return undefined;
}

function escapeProblem(pattern: string, i: number, inClass: boolean): string | undefined {
  const c = pattern[i + 1];
  const code = pattern.codePointAt(i + 1)!;
  if (c >= '1' && c <= '9') {
    if (!inClass) return notRe2(`the back-reference \\${c}`, BACK_REFERENCE_FIX);
    // In a class `[\12]` is octal in both; a lone `\1` is octal to JavaScript and an error to RE2.
    if (c <= '7' && /^[0-7]$/.test(pattern[i + 2] ?? '')) return undefined;
    return notRe2(`the escape \\${c} in a class`, c <= '7' ? `write \\x0${c}` : `JavaScript reads it as a plain "${c}"; remove the backslash`);
  }
  if (c === 'k' && pattern[i + 2] === '<' && !inClass) {
    return notRe2(`the back-reference ${/^\\k<[^>]*>/.exec(pattern.slice(i))?.[0] ?? '\\k<'}`, BACK_REFERENCE_FIX);
  }
  if (c === 'x') {
    if (/^[0-9A-Fa-f]{2}$/.test(pattern.slice(i + 2, i + 4))) return undefined;
    const fix = 'write \\x and two hex digits, e.g. \\x41';
    return pattern[i + 2] === '{' ? differs('\\x{...}', 'a plain x and {...}', fix) : notRe2('\\x without two hex digits', fix);
  }
  if (c === 'u') return notRe2('the escape \\u', 'write the character itself (or \\x and two hex digits, up to \\xff)');
  if (c === 'c') return notRe2('the control escape \\c', 'write \\x and two hex digits, e.g. \\x01 for \\cA');
  if (c === 'b' && inClass) return notRe2('\\b in a class', 'JavaScript reads it as a backspace; write \\x08');
  if (/^[A-Za-z]$/.test(c)) {
    if ((inClass ? SHARED_CLASS_LETTERS : SHARED_LETTERS).includes(c)) return undefined;
    const fix = 'remove the backslash, or use a character class';
    return (inClass ? RE2_ONLY_CLASS_LETTERS : RE2_ONLY_LETTERS).includes(c)
      ? differs(`the escape \\${c}`, `a plain "${c}"`, fix)
      : notRe2(`the escape \\${c}`, `JavaScript reads it as a plain "${c}"; ${fix}`);
  }
  if (code >= 0x80) return notRe2(`the escape \\${String.fromCodePoint(code)}`, 'remove the backslash');
  // `\0` (NUL, or octal with more digits) and escaped ASCII punctuation read the same in both.
  return undefined;
}

function notRe2(feature: string, fix: string): string {
  return `${feature} is not RE2 syntax (xDS clients such as Envoy read these regexes as RE2): ${fix}`;
}

function differs(feature: string, js: string, fix: string): string {
  return `${feature} means something else in RE2, which xDS clients such as Envoy use for these regexes (JavaScript reads it as ${js}): ${fix}`;
}
