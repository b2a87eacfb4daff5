/**
 * The live table: per instance, what its own /_stats says it served (for
 * ratings, the gRPC calls), and which reviews version answered recently.
 */
import { address, type Instance } from './instances.ts';

interface StatsBody {
  requests: number;
  errors: number;
  latencies: number[];
}

interface Counters {
  readonly requests: number;
  readonly errors: number;
  readonly at: number;
}

export interface Row {
  readonly service: string;
  readonly version: string;
  readonly protocol: string;
  readonly address: string;
  /** Where the mesh knows the instance from: `registered`, `static`, or `missing`. */
  readonly origin: string;
  /** Requests served in the period (for ratings: gRPC calls). */
  readonly requests: number;
  readonly rps: number;
  readonly success: number;
  readonly p50: number;
  readonly p99: number;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function readStats(inst: Instance): Promise<StatsBody> {
  const res = await fetch(`http://127.0.0.1:${inst.statsPort}/_stats`, { signal: AbortSignal.timeout(2000) });
  return (await res.json()) as StatsBody;
}

/**
 * The latencies recorded after the first `baseline` requests (the newest 2048
 * at most). The kit writes request n (0-based) at slot n % ring size, so the
 * newest are the slots just before `requests`.
 */
function sinceBaseline(s: StatsBody, baseline: number): number[] {
  const ring = s.latencies.length;
  const n = Math.min(s.requests - baseline, ring);
  const out: number[] = [];
  for (let k = 1; k <= n; k++) out.push(s.latencies[(((s.requests - k) % ring) + ring) % ring]!);
  return out;
}

export class InstanceStats {
  readonly #instances: readonly Instance[];
  readonly #last = new Map<Instance, Counters>();
  readonly #baseline = new Map<Instance, Counters>();

  constructor(instances: readonly Instance[]) {
    this.#instances = instances;
  }

  /** From now on, totals count from here (the warm-up is left out). */
  async markBaseline(): Promise<void> {
    await Promise.all(
      this.#instances.map(async (inst) => {
        const s = await readStats(inst);
        const c = { requests: s.requests, errors: s.errors, at: performance.now() };
        this.#baseline.set(inst, c);
        this.#last.set(inst, c);
      }),
    );
  }

  /**
   * One row per instance: rates since the previous poll, or since the baseline
   * with `totals`. `origins` maps an address to where the mesh knows it from.
   */
  async poll(origins: (address: string) => string, totals = false): Promise<Row[]> {
    return Promise.all(
      this.#instances.map(async (inst): Promise<Row> => {
        const row = { service: inst.service, version: inst.version, protocol: inst.protocol, address: address(inst), origin: origins(address(inst)) };
        try {
          const s = await readStats(inst);
          const now = performance.now();
          const prev = (totals ? this.#baseline.get(inst) : this.#last.get(inst)) ?? { requests: 0, errors: 0, at: now };
          this.#last.set(inst, { requests: s.requests, errors: s.errors, at: now });
          const dReq = s.requests - prev.requests;
          const dErr = s.errors - prev.errors;
          const lat = sinceBaseline(s, this.#baseline.get(inst)?.requests ?? 0).sort((a, b) => a - b);
          return {
            ...row,
            requests: dReq,
            rps: now > prev.at ? dReq / ((now - prev.at) / 1000) : 0,
            success: dReq === 0 ? 100 : (100 * (dReq - dErr)) / dReq,
            p50: percentile(lat, 50),
            p99: percentile(lat, 99),
          };
        } catch {
          return { ...row, requests: 0, rps: 0, success: 0, p50: 0, p99: 0 };
        }
      }),
    );
  }
}

/** Shares of the reviews versions over the last `seconds`, from per-second snapshots of the totals. */
export class RecentSplit {
  readonly #snapshots: Record<string, number>[] = [];
  readonly #size: number;

  constructor(seconds = 5) {
    this.#size = seconds + 1;
  }

  /** Called once a second with the running totals. */
  push(totals: Readonly<Record<string, number>>): void {
    this.#snapshots.push({ ...totals });
    if (this.#snapshots.length > this.#size) this.#snapshots.shift();
  }

  /** `v1 80.0%  v2 20.0%` over the window (or since the start, before a full window). */
  describe(): string {
    const newest = this.#snapshots.at(-1) ?? {};
    const oldest = this.#snapshots.length > 1 ? this.#snapshots[0]! : {};
    return describeSplit(Object.fromEntries(Object.entries(newest).map(([v, n]) => [v, n - (oldest[v] ?? 0)])));
  }
}

export function describeSplit(counts: Readonly<Record<string, number>>): string {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  if (total === 0) return '(no pages yet)';
  return Object.entries(counts)
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([v, n]) => `${v} ${((100 * n) / total).toFixed(1)}%`)
    .join('  ');
}

export function renderRows(rows: readonly Row[]): string[] {
  const head = `${'SERVICE'.padEnd(12)} ${'VERSION'.padEnd(7)} ${'PROTO'.padEnd(5)} ${'ADDRESS'.padEnd(16)} ${'MESH'.padEnd(10)} ${'REQ/S'.padStart(7)} ${'SUCCESS'.padStart(8)} ${'P50 ms'.padStart(8)} ${'P99 ms'.padStart(8)}`;
  return [
    head,
    ...rows.map(
      (r) =>
        `${r.service.padEnd(12)} ${r.version.padEnd(7)} ${r.protocol.padEnd(5)} ${r.address.padEnd(16)} ${r.origin.padEnd(10)} ${r.rps.toFixed(1).padStart(7)} ${`${r.success.toFixed(1)}%`.padStart(8)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)}`,
    ),
  ];
}
