/** Child processes of the chaos scenarios: backends to crash, freeze and restart. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BACKEND = fileURLToPath(new URL('./backend-process.ts', import.meta.url));

export interface BackendProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly port: number;
  readonly address: string;
  /** Sends `signal` (default SIGKILL) and resolves once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts backend-process.ts; `prefix` runs it under another command (e.g. `ip netns exec <ns>`). */
export async function spawnBackend(name: string, options: { port?: number; host?: string; prefix?: readonly string[] } = {}): Promise<BackendProcess> {
  const host = options.host ?? '127.0.0.1';
  const args = [process.execPath, BACKEND, name, String(options.port ?? 0), host];
  const [cmd, ...rest] = [...(options.prefix ?? []), ...args];
  const child = spawn(cmd!, rest, { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`backend ${name} did not start within 20 s; stderr: ${err.slice(-1000)}`));
    }, 20_000);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve((JSON.parse(out.slice(0, nl)) as { port: number }).port);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`backend ${name} exited before listening; stderr: ${err.slice(-1000)}`));
    });
  });
  return {
    name,
    child,
    port,
    address: `${host}:${port}`,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) {
        // A stopped process gets the signal only once continued (SIGKILL excepted).
        child.kill(signal);
        if (signal !== 'SIGKILL') child.kill('SIGCONT');
      }
      await exited;
    },
  };
}
