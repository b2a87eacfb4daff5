/**
 * `enmesh control-plane` in a child process, so a test can SIGKILL it and
 * start it again on the same port, and read its admin API like an operator.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('./cli-main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export interface ControlPlaneProcessOptions {
  readonly config: string;
  /** 0 (default) picks a free port; give the old port to restart a killed replica in place. */
  readonly xdsPort?: number;
  readonly adminPort?: number;
  readonly registrationGraceMs?: number;
  /** Further command-line flags (e.g. `--consul <url>`). */
  readonly args?: readonly string[];
}

export interface ControlPlaneProcess {
  readonly child: ChildProcess;
  readonly xdsPort: number;
  readonly adminPort: number;
  /** `xds://127.0.0.1:<xdsPort>`, as SDKs are given it. */
  readonly url: string;
  /** GET on the admin API, parsed as JSON. */
  admin<T = unknown>(path: string): Promise<T>;
  /** Sends `signal` (default SIGKILL) and resolves once the process is gone. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

const LISTENING = /^enmesh control-plane listening: xds 127\.0\.0\.1:(\d+), admin http:\/\/127\.0\.0\.1:(\d+)$/m;

export async function spawnControlPlane(options: ControlPlaneProcessOptions, startTimeoutMs = 20_000): Promise<ControlPlaneProcess> {
  const args = [
    '--conditions=enmesh-source',
    CLI,
    'control-plane',
    '--config',
    options.config,
    '--xds-port',
    String(options.xdsPort ?? 0),
    '--admin-port',
    String(options.adminPort ?? 0),
  ];
  if (options.registrationGraceMs !== undefined) args.push('--registration-grace', String(options.registrationGraceMs));
  if (options.args !== undefined) args.push(...options.args);
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const ports = await new Promise<[number, number]>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`control plane did not start within ${startTimeoutMs} ms; stderr: ${err.slice(-2000)}`));
    }, startTimeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = LISTENING.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve([Number(m[1]), Number(m[2])]);
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`control plane exited (${code ?? signal}) before listening; stderr: ${err.slice(-2000)}`));
    });
  });
  const [xdsPort, adminPort] = ports;
  return {
    child,
    xdsPort,
    adminPort,
    url: `xds://127.0.0.1:${xdsPort}`,
    async admin<T>(path: string): Promise<T> {
      const res = await fetch(`http://127.0.0.1:${adminPort}${path}`);
      return (await res.json()) as T;
    },
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    exited,
    stderr: () => err,
  };
}

/** Node ids of the clients connected to a replica (`/api/v1/clients`). */
export async function connectedNodeIds(cp: ControlPlaneProcess): Promise<string[]> {
  const { clients } = await cp.admin<{ clients: { nodeId: string }[] }>('/api/v1/clients');
  return clients.map((c) => c.nodeId);
}
