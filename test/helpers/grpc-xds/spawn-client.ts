/** Runs client.ts in a child process against a control plane and collects its JSON lines. */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLIENT = fileURLToPath(new URL('./client.ts', import.meta.url));

export interface CallLine {
  readonly i: number;
  readonly backend: string | null;
  readonly attempt: number;
  readonly code: number;
  readonly details?: string;
  /** When the call finished (epoch ms). */
  readonly t: number;
  /** How long the call took. */
  readonly ms: number;
}

export interface XdsClientRun {
  readonly child: ChildProcess;
  /** Calls reported so far. */
  readonly lines: CallLine[];
  /** Resolves with every call once the client printed its summary and exited. */
  readonly done: Promise<CallLine[]>;
  /** Resolves when `predicate` holds for the lines so far; rejects after `timeoutMs`. */
  waitFor(predicate: (lines: readonly CallLine[]) => boolean, timeoutMs: number): Promise<void>;
  stop(): void;
}

export interface XdsClientOptions {
  readonly xdsPort: number;
  readonly nodeId: string;
  readonly calls: number;
  readonly intervalMs?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly target?: string;
  /** `Get` (default) or `List`. */
  readonly method?: 'Get' | 'List';
  /** Calls in flight at once after the first. Default 1. */
  readonly concurrency?: number;
  /** Delay between the starts of the concurrent lanes. Default 0. */
  readonly staggerMs?: number;
  /** Deadline of every call but the first. Default 5000. */
  readonly deadlineMs?: number;
  /**
   * The bootstrap's `certificate_providers` (e.g. SvidManager.writeGrpcXdsFiles's); the channel
   * then uses `XdsChannelCredentials`, so it speaks mTLS where the cluster says so.
   */
  readonly certificateProviders?: object;
}

export function bootstrapFor(xdsPort: number, nodeId: string, certificateProviders?: object): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${xdsPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: nodeId, locality: { zone: 'z' } },
    ...(certificateProviders === undefined ? {} : { certificate_providers: certificateProviders }),
  });
}

export function spawnXdsClient(options: XdsClientOptions): XdsClientRun {
  const args = [CLIENT, '--calls', String(options.calls), '--interval-ms', String(options.intervalMs ?? 0)];
  if (options.target !== undefined) args.push('--target', options.target);
  if (options.method !== undefined) args.push('--method', options.method);
  if (options.concurrency !== undefined) args.push('--concurrency', String(options.concurrency));
  if (options.staggerMs !== undefined) args.push('--stagger-ms', String(options.staggerMs));
  if (options.deadlineMs !== undefined) args.push('--deadline-ms', String(options.deadlineMs));
  for (const [k, v] of Object.entries(options.headers ?? {})) args.push('--header', `${k}=${v}`);
  if (options.certificateProviders !== undefined) args.push('--xds-creds');
  const child = spawn(process.execPath, args, {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: bootstrapFor(options.xdsPort, options.nodeId, options.certificateProviders) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: CallLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let buffered = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buffered += d;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (text.trim() === '') continue;
      const parsed = JSON.parse(text) as CallLine | { done: true };
      if (!('done' in parsed)) lines.push(parsed);
    }
    for (const w of waiters) w();
  });
  const done = new Promise<CallLine[]>((resolve, reject) => {
    child.once('exit', (code, signal) => {
      if (code === 0 || signal === 'SIGTERM' || signal === 'SIGKILL') resolve(lines);
      else reject(new Error(`grpc-xds client exited with ${code ?? signal}: ${stderr.slice(-2000)}`));
    });
  });
  done.catch(() => {});
  return {
    child,
    lines,
    done,
    waitFor(predicate, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if (predicate(lines)) {
            cleanup();
            resolve();
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`condition not met within ${timeoutMs} ms (${lines.length} calls seen); client stderr: ${stderr.slice(-1000)}`));
        }, timeoutMs);
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
