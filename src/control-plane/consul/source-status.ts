/**
 * Health of an external source (Consul), as the admin API, the metrics and
 * the events stream show it. A source is made of several watches (the
 * catalog, one per service, the config key); it is up while the last attempt
 * of every one of them succeeded, and down from the first failure until all
 * have succeeded again.
 */
export interface SourceView {
  readonly source: string;
  readonly address: string;
  readonly up: boolean;
  /** Since when it has been in its current state (ISO time). */
  readonly since: string;
  /** The last successful answer (ISO time), or null. */
  readonly lastSuccess: string | null;
  /** Why it is down (the latest failure), or null when up. */
  readonly error: string | null;
  /** Watches failing now, by name. */
  readonly failing: readonly string[];
  /** False when the last answer said the cluster had no known leader (stale reads). */
  readonly knownLeader: boolean;
  /** The highest `X-Consul-Index` seen. */
  readonly index: number;
}

export class SourceStatus {
  readonly source: string;
  readonly address: string;
  readonly #failing = new Map<string, string>();
  readonly #listeners = new Set<(view: SourceView) => void>();
  #up = true;
  #since = Date.now();
  #lastSuccess: number | undefined;
  #knownLeader = true;
  #index = 0;

  constructor(source: string, address: string) {
    this.source = source;
    this.address = address;
  }

  get up(): boolean {
    return this.#up;
  }

  /** `knownLeader` undefined: the answer says nothing about the leader (agent-local calls). */
  ok(watch: string, index: number, knownLeader?: boolean): void {
    this.#lastSuccess = Date.now();
    if (knownLeader !== undefined) this.#knownLeader = knownLeader;
    if (index > this.#index) this.#index = index;
    this.#failing.delete(watch);
    this.#update();
  }

  failed(watch: string, message: string): void {
    // Latest failure last: it is the one `error` shows.
    this.#failing.delete(watch);
    this.#failing.set(watch, message);
    this.#update();
  }

  /** A watch that no longer exists no longer counts. */
  forget(watch: string): void {
    if (this.#failing.delete(watch)) this.#update();
  }

  onChange(listener: (view: SourceView) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  view(): SourceView {
    const last = [...this.#failing].at(-1);
    return {
      source: this.source,
      address: this.address,
      up: this.#up,
      since: new Date(this.#since).toISOString(),
      lastSuccess: this.#lastSuccess === undefined ? null : new Date(this.#lastSuccess).toISOString(),
      error: last === undefined ? null : `${last[0]}: ${last[1]}`,
      failing: [...this.#failing.keys()],
      knownLeader: this.#knownLeader,
      index: this.#index,
    };
  }

  #update(): void {
    const up = this.#failing.size === 0;
    if (up === this.#up) return;
    this.#up = up;
    this.#since = Date.now();
    const view = this.view();
    for (const l of this.#listeners) l(view);
  }
}
