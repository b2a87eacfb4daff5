/**
 * Interleaved closed-loop rounds over several sides (raw first), with the
 * order rotated each round so drift in machine load hits every side alike.
 * Figures are paired per round against the raw round run next to them.
 */
import { closedLoop, median, spreadPercent, type RoundResult } from './measure.ts';

export type Send = () => Promise<void>;

export interface Side {
  readonly name: string;
  readonly send: Send;
  /** Called before each of this side's rounds (e.g. to drop spans kept in memory). */
  readonly beforeRound?: () => void;
}

export interface RoundPlan {
  readonly rounds: number;
  readonly requests: number;
  readonly concurrency: number;
  /** Warm-up rounds per side before measuring (default 2). */
  readonly warmup?: number;
}

/** Runs every side `plan.rounds` times; returns the rounds per side, in the order given. */
export async function interleaved(sides: readonly Side[], plan: RoundPlan): Promise<RoundResult[][]> {
  for (let i = 0; i < (plan.warmup ?? 2); i++) {
    for (const side of sides) {
      side.beforeRound?.();
      await closedLoop(plan.requests, plan.concurrency, side.send);
    }
  }
  const out: RoundResult[][] = sides.map(() => []);
  for (let r = 0; r < plan.rounds; r++) {
    for (let k = 0; k < sides.length; k++) {
      const s = (r + k) % sides.length;
      sides[s]!.beforeRound?.();
      out[s]!.push(await closedLoop(plan.requests, plan.concurrency, sides[s]!.send));
    }
  }
  return out;
}

/** Median over rounds of side ÷ raw requests per second. */
export function throughputRatio(side: readonly RoundResult[], raw: readonly RoundResult[]): number {
  return median(side.map((x, i) => x.throughput / raw[i]!.throughput));
}

/** Median over rounds of (side − raw) CPU µs per request. */
export function addedCpuUs(side: readonly RoundResult[], raw: readonly RoundResult[]): number {
  return median(side.map((x, i) => x.cpuUsPerRequest - raw[i]!.cpuUsPerRequest));
}

/** One table row: median requests/s with spread, median CPU per request, errors. */
export function sideRow(name: string, rounds: readonly RoundResult[]): string {
  const tp = rounds.map((x) => x.throughput);
  const cpu = rounds.map((x) => x.cpuUsPerRequest);
  const errs = rounds.reduce((a, x) => a + x.errors, 0);
  const gc = median(rounds.map((x) => x.gcUsPerRequest ?? 0));
  const majors = rounds.reduce((a, x) => a + (x.majorGcs ?? 0), 0);
  return `  ${name.padEnd(34)} ${median(tp).toFixed(0).padStart(9)} req/s ±${spreadPercent(tp).toFixed(1).padStart(5)}%   ${median(cpu).toFixed(2).padStart(7)} µs CPU/req (GC ${gc.toFixed(2)}, ${majors} major)   errors ${errs}`;
}
