/**
 * The config versions the control plane has published, newest last, each with
 * its mesh.yaml text: what `GET /api/v1/history` lists and what a rollback
 * writes back. Bounded; the oldest versions are forgotten first.
 */

export interface HistoryVersion {
  /** The config model's version (the content hash of the parsed mesh.yaml). */
  readonly version: string;
  /** ISO time it was published. */
  readonly at: string;
  readonly actor: string;
  /** `file` (an edit on disk), `api`, `rollback`, `canary`, `startup`, `consul-kv`... */
  readonly source: string;
  /** One line: what changed. */
  readonly summary: string;
  readonly text: string;
}

export class ConfigHistory {
  readonly #versions: HistoryVersion[] = [];
  readonly #limit: number;

  constructor(limit = 50) {
    this.#limit = Math.max(1, limit);
  }

  /** Adds a published version; a version already at the head is not added twice. */
  add(entry: Omit<HistoryVersion, 'at'> & { readonly at?: string }): HistoryVersion {
    const head = this.#versions.at(-1);
    if (head !== undefined && head.version === entry.version) return head;
    const v: HistoryVersion = Object.freeze({ ...entry, at: entry.at ?? new Date().toISOString() });
    this.#versions.push(v);
    if (this.#versions.length > this.#limit) this.#versions.shift();
    return v;
  }

  /** The newest entry of `version`. */
  get(version: string): HistoryVersion | undefined {
    for (let i = this.#versions.length - 1; i >= 0; i--) if (this.#versions[i]!.version === version) return this.#versions[i];
    return undefined;
  }

  current(): HistoryVersion | undefined {
    return this.#versions.at(-1);
  }

  /** Newest first. */
  list(): HistoryVersion[] {
    return this.#versions.slice().reverse();
  }
}
