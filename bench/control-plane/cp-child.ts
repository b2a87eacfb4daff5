/**
 * The control plane under test, alone in its process so its CPU and memory
 * are its own. Started by run.ts with the mesh file as argv[2]; reports each
 * publish as an event and answers `stats`, `resetPeak`, `gc`, `profileStart`,
 * `profileStop` and `stop`.
 *
 * Info lines are counted, not printed (10,000 clients would flood the
 * terminal); warnings and errors go to stderr as usual.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { Session as Inspector } from 'node:inspector/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { startControlPlane } from '../../src/control-plane/server.ts';
import type { Logger } from '../../src/control-plane/log.ts';
import { consoleLogger } from '../../src/control-plane/log.ts';
import { ENMESH_PROFILE } from '../../src/xds/translate/profile.ts';
import { emit, serve } from './ipc.ts';

const file = process.argv[2];
if (file === undefined) throw new Error('usage: cp-child.ts <mesh.yaml> [options JSON]');
/** Overrides of startControlPlane's options (keepalive), as JSON. */
const overrides = JSON.parse(process.argv[3] ?? '{}') as { keepaliveTimeMs?: number; keepaliveTimeoutMs?: number };

const stderr = consoleLogger();
let infoLines = 0;
const log: Logger = {
  info: () => void infoLines++,
  warn: (m) => stderr.warn(m),
  error: (m) => stderr.error(m),
};

// Stream admission pacing off: the simulated clients open at a fixed rate and never retry a
// refused stream, and the pushes are what is measured, not a paced start.
const cp = await startControlPlane({ config: file, xdsPort: 0, adminPort: 0, log, xdsAdmission: { floor: 0 }, ...overrides });

/** What a publish looks like to the benchmark: versions clients will ACK, and which registered instances it holds. */
function publishView(): Record<string, unknown> {
  const model = cp.cache.model()!;
  const snap = cp.cache.current(ENMESH_PROFILE)!;
  const registered: string[] = [];
  for (const s of model.services.values()) {
    for (const e of s.endpoints) if (e.origin === 'registered') registered.push(`${s.name}/${e.host}:${e.port}`);
  }
  return { modelVersion: model.version, typeVersions: Object.fromEntries(snap.typeVersions), registered };
}

// Registered after the server's own listeners and before any stream's, so `at`
// is taken before the first response is built.
cp.cache.onChange(() => emit({ event: 'publish', at: Date.now(), ...publishView() }));

/** Peak RSS since the last reset (VmHWM), in bytes; undefined where /proc is not available. */
async function peakRss(): Promise<number | undefined> {
  try {
    const status = await readFile('/proc/self/status', 'utf8');
    const m = /VmHWM:\s+(\d+) kB/.exec(status);
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

let inspector: Inspector | undefined;
/** Event-loop delay: a long stall delays every stream's I/O, keepalive pings included. */
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

serve(
  {
    // V8 CPU profile of one phase, written to `<dir>/<name>.cpuprofile`.
    profileStart: async () => {
      inspector ??= new Inspector();
      inspector.connect();
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.setSamplingInterval', { interval: 200 });
      await inspector.post('Profiler.start');
      return true;
    },
    profileStop: async (args: { dir: string; name: string }) => {
      if (inspector === undefined) return null;
      const { profile } = await inspector.post('Profiler.stop');
      inspector.disconnect();
      await mkdir(args.dir, { recursive: true });
      const path = join(args.dir, `${args.name}.cpuprofile`);
      await writeFile(path, JSON.stringify(profile));
      return path;
    },
    stats: async () => ({
      cpu: process.cpuUsage(),
      mem: process.memoryUsage(),
      peakRss: await peakRss(),
      clients: cp.registry.size,
      infoLines,
      loopDelayMaxMs: loopDelay.max / 1e6,
    }),
    // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0); the loop-delay maximum restarts too.
    resetPeak: async () => {
      loopDelay.reset();
      try {
        await writeFile('/proc/self/clear_refs', '5');
        return true;
      } catch {
        return false;
      }
    },
    gc: () => {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc === undefined) return false;
      gc();
      gc();
      return true;
    },
    current: () => publishView(),
    stop: async () => {
      await cp.close();
      setImmediate(() => process.exit(0));
      return true;
    },
  },
  () => {
    // Parent gone: leave promptly (the CPU profile, if any, is written on exit).
    void cp.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  },
);

emit({ event: 'ready', xdsPort: cp.xdsPort, adminPort: cp.adminPort, pid: process.pid, ...publishView() });
