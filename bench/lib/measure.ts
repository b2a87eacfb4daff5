/** Closed-loop load with fixed concurrency; measures wall time, this process's CPU and its GC. */
import { gcSince, gcSoFar } from './gc-meter.ts';

export interface RoundResult {
  readonly requests: number;
  readonly wallMs: number;
  readonly cpuUs: number;
  readonly errors: number;
  /** Requests per second. */
  readonly throughput: number;
  /** CPU microseconds per request (user + system of this process). */
  readonly cpuUsPerRequest: number;
  /** GC pause microseconds per request (part of the CPU above). */
  readonly gcUsPerRequest: number;
  /** Major collections during the round. */
  readonly majorGcs: number;
}

export async function closedLoop(requests: number, concurrency: number, send: () => Promise<void>): Promise<RoundResult> {
  let next = 0;
  let errors = 0;
  const gc0 = gcSoFar();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next < requests) {
      next++;
      try {
        await send();
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = cpu.user + cpu.system;
  const gc = gcSince(gc0);
  return { requests, wallMs, cpuUs, errors, throughput: (requests / wallMs) * 1000, cpuUsPerRequest: cpuUs / requests, gcUsPerRequest: (gc.ms * 1000) / requests, majorGcs: gc.major };
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Spread as (max - min) / median, in percent. */
export function spreadPercent(values: readonly number[]): number {
  const m = median(values);
  return m === 0 ? 0 : ((Math.max(...values) - Math.min(...values)) / m) * 100;
}
