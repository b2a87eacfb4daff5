/**
 * The demo's child processes: started in their own process group (a Ctrl-C
 * reaches only the demo, which then stops them in order), watched for
 * unexpected exits, and stopped services first, control plane last.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

export interface Child {
  readonly name: string;
  readonly process: ChildProcess;
  /** Stopped in ascending order: services (0) before the control plane (1). */
  readonly stopOrder: number;
}

export class Supervisor {
  readonly #children: Child[] = [];
  readonly #onUnexpectedExit: (name: string, how: string) => void;
  #stopping = false;

  constructor(onUnexpectedExit: (name: string, how: string) => void) {
    this.#onUnexpectedExit = onUnexpectedExit;
    // Whatever ends the demo (an uncaught error included), no child outlives it.
    process.on('exit', () => {
      for (const c of this.#children) if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill('SIGTERM');
    });
  }

  spawn(name: string, args: readonly string[], options: SpawnOptions, stopOrder = 0): ChildProcess {
    const child = spawn(process.execPath, args, { ...options, detached: true });
    this.#children.push({ name, process: child, stopOrder });
    child.on('exit', (code, signal) => {
      if (!this.#stopping) this.#onUnexpectedExit(name, signal ?? `code ${code}`);
    });
    return child;
  }

  /** SIGTERM by stop order, waiting for each group to exit (SIGKILL after `graceMs`). Idempotent. */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    const orders = [...new Set(this.#children.map((c) => c.stopOrder))].sort((a, b) => a - b);
    for (const order of orders) {
      const group = this.#children.filter((c) => c.stopOrder === order && c.process.exitCode === null && c.process.signalCode === null);
      for (const c of group) c.process.kill('SIGTERM');
      await Promise.all(
        group.map(async (c) => {
          const timer = setTimeout(() => c.process.kill('SIGKILL'), graceMs);
          if (c.process.exitCode === null && c.process.signalCode === null) await once(c.process, 'exit');
          clearTimeout(timer);
        }),
      );
    }
  }
}

/** A port free right now on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  return port;
}

/** Polls `probe` every 100 ms until it returns a value; throws `what` when `timeoutMs` passes first. */
export async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch {
      // not there yet
    }
    if (performance.now() > deadline) throw new Error(`${what} within ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
