/**
 * Request/reply over a forked child's IPC channel, with a deadline on every
 * call, plus one-way events from the child. The benchmark's processes (the
 * control plane, the client workers) are driven only through this.
 */
import type { ChildProcess } from 'node:child_process';

interface CallMessage {
  readonly id: number;
  readonly cmd: string;
  readonly args: unknown;
}

interface ReplyMessage {
  readonly id: number;
  readonly ok: boolean;
  readonly value?: unknown;
  readonly error?: string;
}

/** A one-way message from a child: `{ event, ... }`. */
export interface EventMessage {
  readonly event: string;
  readonly [key: string]: unknown;
}

/** The parent's side of one child. */
export class Peer {
  readonly child: ChildProcess;
  readonly name: string;
  readonly #pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  readonly #events = new Set<(e: EventMessage) => void>();
  #seq = 0;

  constructor(child: ChildProcess, name: string) {
    this.child = child;
    this.name = name;
    child.on('message', (m: ReplyMessage | EventMessage) => {
      if ('event' in m) {
        for (const l of this.#events) l(m);
        return;
      }
      const p = this.#pending.get(m.id);
      if (p === undefined) return;
      this.#pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.ok) p.resolve(m.value);
      else p.reject(new Error(`${name}: ${m.error ?? 'failed'}`));
    });
    child.on('exit', (code, signal) => {
      for (const p of this.#pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error(`${name} exited (${signal ?? code}) before replying`));
      }
      this.#pending.clear();
    });
  }

  call<T>(cmd: string, args: unknown = null, timeoutMs = 30_000): Promise<T> {
    const id = ++this.#seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: no reply to "${cmd}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      const fail = (err: Error): void => {
        clearTimeout(timer);
        this.#pending.delete(id);
        reject(new Error(`${this.name}: cannot send "${cmd}": ${err.message}`));
      };
      if (!this.child.connected) {
        fail(new Error('the child is gone'));
        return;
      }
      const msg: CallMessage = { id, cmd, args };
      this.child.send(msg, (err) => {
        if (err !== null) fail(err);
      });
    });
  }

  onEvent(listener: (e: EventMessage) => void): () => void {
    this.#events.add(listener);
    return () => this.#events.delete(listener);
  }
}

export type Handlers = Readonly<Record<string, (args: never) => unknown>>;

/** The child's side: answers calls with `handlers`; exits when the parent goes away. */
export function serve(handlers: Handlers, onParentGone: () => void): void {
  process.on('message', (m: CallMessage) => {
    const handler = handlers[m.cmd] as ((args: unknown) => unknown) | undefined;
    const reply = (r: ReplyMessage): void => {
      if (process.connected) process.send!(r);
    };
    if (handler === undefined) {
      reply({ id: m.id, ok: false, error: `unknown command "${m.cmd}"` });
      return;
    }
    Promise.resolve()
      .then(() => handler(m.args))
      .then(
        (value) => reply({ id: m.id, ok: true, value }),
        (err: unknown) => reply({ id: m.id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  process.on('disconnect', onParentGone);
}

export function emit(event: EventMessage): void {
  if (process.connected) process.send!(event);
}
