import { EnmeshError } from '../errors.ts';

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;

/** The accepted spellings, for error messages. */
export const DURATION_HINT = 'a duration like 250ms, 2s, 1.5s, 1m or 1h';

/**
 * Milliseconds in a duration string: a non-negative number followed by one unit
 * (`ms`, `s`, `m`, `h`), e.g. `250ms`, `1.5s`. Bare numbers are refused because
 * `timeout: 5` is ambiguous. Fractions of a millisecond are rounded.
 */
export function parseDuration(text: string): number {
  const m = typeof text === 'string' ? DURATION.exec(text) : null;
  if (m === null) {
    throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', `invalid duration ${JSON.stringify(text)}: expected ${DURATION_HINT}`);
  }
  const ms = Math.round(Number(m[1]) * UNIT_MS[m[2]]);
  if (!Number.isSafeInteger(ms)) {
    throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', `invalid duration ${JSON.stringify(text)}: too large`);
  }
  return ms;
}
