/** Model units (milliseconds, percentages) to the xDS well-known messages that carry them. */

/** `google.protobuf.Duration` of a millisecond count. */
export function durationOf(ms: number): { seconds?: number; nanos?: number } {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  // Zero fields are left out, as any proto3 encoder would.
  const out: { seconds?: number; nanos?: number } = {};
  if (seconds !== 0) out.seconds = seconds;
  if (nanos !== 0) out.nanos = nanos;
  return out;
}

const DENOMINATORS = [
  ['HUNDRED', 1],
  ['TEN_THOUSAND', 100],
  ['MILLION', 10_000],
] as const;

/**
 * `envoy.type.v3.FractionalPercent` of a 0..100 percentage, with the smallest
 * denominator that holds it exactly (MILLION, rounded, for anything finer).
 */
export function fractionOf(percent: number): { numerator: number; denominator: string } {
  for (const [denominator, scale] of DENOMINATORS) {
    // Tolerate binary floating point: 0.07 * 100 is 7.000000000000001.
    const numerator = Math.round(percent * scale);
    if (Math.abs(numerator - percent * scale) < 1e-9) return { numerator, denominator };
  }
  return { numerator: Math.round(percent * 10_000), denominator: 'MILLION' };
}

/** Percentage (0..100) of a decoded FractionalPercent; an absent denominator is HUNDRED. */
export function percentOfFraction(fraction: { numerator?: number; denominator?: string } | undefined): number {
  const numerator = fraction?.numerator ?? 0;
  switch (fraction?.denominator ?? 'HUNDRED') {
    case 'TEN_THOUSAND':
      return numerator / 100;
    case 'MILLION':
      return numerator / 10_000;
    default:
      return numerator;
  }
}
