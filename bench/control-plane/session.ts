/**
 * One benchmark setup: a control-plane child on a generated mesh file, client
 * workers holding the simulated clients, and the registrar that makes
 * endpoint churn. Every wait is bounded; `close()` ends every child, and
 * `killAll()` is the last resort on exit.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADS_TYPE_ORDER, CLUSTER_LOAD_ASSIGNMENT } from '../../src/xds/type-urls.ts';
import { Registrar } from './churn.ts';
import type { Change } from './churn.ts';
import type { ByteCount, ChurnResult, ClientKind, WorkerStart } from './worker-api.ts';
import { HIST_MS } from './worker-api.ts';
import { Peer } from './ipc.ts';
import type { EventMessage } from './ipc.ts';
import { meshYaml } from './mesh.ts';
import { addInto } from './stats.ts';

const here = dirname(fileURLToPath(import.meta.url));
const live = new Set<ChildProcess>();

/** Kills every child still running (exit, error or signal of the benchmark). */
export function killAll(): void {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  live.clear();
}

export type Mode = 'mixed' | 'delta' | 'sotw';

export interface SessionOptions {
  readonly dir: string;
  readonly services: number;
  readonly clients: number;
  readonly mode: Mode;
  readonly workers: number;
  readonly channelsPerWorker: number;
  readonly flowWindow?: number;
  /** Streams opened per second over all workers; 0 opens them all at once. */
  readonly connectRate: number;
  /** Server keepalive timeout of the control plane (its default when unset). */
  readonly keepaliveTimeoutMs?: number;
}

export interface Publish {
  readonly at: number;
  readonly modelVersion: string;
  readonly typeVersions: Readonly<Record<string, string>>;
  readonly registered: readonly string[];
}

/** What the workers report: bytes received by kind since `resetBytes`, their CPU so far, their longest loop stall since the reset. */
export type WorkerCounts = Record<ClientKind, ByteCount> & { cpuUs: number; loopDelayMaxMs: number };

export interface CpStats {
  readonly cpu: { readonly user: number; readonly system: number };
  readonly mem: { readonly rss: number; readonly heapUsed: number; readonly external: number; readonly arrayBuffers: number };
  readonly peakRss: number | undefined;
  readonly clients: number;
  /** Longest event-loop stall since the last `resetPeak`. */
  readonly loopDelayMaxMs: number;
}

export interface Convergence {
  /** Per client: Date.now() when it had ACKed every target version. */
  readonly times: number[];
}

function forkChild(script: string, args: string[], execArgv: string[]): ChildProcess {
  const child = fork(join(here, script), args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: ['--conditions=enmesh-source', '--disable-warning=ExperimentalWarning', ...execArgv],
  });
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

async function ready(peer: Peer, timeoutMs: number): Promise<EventMessage> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${peer.name} not ready within ${timeoutMs} ms`)), timeoutMs);
    const stop = peer.onEvent((e) => {
      if (e.event !== 'ready') return;
      clearTimeout(timer);
      stop();
      resolve(e);
    });
    peer.child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${peer.name} exited with ${code} while starting`));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class Session {
  readonly options: SessionOptions;
  readonly meshPath: string;
  readonly publishes: Publish[] = [];
  cp!: Peer;
  xdsPort = 0;
  workers: Peer[] = [];
  registrar!: Registrar;
  #edit = 0;
  #closing: Promise<void> | undefined;

  constructor(options: SessionOptions) {
    this.options = options;
    this.meshPath = join(options.dir, 'mesh.yaml');
  }

  get clients(): number {
    return this.options.clients;
  }

  /** Writes the first mesh file and starts the control plane. */
  async startControlPlane(): Promise<void> {
    await writeFile(this.meshPath, meshYaml({ services: this.options.services, edit: 0 }));
    const overrides = this.options.keepaliveTimeoutMs === undefined ? {} : { keepaliveTimeoutMs: this.options.keepaliveTimeoutMs };
    const child = forkChild('cp-child.ts', [this.meshPath, JSON.stringify(overrides)], ['--expose-gc']);
    this.cp = new Peer(child, 'control plane');
    this.cp.onEvent((e) => {
      if (e.event === 'publish') this.publishes.push(e as unknown as Publish);
    });
    const r = await ready(this.cp, 30_000);
    this.xdsPort = r.xdsPort as number;
    this.publishes.push({ ...(r as unknown as Publish), at: Date.now() });
    this.registrar = new Registrar(this.xdsPort, this.options.services);
  }

  latest(): Publish {
    return this.publishes[this.publishes.length - 1]!;
  }

  /** The first publish after index `from` that satisfies `predicate`. */
  async publishWhere(from: number, predicate: (p: Publish) => boolean, timeoutMs: number, what: string): Promise<{ publish: Publish; index: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < this.publishes.length; i++) if (predicate(this.publishes[i]!)) return { publish: this.publishes[i]!, index: i };
      if (Date.now() > deadline) throw new Error(`${what}: no such publish within ${timeoutMs} ms`);
      await sleep(5);
    }
  }

  /** Registers `perService` instances of every service and waits until they are published. */
  async prime(perService: number): Promise<void> {
    const from = this.publishes.length;
    for (let i = 0; i < perService * this.options.services; i++) this.registrar.add();
    const want = this.registrar.size;
    await this.publishWhere(from, (p) => p.registered.length === want, 10_000, 'registering the initial instances');
  }

  /** Starts the workers and opens every client's stream; resolves once all are open (not converged). */
  async startClients(): Promise<void> {
    const { clients, workers, mode } = this.options;
    const w = Math.max(1, Math.min(workers, clients));
    const peers: Peer[] = [];
    for (let i = 0; i < w; i++) peers.push(new Peer(forkChild('client-worker.ts', [], []), `client worker ${i}`));
    await Promise.all(peers.map((p) => ready(p, 30_000)));
    this.workers = peers;
    // Client i (over all workers) is delta when odd in mixed mode: kinds interleave on every channel.
    let global = 0;
    const starts = peers.map((p, wi) => {
      const count = Math.floor(clients / w) + (wi < clients % w ? 1 : 0);
      const kinds: ClientKind[] = [];
      for (let i = 0; i < count; i++, global++) kinds.push(mode === 'mixed' ? (global % 2 === 0 ? 'sotw' : 'delta') : mode);
      const args: WorkerStart = {
        port: this.xdsPort,
        worker: wi,
        kinds,
        channels: this.options.channelsPerWorker,
        openPerSecond: this.options.connectRate / w,
        // Each simulated client gets the 64 KB connection window it would have on a connection
        // of its own; one shared 64 KB window would throttle hundreds of streams together.
        flowWindow: this.options.flowWindow ?? Math.min(2 ** 31 - 1, Math.max(1, Math.ceil(count / this.options.channelsPerWorker)) * 65_535),
      };
      return p.call<number>('start', args, 120_000);
    });
    await Promise.all(starts);
  }

  /** The ADS type versions of a publish (the versions clients ACK). */
  static versions(p: Publish): string[] {
    return ADS_TYPE_ORDER.map((t) => p.typeVersions[t]!).filter((v) => v !== undefined);
  }

  /** Waits until every client has ACKed every version of `p`; with `times`, returns when each did. */
  async converge(p: Publish, timeoutMs: number, withTimes: boolean): Promise<Convergence> {
    const versions = Session.versions(p);
    const deadline = Date.now() + timeoutMs;
    let last = 0;
    for (;;) {
      const replies = await Promise.all(
        this.workers.map((w) => w.call<{ converged: number; total: number }>('converged', { versions }, 30_000)),
      );
      last = replies.reduce((a, r) => a + r.converged, 0);
      if (last === this.clients) break;
      // Simulated clients do not reconnect: a failed stream never converges.
      const errors = await Promise.all(this.workers.map((w) => w.call<{ streamErrors: number; lastError: string }>('errors')));
      const failed = errors.reduce((a, r) => a + r.streamErrors, 0);
      if (failed > 0 || Date.now() > deadline) {
        const hint = errors.find((r) => r.lastError !== '')?.lastError ?? '';
        const cp = await this.cpStats();
        const w = await this.bytes();
        throw new Error(
          `${last} of ${this.clients} clients converged on model ${p.modelVersion} ` +
            `(${Date.now() > deadline ? `timed out after ${timeoutMs} ms` : 'gave up'}; ${failed} streams failed${hint === '' ? '' : `, e.g. ${hint}`}; ` +
            `longest event-loop stall: control plane ${Math.round(cp.loopDelayMaxMs)} ms, clients ${Math.round(w.loopDelayMaxMs)} ms)`,
        );
      }
      await sleep(25);
    }
    if (!withTimes) return { times: [] };
    const replies = await Promise.all(this.workers.map((w) => w.call<{ times: number[] }>('converged', { versions, times: true }, 30_000)));
    return { times: replies.flatMap((r) => r.times) };
  }

  /** Rewrites the mesh file with the next route change, atomically (write, then rename), as editors do. */
  async editRoute(): Promise<number> {
    this.#edit += 1;
    const text = meshYaml({ services: this.options.services, edit: this.#edit });
    const tmp = `${this.meshPath}.tmp`;
    await writeFile(tmp, text);
    const t0 = Date.now();
    await rename(tmp, this.meshPath);
    return t0;
  }

  async cpStats(): Promise<CpStats> {
    return this.cp.call<CpStats>('stats');
  }

  async resetBytes(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call('resetBytes')));
  }

  /** Bytes received by the clients since `resetBytes`, and the workers' total CPU so far (µs). */
  async bytes(): Promise<WorkerCounts> {
    const all = await Promise.all(this.workers.map((w) => w.call<WorkerCounts>('bytes')));
    const sum: WorkerCounts = { sotw: { bytes: 0, responses: 0, clients: 0 }, delta: { bytes: 0, responses: 0, clients: 0 }, cpuUs: 0, loopDelayMaxMs: 0 };
    for (const r of all) {
      sum.cpuUs += r.cpuUs;
      sum.loopDelayMaxMs = Math.max(sum.loopDelayMaxMs, r.loopDelayMaxMs);
      for (const k of ['sotw', 'delta'] as const) {
        sum[k].bytes += r[k].bytes;
        sum[k].responses += r[k].responses;
        sum[k].clients += r[k].clients;
      }
    }
    return sum;
  }

  /** Runs churn, waits for every client to have the last of it, and maps each change to its latencies. */
  async churn(rate: number, durationMs: number): Promise<ChurnOutcome> {
    const from = this.publishes.length;
    const changes = await this.registrar.churn(rate, durationMs);
    const lastChange = changes[changes.length - 1]!;
    const holds = (p: Publish, c: Change): boolean => p.at >= c.t0 && p.registered.includes(c.key) === (c.op === 'add');
    const { index: lastIndex } = await this.publishWhere(from, (p) => holds(p, lastChange), 10_000, 'publishing the last change');
    await this.converge(this.publishes[lastIndex]!, 60_000 + this.clients * 10, false);
    const pubs = this.publishes.slice(from, lastIndex + 1);
    // An instance that came and went between two publishes was never visible: under load,
    // changes coalesce. Any other change must show up in some publish.
    const removed = new Set(changes.filter((c) => c.op === 'remove').map((c) => c.key));
    let coalesced = 0;
    const mapped: { t0: number; publish: number }[] = [];
    for (const c of changes) {
      const i = pubs.findIndex((p) => holds(p, c));
      if (i >= 0) mapped.push({ t0: c.t0, publish: i });
      else if (c.op === 'add' && removed.has(c.key)) coalesced += 1;
      else throw new Error(`change ${c.op} ${c.key} was never published`);
    }
    // Churn moves endpoints only: every other type's version must stay put.
    const before = this.publishes[from - 1]!;
    const otherTypesChanged = pubs.filter((p) =>
      ADS_TYPE_ORDER.some((t) => t !== CLUSTER_LOAD_ASSIGNMENT && p.typeVersions[t] !== before.typeVersions[t]),
    ).length;
    const eds = pubs.map((p) => p.typeVersions[CLUSTER_LOAD_ASSIGNMENT]!);
    const results = await Promise.all(this.workers.map((w) => w.call<ChurnResult>('churn', { publishes: eds, changes: mapped }, 60_000)));
    const maxMs = mapped.map((_c, i) => {
      let m = 0;
      for (const r of results) {
        const v = r.maxMs[i]!;
        if (v < 0 || m < 0) m = -1;
        else if (v > m) m = v;
      }
      return m;
    });
    const hist: Record<ClientKind, number[]> = { sotw: new Array<number>(HIST_MS + 1).fill(0), delta: new Array<number>(HIST_MS + 1).fill(0) };
    for (const r of results) {
      addInto(hist.sotw, r.hist.sotw);
      addInto(hist.delta, r.hist.delta);
    }
    return { changes: changes.length, coalesced, publishes: pubs.length, maxMs, hist, otherTypesChanged };
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.registrar?.close();
    await Promise.allSettled(
      this.workers.map(async (w) => {
        const exited = once(w.child, 'exit');
        await w.call('stop', null, 5_000).catch(() => w.child.kill('SIGKILL'));
        await Promise.race([exited, sleep(5_000)]);
      }),
    );
    if (this.cp !== undefined) {
      const exited = once(this.cp.child, 'exit');
      await this.cp.call('stop', null, 10_000).catch(() => this.cp.child.kill('SIGKILL'));
      await Promise.race([exited, sleep(10_000)]);
    }
    for (const w of this.workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    if (this.cp !== undefined && this.cp.child.exitCode === null) this.cp.child.kill('SIGKILL');
  }
}

export interface ChurnOutcome {
  readonly changes: number;
  /** Registrations drained again before any publish showed them (not in the latencies). */
  readonly coalesced: number;
  readonly publishes: number;
  /** Per change: ms until the last client had it (-1: some client never did). */
  readonly maxMs: number[];
  /** Per (change, client) latency histograms (1 ms buckets) by client kind. */
  readonly hist: Record<ClientKind, number[]>;
  /** Publishes during churn that changed a type other than endpoints (expected 0). */
  readonly otherTypesChanged: number;
}
