/**
 * "What config exists": the current model and, per client profile, the
 * snapshot translated from it. The ADS server meets the cache only through
 * `current(profile)` and `onChange(listener)`.
 *
 * - Snapshots are built lazily, the first time a profile is asked for, then
 *   rebuilt on every publish for every profile in use.
 * - A publish builds and checks all snapshots first; if any is refused, the
 *   previous model and snapshots stay and the error is kept for the admin API.
 * - `setModel` is debounced (trailing, with a maximum delay) so a burst of
 *   changes (an editor's save, many registrations at start-up) is one publish.
 */
import { isEnmeshError } from '../errors.ts';
import type { ConfigIssue } from '../errors.ts';
import type { MeshModel } from '../model/types.ts';
import type { Snapshot } from './snapshot.ts';

export interface ProfileLike {
  readonly kind: string;
}

export type SnapshotBuilder<P extends ProfileLike = ProfileLike> = (model: MeshModel, profile: P) => Snapshot;

export interface SnapshotCacheOptions<P extends ProfileLike = ProfileLike> {
  /** Translates a model for one profile and checks the result (throws when inconsistent). */
  readonly build: SnapshotBuilder<P>;
  /** Profiles always built on publish, so a bad model is refused even before any client connects. */
  readonly profiles?: readonly P[];
  /** Quiet time that ends a burst of `setModel` calls. Default 50 ms. */
  readonly debounceMs?: number;
  /** Longest a burst may delay a publish. Default 250 ms. */
  readonly maxDelayMs?: number;
  /** Published models kept for inspection and rollback. Default 10. */
  readonly historySize?: number;
  /** Told about every refused publish (the previous snapshots stay). */
  readonly onRefused?: (error: PublishError) => void;
}

export interface ModelChange {
  readonly modelVersion: string;
  readonly previousModelVersion: string | undefined;
}

export interface HistoryEntry {
  readonly modelVersion: string;
  readonly publishedAt: number;
  readonly model: MeshModel;
}

export interface PublishError {
  readonly modelVersion: string;
  readonly message: string;
  readonly issues: readonly ConfigIssue[];
  readonly at: number;
}

export type ChangeListener = (change: ModelChange) => void;

export class SnapshotCache<P extends ProfileLike = ProfileLike> {
  readonly #build: SnapshotBuilder<P>;
  readonly #debounceMs: number;
  readonly #maxDelayMs: number;
  readonly #historySize: number;
  readonly #onRefused: ((error: PublishError) => void) | undefined;
  /** Profiles in use, by kind. */
  readonly #profiles = new Map<string, P>();
  readonly #listeners = new Set<ChangeListener>();
  #model: MeshModel | undefined;
  #snapshots = new Map<string, Snapshot>();
  #history: HistoryEntry[] = [];
  #lastError: PublishError | undefined;
  #pending: MeshModel | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #burstStart = 0;

  constructor(options: SnapshotCacheOptions<P>) {
    this.#build = options.build;
    this.#debounceMs = options.debounceMs ?? 50;
    this.#maxDelayMs = Math.max(options.maxDelayMs ?? 250, this.#debounceMs);
    this.#historySize = Math.max(1, options.historySize ?? 10);
    this.#onRefused = options.onRefused;
    for (const p of options.profiles ?? []) this.#profiles.set(p.kind, p);
  }

  /** The published model, or undefined before the first publish. */
  model(): MeshModel | undefined {
    return this.#model;
  }

  /**
   * The snapshot for a profile, built on first use. Undefined before the first
   * publish. Throws when this profile's translation of the current model is
   * refused (the model was accepted for the profiles in use at publish time).
   */
  current(profile: P): Snapshot | undefined {
    const model = this.#model;
    if (model === undefined) return undefined;
    let snap = this.#snapshots.get(profile.kind);
    if (snap === undefined) {
      snap = this.#build(model, profile);
      this.#profiles.set(profile.kind, profile);
      this.#snapshots.set(profile.kind, snap);
    }
    return snap;
  }

  /** Snapshots built so far for the current model, by profile kind. */
  snapshots(): ReadonlyMap<string, Snapshot> {
    return this.#snapshots;
  }

  onChange(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Debounced publish of `model`: the last model of a burst wins. */
  setModel(model: MeshModel): void {
    const now = Date.now();
    if (this.#timer === undefined) this.#burstStart = now;
    else clearTimeout(this.#timer);
    this.#pending = model;
    const delay = Math.max(0, Math.min(this.#debounceMs, this.#burstStart + this.#maxDelayMs - now));
    this.#timer = setTimeout(() => this.flush(), delay);
  }

  /** Publishes a pending `setModel` now. Refusals are recorded, not thrown. */
  flush(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const model = this.#pending;
    this.#pending = undefined;
    if (model === undefined) return;
    try {
      this.publish(model);
    } catch (err) {
      if (!isEnmeshError(err)) throw err;
    }
  }

  /**
   * Builds every snapshot for `model` and publishes them atomically. Throws
   * (and records the error) when any is refused; the previous state stays.
   * Publishing the current model again is a no-op.
   */
  publish(model: MeshModel): void {
    if (this.#model !== undefined && model.version === this.#model.version) {
      this.#lastError = undefined;
      return;
    }
    const next = new Map<string, Snapshot>();
    try {
      for (const [kind, profile] of this.#profiles) next.set(kind, this.#build(model, profile));
    } catch (err) {
      this.#lastError = {
        modelVersion: model.version,
        message: err instanceof Error ? err.message : String(err),
        issues: isEnmeshError(err) ? (err.issues ?? []) : [],
        at: Date.now(),
      };
      this.#onRefused?.(this.#lastError);
      throw err;
    }
    const previous = this.#model?.version;
    this.#model = model;
    this.#snapshots = next;
    this.#lastError = undefined;
    this.#history.push({ modelVersion: model.version, publishedAt: Date.now(), model });
    if (this.#history.length > this.#historySize) this.#history.shift();
    const change: ModelChange = { modelVersion: model.version, previousModelVersion: previous };
    for (const l of this.#listeners) l(change);
  }

  /** The last refused publish, cleared by the next successful one. */
  lastError(): PublishError | undefined {
    return this.#lastError;
  }

  /** Published models, oldest first. */
  history(): readonly HistoryEntry[] {
    return this.#history;
  }

  /** Cancels a pending publish. */
  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending = undefined;
    this.#listeners.clear();
  }
}
