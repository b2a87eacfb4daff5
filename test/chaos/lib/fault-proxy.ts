/**
 * A TCP fault proxy on node:net, for chaos tests on machines without netem or
 * toxiproxy. It forwards 127.0.0.1:<port> to an upstream and, switchable at
 * run time with `set()`, injects:
 *
 * - latency (+ jitter): each chunk is delivered `latencyMs ± jitterMs` after it
 *   arrived, never before the chunk ahead of it (TCP keeps order);
 * - a bandwidth limit: a link of `bytesPerSecond` per direction and connection;
 * - `blackhole`: connections are accepted and nothing is forwarded (existing
 *   ones go silent too), as with a peer behind a dead route;
 * - `reset`: every connection, open or new, is answered with a TCP RST;
 * - `half-open`: one direction stops being read (`up`: client → upstream,
 *   `down`: upstream → client) while the connection stays open.
 *
 * Backpressure holds: a direction with more than `HIGH_WATER` bytes queued
 * stops reading its source until the queue drains.
 */
import net from 'node:net';
import type { AddressInfo, Socket } from 'node:net';

export type ProxyMode = 'forward' | 'blackhole' | 'reset' | 'half-open';

export interface FaultSettings {
  readonly mode: ProxyMode;
  /** With `half-open`: the direction that stops being read. */
  readonly direction: 'up' | 'down';
  readonly latencyMs: number;
  readonly jitterMs: number;
  /** 0 = unlimited. */
  readonly bytesPerSecond: number;
}

export interface ProxyStats {
  accepted: number;
  active: number;
  bytesUp: number;
  bytesDown: number;
  resets: number;
}

export interface FaultProxy {
  readonly port: number;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  readonly stats: Readonly<ProxyStats>;
  settings(): FaultSettings;
  /** Changes the faults for open and new connections. Unset fields keep their value. */
  set(change: Partial<FaultSettings>): void;
  /** Back to plain forwarding. */
  heal(): void;
  close(): Promise<void>;
}

const HIGH_WATER = 256 * 1024;
const NORMAL: FaultSettings = Object.freeze({ mode: 'forward', direction: 'up', latencyMs: 0, jitterMs: 0, bytesPerSecond: 0 });

/** One direction of one connection: a queue of chunks with delivery times. */
class Link {
  readonly #from: Socket;
  readonly #to: Socket;
  readonly #proxy: () => FaultSettings;
  readonly #count: (n: number) => void;
  readonly #isUp: boolean;
  readonly #queue: { at: number; chunk: Buffer }[] = [];
  #queued = 0;
  #lastAt = 0;
  /** When the bandwidth-limited link is free again. */
  #busyUntil = 0;
  #timer: NodeJS.Timeout | undefined;
  #paused = false;

  constructor(from: Socket, to: Socket, isUp: boolean, settings: () => FaultSettings, count: (n: number) => void) {
    this.#from = from;
    this.#to = to;
    this.#isUp = isUp;
    this.#proxy = settings;
    this.#count = count;
    from.on('data', (chunk: Buffer) => this.#onData(chunk));
    from.on('end', () => this.#whenEmpty(() => to.end()));
    to.on('drain', () => this.#pump());
  }

  /** Applies a settings change: half-open stops (or resumes) reading this direction. */
  refresh(): void {
    const s = this.#proxy();
    const stalled = s.mode === 'half-open' && (s.direction === 'up') === this.#isUp;
    if (stalled) this.#from.pause();
    else if (!this.#paused) this.#from.resume();
    this.#pump();
  }

  #onData(chunk: Buffer): void {
    const s = this.#proxy();
    if (s.mode === 'blackhole') return;
    const now = Date.now();
    let at = now + s.latencyMs + (s.jitterMs > 0 ? (Math.random() * 2 - 1) * s.jitterMs : 0);
    if (s.bytesPerSecond > 0) {
      const start = Math.max(now, this.#busyUntil);
      this.#busyUntil = start + (chunk.length * 1000) / s.bytesPerSecond;
      at = Math.max(at, this.#busyUntil);
    }
    at = Math.max(at, this.#lastAt);
    this.#lastAt = at;
    this.#queue.push({ at, chunk });
    this.#queued += chunk.length;
    if (this.#queued > HIGH_WATER && !this.#paused) {
      this.#paused = true;
      this.#from.pause();
    }
    this.#pump();
  }

  #pump(): void {
    if (this.#timer !== undefined) return;
    const now = Date.now();
    while (this.#queue.length > 0 && this.#queue[0]!.at <= now) {
      if (this.#to.destroyed) return;
      if (this.#proxy().mode === 'blackhole') {
        this.#queue.length = 0;
        this.#queued = 0;
        break;
      }
      const { chunk } = this.#queue.shift()!;
      this.#queued -= chunk.length;
      this.#count(chunk.length);
      if (!this.#to.write(chunk)) return; // 'drain' pumps again
    }
    if (this.#paused && this.#queued <= HIGH_WATER / 2) {
      this.#paused = false;
      const s = this.#proxy();
      if (!(s.mode === 'half-open' && (s.direction === 'up') === this.#isUp)) this.#from.resume();
    }
    if (this.#queue.length > 0) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#pump();
      }, Math.max(1, this.#queue[0]!.at - now));
    } else {
      this.#flushWaiter?.();
    }
  }

  #flushWaiter: (() => void) | undefined;

  #whenEmpty(fn: () => void): void {
    if (this.#queue.length === 0) fn();
    else this.#flushWaiter = fn;
  }

  dispose(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue.length = 0;
  }
}

interface Conn {
  readonly client: Socket;
  readonly upstream: Socket | undefined;
  readonly links: Link[];
}

export async function startFaultProxy(upstream: { host?: string; port: number }, initial: Partial<FaultSettings> = {}): Promise<FaultProxy> {
  let settings: FaultSettings = { ...NORMAL, ...initial };
  const stats: ProxyStats = { accepted: 0, active: 0, bytesUp: 0, bytesDown: 0, resets: 0 };
  const conns = new Set<Conn>();
  const current = (): FaultSettings => settings;

  const reset = (sock: Socket | undefined): void => {
    if (sock === undefined || sock.destroyed) return;
    stats.resets++;
    sock.resetAndDestroy();
  };

  const server = net.createServer((client) => {
    stats.accepted++;
    stats.active++;
    client.on('error', () => {});
    if (settings.mode === 'reset') {
      client.once('close', () => stats.active--);
      reset(client);
      return;
    }
    if (settings.mode === 'blackhole') {
      // Accept, read and drop: the peer sees an open connection that never answers.
      const conn: Conn = { client, upstream: undefined, links: [] };
      conns.add(conn);
      client.on('data', () => {});
      client.once('close', () => {
        stats.active--;
        conns.delete(conn);
      });
      return;
    }
    const up = net.connect({ host: upstream.host ?? '127.0.0.1', port: upstream.port });
    up.on('error', () => {});
    const conn: Conn = {
      client,
      upstream: up,
      links: [
        new Link(client, up, true, current, (n) => (stats.bytesUp += n)),
        new Link(up, client, false, current, (n) => (stats.bytesDown += n)),
      ],
    };
    conns.add(conn);
    for (const l of conn.links) l.refresh();
    // A side that ends cleanly is ended on the other side once its queue is delivered (see Link);
    // a side that fails (refused, reset) is passed on as a reset, as a real peer would see it.
    let open = 2;
    const onClose = (other: Socket) => (hadError: boolean): void => {
      if (hadError && !other.destroyed) other.resetAndDestroy();
      if (--open > 0) return;
      stats.active--;
      conns.delete(conn);
      for (const l of conn.links) l.dispose();
    };
    client.once('close', onClose(up));
    up.once('close', onClose(client));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const apply = (): void => {
    for (const c of conns) {
      if (settings.mode === 'reset') {
        reset(c.client);
        reset(c.upstream);
        continue;
      }
      for (const l of c.links) l.refresh();
    }
  };

  return {
    port,
    address: `127.0.0.1:${port}`,
    stats,
    settings: () => settings,
    set(change) {
      settings = { ...settings, ...change };
      apply();
    },
    heal() {
      settings = { ...NORMAL };
      apply();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of conns) {
          c.client.destroy();
          c.upstream?.destroy();
        }
        server.close(() => resolve());
      }),
  };
}
