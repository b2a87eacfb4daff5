/**
 * Keeps a set of service instances registered with a Consul agent, each with
 * a check: a TTL check this process keeps passing (so an instance whose
 * owner dies turns critical within the TTL and is removed by Consul after
 * `DeregisterCriticalServiceAfter`), or an HTTP check the agent runs itself.
 *
 * Used by the control plane (writing SDK registrations through to Consul) and
 * by the SDK (registering its own instance). Consul being down never throws:
 * registrations and passes are retried until they succeed, so an instance
 * registered during an outage appears within seconds of recovery; a TTL
 * check Consul no longer knows (agent restarted) is registered again.
 */
import type { Logger } from '../log.ts';
import { describeConsulError } from './client.ts';
import type { ConsulClient } from './client.ts';
import type { SourceStatus } from './source-status.ts';

export type AgentCheck = { readonly kind: 'ttl' } | { readonly kind: 'http'; readonly url: string; readonly intervalMs: number };

export interface AgentInstance {
  /** Unique per agent. */
  readonly id: string;
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly tags?: readonly string[];
  readonly meta?: Readonly<Record<string, string>>;
  readonly check: AgentCheck;
}

export interface AgentRegistrarOptions {
  readonly client: ConsulClient;
  readonly log: Logger;
  /** TTL of TTL checks; they are passed every third of it. Default 10 s. */
  readonly ttlMs?: number;
  /** How long Consul keeps an instance whose check stays critical. Default 1 m. */
  readonly deregisterCriticalAfterMs?: number;
  /** Delay before retrying after a failed call. Default 1000 ms. */
  readonly retryMs?: number;
  readonly status?: SourceStatus;
}

interface Entry {
  instance: AgentInstance;
  /** The definition last registered, or undefined when (re)registration is due. */
  registered: string | undefined;
}

export class AgentRegistrar {
  readonly #o: AgentRegistrarOptions;
  readonly #ttlMs: number;
  readonly #entries = new Map<string, Entry>();
  /** Ids to deregister. */
  readonly #leaving = new Set<string>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(options: AgentRegistrarOptions) {
    this.#o = options;
    this.#ttlMs = options.ttlMs ?? 10_000;
  }

  /** The instances that should be registered from now on. */
  set(instances: readonly AgentInstance[]): void {
    if (this.#closed) return;
    const next = new Map(instances.map((i) => [i.id, i]));
    for (const id of this.#entries.keys()) {
      if (next.has(id)) continue;
      this.#entries.delete(id);
      this.#leaving.add(id);
    }
    for (const [id, instance] of next) {
      this.#leaving.delete(id);
      const e = this.#entries.get(id);
      if (e === undefined) this.#entries.set(id, { instance, registered: undefined });
      else if (JSON.stringify(e.instance) !== JSON.stringify(instance)) {
        e.instance = instance;
        e.registered = undefined;
      }
    }
    this.#kick(0);
  }

  /** Ids currently registered (as far as this process knows). */
  registered(): string[] {
    return [...this.#entries.values()].filter((e) => e.registered !== undefined).map((e) => e.instance.id);
  }

  /**
   * Stops, and with `deregister` (default true) removes everything registered (best effort).
   * Without it, registrations stay until their TTL checks expire: a control-plane replica that
   * stops leaves its instances to the replica they reconnect to, with no gap in the catalog.
   */
  async close(options: { readonly deregister?: boolean } = {}): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#running;
    const ids = options.deregister === false ? [...this.#leaving] : [...this.#entries.keys(), ...this.#leaving];
    this.#entries.clear();
    this.#leaving.clear();
    await Promise.all(ids.map((id) => this.#o.client.agent.service.deregister({ id, timeout: 2000 } as never).catch(() => undefined)));
  }

  #kick(delay: number): void {
    if (this.#closed) return;
    if (this.#running !== undefined) {
      // Changed during a round: one more round as soon as it ends.
      this.#again = true;
      return;
    }
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      // A round schedules its successor only once it has ended: scheduled from inside the round,
      // the next pass or retry would count as a change and run at once, not after its delay.
      this.#running = this.#sync().then(
        (next) => this.#ended(next),
        () => this.#ended(this.#o.retryMs ?? 1000),
      );
    }, delay);
    this.#timer.unref?.();
  }

  #ended(next: number | undefined): void {
    this.#running = undefined;
    if (this.#again) {
      this.#again = false;
      this.#kick(0);
    } else if (next !== undefined) {
      this.#kick(next);
    }
  }

  /** One round of calls; resolves with the delay before the next round, or undefined for none. */
  async #sync(): Promise<number | undefined> {
    const c = this.#o.client;
    let failed: string | undefined;
    // One round trip of wall time per round, however many instances: calls go out together.
    const leave = [...this.#leaving].map(async (id) => {
      try {
        await c.agent.service.deregister({ id, timeout: 5000 } as never);
        this.#leaving.delete(id);
      } catch (err) {
        // Unknown to the agent: nothing left to remove.
        if (statusOf(err) === 404) this.#leaving.delete(id);
        else failed ??= `deregister ${id}: ${describeConsulError(err)}`;
      }
    });
    const keep = [...this.#entries.values()].map(async (e) => {
      const def = JSON.stringify(e.instance);
      try {
        if (e.registered !== def) {
          await c.agent.service.register(this.#definition(e.instance) as never);
          e.registered = def;
          this.#o.log.info(`consul: registered ${e.instance.name} ${e.instance.address}:${e.instance.port} as ${e.instance.id}`);
        } else if (e.instance.check.kind === 'ttl') {
          await c.agent.check.pass({ id: `service:${e.instance.id}`, timeout: 5000 } as never);
        }
      } catch (err) {
        // The agent forgot the service or its check (restart, expiry): register it again.
        if (statusOf(err) === 404) e.registered = undefined;
        failed ??= `${e.registered === def ? 'pass check of' : 'register'} ${e.instance.id}: ${describeConsulError(err)}`;
      }
    });
    await Promise.all([...leave, ...keep]);
    if (this.#closed) return undefined;
    if (failed !== undefined) {
      this.#o.status?.failed('agent', failed);
      this.#o.log.warn(`consul: ${failed}; retrying`);
      return this.#o.retryMs ?? 1000;
    }
    // Agent calls are answered by the local agent, leader or not: they leave knownLeader as the reads set it.
    if (this.#entries.size > 0 || this.#leaving.size > 0) this.#o.status?.ok('agent', 0);
    else this.#o.status?.forget('agent');
    // Passes every third of the TTL: two can be lost before the check turns critical.
    return this.#entries.size > 0 ? Math.max(100, Math.floor(this.#ttlMs / 3)) : undefined;
  }

  #definition(i: AgentInstance): Record<string, unknown> {
    const deregister = `${Math.max(1, Math.round((this.#o.deregisterCriticalAfterMs ?? 60_000) / 1000))}s`;
    const check =
      i.check.kind === 'ttl'
        ? { ttl: `${Math.max(1, Math.round(this.#ttlMs / 1000))}s`, status: 'passing', deregistercriticalserviceafter: deregister }
        : { http: i.check.url, interval: `${Math.max(1, Math.round(i.check.intervalMs / 1000))}s`, deregistercriticalserviceafter: deregister };
    return {
      id: i.id,
      name: i.name,
      address: i.address,
      port: i.port,
      ...(i.tags !== undefined && i.tags.length > 0 ? { tags: [...i.tags] } : {}),
      ...(i.meta !== undefined ? { meta: { ...i.meta } } : {}),
      check,
      timeout: 5000,
    };
  }
}

function statusOf(err: unknown): number | undefined {
  return (err as { response?: { statusCode?: number } }).response?.statusCode;
}
