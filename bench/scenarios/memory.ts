/**
 * P8: memory added by enmesh with 1,000 endpoints and 100 routes loaded,
 * measured in fresh processes (bench/lib/memory-child.ts, the median of five, three with --quick)
 * so nothing else the benchmark did is counted. The child runs with 1 MB semi-spaces: V8
 * otherwise grows its young generation (up to 64 MB of RSS) with the
 * allocation rate of whatever ran last, which says nothing about what enmesh
 * keeps. RSS also counts pages V8 keeps after a collection; the JS heap
 * figure is what is actually held.
 *
 * The child imports enmesh as it is published: the compiled JavaScript
 * (built here into bench/out/pkg), not the TypeScript sources the other
 * scenarios run. Node strips types from every source module it loads, and
 * that work's memory (about 14 MB of RSS for enmesh's modules) is paid by no
 * installed application.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { median } from '../lib/measure.ts';

const here = dirname(fileURLToPath(import.meta.url));

interface Sample {
  readonly rss: number;
  readonly heap: number;
}

export interface MemoryResult {
  /** RSS added by importing enmesh and init() with a one-service config (MB). */
  readonly loadedMb: number;
  /** RSS added on top of that by 1,000 endpoints and 100 routes (MB). */
  readonly configMb: number;
  /** RSS added in all, from before enmesh was imported (MB): the goal's figure. */
  readonly totalMb: number;
  /** The same over a process that had not loaded node:http either (one that only makes calls). */
  readonly totalOverClientOnlyMb: number;
  /** RSS node:http itself adds to a process with undici (the platform's; counted in the figure above). */
  readonly nodeHttpMb: number;
  readonly heapTotalMb: number;
  /** Lowest and highest total over the runs. */
  readonly totalRangeMb: readonly [number, number];
  /** Processes measured. */
  readonly runs: number;
}

const mb = (bytes: number): number => bytes / (1024 * 1024);

const root = join(here, '..', '..');
const run = promisify(execFile);

/** Compiles src/ as `npm run build` does (without declarations) into bench/out/pkg; returns its entry point. */
async function buildPackage(): Promise<string> {
  const out = join(root, 'bench', 'out', 'pkg');
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  await run(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', out, '--declaration', 'false', '--declarationMap', 'false', '--sourceMap', 'false'], { maxBuffer: 1 << 24 });
  return join(out, 'index.js');
}

/**
 * Fresh processes measured (`runs`, five by default, three with --quick); the
 * figures are their medians: the optimizing compiler's threads make one run
 * vary by about ±0.7 MB.
 */
export async function memoryScenario(runs = 5): Promise<MemoryResult> {
  const entry = await buildPackage();
  const results: MemoryResult[] = [];
  for (let i = 0; i < runs; i++) {
    const { stdout } = await run(process.execPath, [...process.execArgv, '--expose-gc', '--max-semi-space-size=1', join(here, '..', 'lib', 'memory-child.ts'), entry], { maxBuffer: 1 << 20 });
    const r = JSON.parse(stdout.trim().split('\n').at(-1)!) as { bare: Sample; base: Sample; loaded: Sample; full: Sample };
    results.push({
      loadedMb: mb(r.loaded.rss - r.base.rss),
      configMb: mb(r.full.rss - r.loaded.rss),
      totalMb: mb(r.full.rss - r.base.rss),
      totalOverClientOnlyMb: mb(r.full.rss - r.bare.rss),
      nodeHttpMb: mb(r.base.rss - r.bare.rss),
      heapTotalMb: mb(r.full.heap - r.base.heap),
      totalRangeMb: [0, 0],
      runs: 1,
    });
  }
  const med = (key: Exclude<keyof MemoryResult, 'totalRangeMb'>): number => median(results.map((x) => x[key]));
  const totals = results.map((x) => x.totalMb);
  return {
    loadedMb: med('loadedMb'),
    configMb: med('configMb'),
    totalMb: med('totalMb'),
    totalOverClientOnlyMb: med('totalOverClientOnlyMb'),
    nodeHttpMb: med('nodeHttpMb'),
    heapTotalMb: med('heapTotalMb'),
    totalRangeMb: [Math.min(...totals), Math.max(...totals)],
    runs,
  };
}

export function memoryTable(m: MemoryResult): string {
  return [
    `  import + init() with one service      +${m.loadedMb.toFixed(1)} MB RSS`,
    `  1,000 endpoints and 100 routes        +${m.configMb.toFixed(1)} MB RSS`,
    `  → in all +${m.totalMb.toFixed(1)} MB RSS (${m.totalRangeMb[0].toFixed(1)}–${m.totalRangeMb[1].toFixed(1)} over ${m.runs} processes), +${m.heapTotalMb.toFixed(1)} MB JS heap (goal ≤ 10 MB)`,
    `  (node:http, loaded by the service before enmesh, +${m.nodeHttpMb.toFixed(1)} MB; over a process without it, enmesh adds +${m.totalOverClientOnlyMb.toFixed(1)} MB)`,
  ].join('\n');
}
