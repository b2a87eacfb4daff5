/**
 * Scale and figures of the chaos scenarios. Every scenario prints one line,
 * `CHAOS scenario=<n> key=value ...`, and appends it as JSON to
 * $ENMESH_CHAOS_FIGURES (when set), which docs/reliability.md is written from.
 */
import { appendFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

/** ENMESH_CHAOS_FULL=1: the issue's full-scale figures instead of the scaled-down default. */
export const FULL = process.env.ENMESH_CHAOS_FULL === '1';

/** `small` in the default run, `full` with ENMESH_CHAOS_FULL=1. */
export function scaled<T>(small: T, full: T): T {
  return FULL ? full : small;
}

export type Figures = Readonly<Record<string, string | number | boolean>>;

export function report(scenario: string, figures: Figures): void {
  const line = `CHAOS scenario=${scenario} mode=${FULL ? 'full' : 'default'} ${Object.entries(figures)
    .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : String(v)}`)
    .join(' ')}`;
  console.log(line);
  const file = process.env.ENMESH_CHAOS_FIGURES;
  // Synchronous on purpose: one line at the end of a scenario, and it must survive a crash after it.
  if (file !== undefined && file !== '') appendFileSync(file, `${JSON.stringify({ scenario, mode: FULL ? 'full' : 'default', at: new Date().toISOString(), ...figures })}\n`);
}

/** Resident set size of a process from /proc, in bytes; `peak` gives the high-water mark (VmHWM). */
export async function rssOf(pid: number, peak = false): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const m = new RegExp(`^${peak ? 'VmHWM' : 'VmRSS'}:\\s+(\\d+) kB`, 'm').exec(status);
  if (m === null) throw new Error(`no ${peak ? 'VmHWM' : 'VmRSS'} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

export const MiB = 1024 * 1024;
