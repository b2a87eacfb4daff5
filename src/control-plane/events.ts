/**
 * Server-sent events for operators (`GET /api/v1/events`): one hub, any
 * number of dashboards. An event is serialised once and written to every
 * client. A client that does not keep up (its socket buffer passes
 * `maxBufferedBytes`) is disconnected rather than buffered for: EventSource
 * reconnects by itself and starts from the current state, and a stalled
 * dashboard cannot grow the control plane's memory.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Event types of the contract (docs/admin-api.md); others may be added by modules that own them. */
export type AdminEventType = 'snapshot' | 'clients' | 'load' | 'audit' | 'canary' | 'policy' | 'sources' | (string & {});

export interface EventHubOptions {
  /** Bytes a client may have queued before it is dropped. Default 256 KiB. */
  readonly maxBufferedBytes?: number;
  /** Interval of the `: ping` comment. Default 15 s. */
  readonly pingMs?: number;
  /** Most clients at once; further ones get 503. Default 100. */
  readonly maxClients?: number;
}

interface Client {
  readonly res: ServerResponse;
}

export class EventHub {
  readonly #clients = new Set<Client>();
  readonly #maxBuffered: number;
  readonly #maxClients: number;
  readonly #ping: ReturnType<typeof setInterval>;
  readonly #onConnect = new Set<(send: (type: AdminEventType, data: unknown) => void) => void>();
  /** Clients dropped for being slow (for tests and diagnostics). */
  dropped = 0;

  constructor(options: EventHubOptions = {}) {
    this.#maxBuffered = options.maxBufferedBytes ?? 256 * 1024;
    this.#maxClients = options.maxClients ?? 100;
    this.#ping = setInterval(() => this.#broadcast(': ping\n\n'), options.pingMs ?? 15_000);
    this.#ping.unref();
  }

  /** Connected clients. */
  get size(): number {
    return this.#clients.size;
  }

  /**
   * Called for every new client with a `send` for that client only, so a
   * module can give it the current state at once (e.g. the load view).
   */
  onConnect(listener: (send: (type: AdminEventType, data: unknown) => void) => void): () => void {
    this.#onConnect.add(listener);
    return () => this.#onConnect.delete(listener);
  }

  /** Sends an event to every client. Costs nothing without clients. */
  publish(type: AdminEventType, data: unknown): void {
    if (this.#clients.size === 0) return;
    this.#broadcast(frame(type, data));
  }

  /** Takes over an HTTP request as an event stream. */
  attach(req: IncomingMessage, res: ServerResponse): void {
    if (this.#clients.size >= this.#maxClients) {
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '5' });
      res.end(`${JSON.stringify({ error: `too many event streams (${this.#maxClients}); close one and retry` })}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Proxies must not buffer the stream.
      'x-accel-buffering': 'no',
    });
    res.flushHeaders();
    req.socket.setNoDelay(true);
    req.socket.setTimeout(0);
    const client: Client = { res };
    this.#clients.add(client);
    const remove = (): void => {
      this.#clients.delete(client);
    };
    res.on('close', remove);
    req.on('close', remove);
    // Tell EventSource how soon to come back after a drop.
    res.write('retry: 2000\n\n');
    const send = (type: AdminEventType, data: unknown): void => this.#write(client, frame(type, data));
    for (const l of this.#onConnect) {
      try {
        l(send);
      } catch {
        // A failing listener must not break the stream of the others.
      }
    }
  }

  /** Ends every stream and stops the ping. */
  close(): void {
    clearInterval(this.#ping);
    for (const c of this.#clients) c.res.end();
    this.#clients.clear();
  }

  #broadcast(text: string): void {
    for (const c of this.#clients) this.#write(c, text);
  }

  #write(c: Client, text: string): void {
    const res = c.res;
    if (res.destroyed || res.writableEnded) {
      this.#clients.delete(c);
      return;
    }
    if (res.writableLength + text.length > this.#maxBuffered) {
      this.dropped++;
      this.#clients.delete(c);
      res.destroy();
      return;
    }
    res.write(text);
  }
}

function frame(type: AdminEventType, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}
