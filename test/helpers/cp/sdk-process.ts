/**
 * Runs sdk-agent.ts in a child process (an application in control-plane
 * mode) and talks to it: the models it applied, the errors it reported, and
 * commands (load, gRPC calls, status, close) with their replies.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const AGENT = fileURLToPath(new URL('./sdk-agent.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

export interface ServiceSummary {
  readonly endpoints: readonly string[];
  readonly routes: readonly { readonly name: string; readonly backends: readonly { readonly subset: string | null; readonly weight: number }[] }[];
}

export interface ConfigEvent {
  /** Epoch ms when the agent applied the model. */
  readonly t: number;
  readonly version: string;
  readonly services: Readonly<Record<string, ServiceSummary>>;
}

export interface ErrorEvent {
  readonly t: number;
  readonly code: string;
  readonly message: string;
}

export interface LoadOptions {
  readonly url: string;
  /** Most calls to make. */
  readonly count: number;
  /** Longest the load may run. */
  readonly maxMs: number;
  /** Calls per second, open loop; otherwise `concurrency` calls in flight (default 1). */
  readonly rps?: number;
  readonly concurrency?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Also return `[start ms, backend]` per call. */
  readonly timeline?: boolean;
}

export interface LoadResult {
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  readonly byBackend: Readonly<Record<string, number>>;
  readonly failures: readonly { readonly t: number; readonly status?: number; readonly error?: string }[];
  readonly timeline: readonly (readonly [number, string | null])[];
}

export interface RunningLoad {
  readonly result: Promise<LoadResult>;
  /** Ends the load early; `result` then resolves with what was done. */
  stop(): Promise<void>;
}

export interface GrpcResult {
  readonly ok: number;
  readonly failed: number;
  readonly byBackend: Readonly<Record<string, number>>;
  readonly errors: readonly string[];
}

export interface SdkOptions {
  /** `xds://host:port` of each control-plane replica. */
  readonly controlPlane: readonly string[];
  readonly mode?: 'delta' | 'sotw';
  /** ENMESH_SERVICE. */
  readonly service?: string;
  /** ENMESH_LABELS, e.g. `version=v1`. */
  readonly labels?: string;
  /** Serve HTTP under this name and register the instance (needs `service`). */
  readonly serve?: string;
}

export interface SdkProcess {
  readonly child: ChildProcess;
  /** The port the instance serves on, with `serve`. */
  readonly port: number | null;
  readonly configs: ConfigEvent[];
  readonly errors: ErrorEvent[];
  /** The last model applied, if any. */
  latest(): ConfigEvent | undefined;
  /** Resolves with the first config event (from index `from`) matching `predicate`. */
  waitForConfig(predicate: (c: ConfigEvent) => boolean, timeoutMs: number, from?: number): Promise<ConfigEvent>;
  load(options: LoadOptions): RunningLoad;
  grpc(target: string, calls: number): Promise<GrpcResult>;
  status(): Promise<{ version: string | null; services: Record<string, ServiceSummary> }>;
  /** Graceful `mesh.close()`; resolves with the epoch ms it started at. */
  close(): Promise<number>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  stderr(): string;
}

export async function spawnSdk(options: SdkOptions, startTimeoutMs = 20_000): Promise<SdkProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, ENMESH_CONTROL_PLANE: options.controlPlane.join(',') };
  for (const k of ['ENMESH_CONFIG', 'ENMESH_SERVICE', 'ENMESH_PORT', 'ENMESH_LABELS', 'ENMESH_XDS_MODE', 'GRPC_XDS_BOOTSTRAP', 'GRPC_XDS_BOOTSTRAP_CONFIG']) delete env[k];
  if (options.mode !== undefined) env.ENMESH_XDS_MODE = options.mode;
  if (options.service !== undefined) env.ENMESH_SERVICE = options.service;
  if (options.labels !== undefined) env.ENMESH_LABELS = options.labels;
  if (options.serve !== undefined) env.AGENT_SERVE = options.serve;
  const child = spawn(process.execPath, ['--conditions=enmesh-source', AGENT], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  const configs: ConfigEvent[] = [];
  const errors: ErrorEvent[] = [];
  const replies = new Map<number, (body: Record<string, unknown>) => void>();
  const waiters = new Set<() => void>();
  let stderr = '';
  let buffered = '';
  let ready: { port: number | null } | undefined;
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    for (const w of waiters) w();
    resolve();
  }));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buffered += d;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const text = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (text.trim() === '') continue;
      const msg = JSON.parse(text) as { ev: string; id?: number } & Record<string, unknown>;
      if (msg.ev === 'config') configs.push(msg as unknown as ConfigEvent);
      else if (msg.ev === 'error') errors.push(msg as unknown as ErrorEvent);
      else if (msg.ev === 'ready') ready = { port: msg.port as number | null };
      else if (msg.ev === 'reply') replies.get(msg.id!)?.(msg);
    }
    for (const w of waiters) w();
  });
  child.stdin!.on('error', () => {});

  let seq = 0;
  const command = <T>(body: object): { id: number; reply: Promise<T> } => {
    const id = ++seq;
    const reply = new Promise<T>((resolve, reject) => {
      replies.set(id, (msg) => {
        replies.delete(id);
        resolve(msg as T);
      });
      void exit.then(() => reject(new Error(`sdk agent exited before answering ${JSON.stringify(body)}; stderr: ${stderr.slice(-1500)}`)));
    });
    reply.catch(() => {});
    child.stdin!.write(`${JSON.stringify({ id, ...body })}\n`);
    return { id, reply };
  };

  const waitFor = (predicate: () => boolean, timeoutMs: number, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (predicate()) {
          cleanup();
          resolve();
        } else if (exited) {
          cleanup();
          reject(new Error(`sdk agent exited while waiting for ${what}; stderr: ${stderr.slice(-1500)}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${what} not seen within ${timeoutMs} ms; configs: ${configs.length}; stderr: ${stderr.slice(-1500)}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  try {
    await waitFor(() => ready !== undefined, startTimeoutMs, 'agent start');
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }

  return {
    child,
    port: ready!.port,
    configs,
    errors,
    latest: () => configs.at(-1),
    async waitForConfig(predicate, timeoutMs, from = 0) {
      let hit: ConfigEvent | undefined;
      await waitFor(() => (hit = configs.slice(from).find(predicate)) !== undefined, timeoutMs, 'matching config');
      return hit!;
    },
    load(opts) {
      const { id, reply } = command<LoadResult>({ cmd: 'load', ...opts });
      return {
        result: reply,
        async stop() {
          await command({ cmd: 'stop', load: id }).reply;
        },
      };
    },
    grpc: (target, calls) => command<GrpcResult>({ cmd: 'grpc', target, calls }).reply,
    status: () => command<{ version: string | null; services: Record<string, ServiceSummary> }>({ cmd: 'status' }).reply,
    close: async () => (await command<{ t: number }>({ cmd: 'close' }).reply).t,
    async kill(signal = 'SIGKILL') {
      if (!exited) child.kill(signal);
      await exit;
    },
    stderr: () => stderr,
  };
}
