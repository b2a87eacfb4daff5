/** Starts the benchmark upstream in a child process, pinned to its own core when `taskset` exists. */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export interface Upstream {
  readonly port: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

export const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));

/** Starts `script` (a file in bench/lib, default the plain server) and waits for the port it reports. */
export async function startUpstream(core = 1, script = 'server.ts', args: readonly string[] = []): Promise<Upstream> {
  const child = fork(join(here, script), [...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const [msg] = (await once(child, 'message')) as [{ port: number }];
  if (TASKSET !== undefined) pin(child.pid!, core);
  return {
    port: msg.port,
    child,
    async stop() {
      child.disconnect();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/** Pins a process to one core (best effort; the figures stay ratios either way). */
export function pin(pid: number, core: number): boolean {
  if (TASKSET === undefined) return false;
  // Runs once at start-up of the benchmark, never on a measured path.
  return spawnSync(TASKSET, ['-pc', String(core), String(pid)], { stdio: 'ignore' }).status === 0;
}
