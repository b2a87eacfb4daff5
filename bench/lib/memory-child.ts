/**
 * P8, in a process of its own (started with --expose-gc): resident memory
 * before enmesh is imported (undici already loaded: it is the raw client the
 * mesh is compared with, and the application's own; and node:http, which an
 * HTTP service has loaded to serve), after init() with a one-service config,
 * and after init() with 1,000 endpoints and 100 routes. `bare` is before
 * node:http, for the figure over a process that only makes calls.
 * Prints one JSON line. Argument: the enmesh entry point to import (the
 * compiled package; default the `enmesh` package as resolved here).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with --expose-gc');

/**
 * Memory once the process is quiet: collected four times, with pauses long enough for V8's
 * background compile jobs started by the work just done to finish (their memory is part of what
 * stays; measuring while they still run made single processes vary by about ±1 MB).
 */
async function settle(): Promise<{ rss: number; heap: number }> {
  for (let i = 0; i < 4; i++) {
    gc!();
    await sleep(100);
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

function bigMesh(services: number, endpointsPer: number): string {
  const lines = ['services:'];
  for (let s = 0; s < services; s++) {
    lines.push(`  svc-${s}:`, '    protocol: http', `    port: ${8000 + s}`, '    endpoints:');
    for (let e = 0; e < endpointsPer; e++) {
      lines.push(`      - { address: 10.${s >> 8}.${s & 255}.${e + 1}:8080, labels: { version: v${(e % 2) + 1} }, zone: zone-${e % 3} }`);
    }
    lines.push(
      '    subsets: { v1: { version: v1 }, v2: { version: v2 } }',
      '    outlierDetection: { consecutive5xx: 5, interval: 10s, baseEjectionTime: 30s }',
      '    routes:',
      '      - name: main',
      '        backends: [{ subset: v1, weight: 90 }, { subset: v2, weight: 10 }]',
      '        timeout: 2s',
      '        retries: { attempts: 2, on: [5xx, reset, connect-failure] }',
    );
  }
  return `${lines.join('\n')}\n`;
}

const dir = await mkdtemp(join(tmpdir(), 'enmesh-bench-mem-'));
const tiny = join(dir, 'tiny.yaml');
const big = join(dir, 'big.yaml');
await writeFile(tiny, 'services:\n  one:\n    protocol: http\n    port: 8080\n    endpoints: [{ address: 127.0.0.1:9 }]\n');
await writeFile(big, bigMesh(100, 10));

await import('undici');
const bare = await settle();
// A service serves requests: node:http is the platform's, loaded by the application whether or not a mesh runs.
await import('node:http');
const base = await settle();
const entry = process.argv[2];
const { init } = (await import(entry === undefined ? 'enmesh' : pathToFileURL(entry).href)) as typeof import('enmesh');
let mesh = await init({ config: tiny, watch: false });
const loaded = await settle();
await mesh.close();
mesh = await init({ config: big, watch: false });
const stats = mesh.stats();
const full = await settle();
await mesh.close();
await rm(dir, { recursive: true, force: true });
process.stdout.write(
  `${JSON.stringify({
    bare,
    base,
    loaded,
    full,
    services: 100,
    endpoints: 1000,
    routes: 100,
    requestsSeen: stats.requests,
  })}\n`,
);
