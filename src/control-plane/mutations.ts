/**
 * Every change an operator (or the canary controller) makes to the mesh goes
 * through here: a new mesh.yaml text is made (whole, or by a targeted edit),
 * validated exactly as a file edit is (parseMeshYaml, then the snapshot
 * translation), written to the config store, and the call resolves once the
 * control plane has published it, with the new config version and the diff.
 * Rejections and successes alike land in the audit log. Changes run one at a
 * time, so two operators never overwrite each other silently.
 *
 * Drains are the exception: operational state held by the control plane
 * (drains.ts), not in the file; they are audited the same way.
 */
import { isEnmeshError } from '../errors.ts';
import { parseMeshYaml } from '../config/load.ts';
import type { MeshModel } from '../model/types.ts';
import type { AuditEntry, AuditLog } from './audit.ts';
import type { ConfigStore } from './config-store.ts';
import { isConfigConflict } from './config-store.ts';
import { EditError, setRateLimit, setRouteFault, setRouteWeights } from './config-edits.ts';
import type { DrainSet } from './drains.ts';
import { endpointAddress, normalizeEndpointAddress } from './drains.ts';
import type { ConfigHistory } from './history.ts';
import type { Logger } from './log.ts';
import { silentLogger } from './log.ts';
import { unifiedDiff } from './text-diff.ts';

/** Why a mutation was refused: an HTTP status, a message and, for config problems, the issues with key paths. */
export class MutationError extends Error {
  readonly status: number;
  readonly issues: readonly { path: string; message: string; line?: number; column?: number }[];

  constructor(status: number, message: string, issues: MutationError['issues'] = []) {
    super(message);
    this.name = 'MutationError';
    this.status = status;
    this.issues = issues;
  }
}

export interface MutationResult {
  /** The config version in force after the change (the model version of the new mesh.yaml). */
  readonly version: string;
  /** Unified diff of mesh.yaml, old → new; empty when nothing changed. */
  readonly diff: string;
}

export interface DryRunResult {
  readonly valid: true;
  readonly version: string;
  readonly diff: string;
}

export interface DrainResult {
  readonly version: string | null;
  /** Version of the published model (config plus instances and drains). */
  readonly modelVersion: string | null;
  readonly service: string;
  readonly endpoint: string;
  readonly drained: boolean;
}

export interface Who {
  /** Who asked, for the audit log (`x-enmesh-actor`, `canary`...). */
  readonly actor?: string;
}

export interface MutationServiceOptions {
  readonly store: ConfigStore;
  readonly audit: AuditLog;
  readonly history: ConfigHistory;
  readonly drains: DrainSet;
  /** The config version in force (of the file's model the published model was built from). */
  readonly configVersion: () => string | undefined;
  /** The published model (config plus registered instances and drains). */
  readonly publishedModel: () => MeshModel | undefined;
  /** Further checks of a candidate model (the xDS translation); throws an EnmeshError with issues when it cannot be served. */
  readonly check?: (model: MeshModel) => void;
  /** Resolves once config version `version` is in force; rejects after `timeoutMs`. */
  readonly awaitPublished: (version: string, timeoutMs: number) => Promise<void>;
  /** Publishes the model again at once (after a drain change). */
  readonly republish: () => void;
  /** Longest a call waits for its change to be published. Default 10 s. */
  readonly publishTimeoutMs?: number;
  readonly log?: Logger;
}

interface Pending {
  readonly actor: string;
  readonly source: string;
  readonly summary: string;
  readonly text: string;
}

export class MutationService {
  readonly #o: MutationServiceOptions;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  /** One change at a time. */
  #queue: Promise<unknown> = Promise.resolve();
  /** Metadata of versions written here, until the control plane publishes them (for the history). */
  readonly #pending = new Map<string, Pending>();

  constructor(options: MutationServiceOptions) {
    this.#o = options;
    this.#log = options.log ?? silentLogger;
    this.#timeoutMs = options.publishTimeoutMs ?? 10_000;
  }

  /** The current mesh.yaml with its config version (the text's own, or the one in force when it does not parse). */
  async current(): Promise<{ version: string | null; source: string; location: string; text: string }> {
    const { text } = await this.#o.store.read();
    return { version: this.#versionOf(text), source: this.#o.store.source, location: this.#o.store.location, text };
  }

  /** Replaces the whole mesh.yaml (PUT /api/v1/config). */
  putConfig(text: string, options: Who & { dryRun?: boolean; expectedVersion?: string } = {}): Promise<MutationResult | DryRunResult> {
    return this.#change({ action: 'config.put', target: 'mesh.yaml', who: options, ...options }, () => text);
  }

  /** Sets a route's split (see config-edits.ts setRouteWeights); route `default` is the implicit/catch-all route. */
  setWeights(service: string, route: string, weights: Readonly<Record<string, number>>, options: Who = {}): Promise<MutationResult> {
    return this.#change({ action: 'route.weights', target: `${service}/routes/${route}`, who: options }, (text, model) =>
      setRouteWeights(text, model, service, route, weights),
    ) as Promise<MutationResult>;
  }

  /** Sets (or with `undefined`, removes) a route's fault injection. */
  setFault(service: string, route: string, fault: Readonly<Record<string, unknown>> | undefined, options: Who = {}): Promise<MutationResult> {
    return this.#change({ action: fault === undefined ? 'route.fault.off' : 'route.fault', target: `${service}/routes/${route}`, who: options }, (text) =>
      setRouteFault(text, service, route, fault),
    ) as Promise<MutationResult>;
  }

  /** Merges into (or with `undefined`, removes) a service's rate limit. */
  setRateLimit(service: string, limit: Readonly<Record<string, unknown>> | undefined, options: Who = {}): Promise<MutationResult> {
    return this.#change({ action: limit === undefined ? 'service.rate-limit.off' : 'service.rate-limit', target: service, who: options }, (text) =>
      setRateLimit(text, service, limit),
    ) as Promise<MutationResult>;
  }

  /** Writes back the text of an earlier published version. */
  rollback(version: string, options: Who = {}): Promise<MutationResult> {
    const entry = this.#o.history.get(version);
    if (entry === undefined) {
      const known = this.#o.history.list().map((v) => v.version);
      const err = new MutationError(404, `version ${version} is not in the history (kept: ${known.slice(0, 10).join(', ') || 'none'}); see GET /api/v1/history`);
      this.#audit({ actor: options.actor ?? 'admin', action: 'rollback', target: version, version: this.#o.configVersion() ?? null, diff: '', result: 'rejected', error: err.message });
      return Promise.reject(err);
    }
    return this.#change({ action: 'rollback', target: version, who: options, source: 'rollback', summary: `rollback to ${version}` }, () => entry.text) as Promise<MutationResult>;
  }

  /** Drains (or undrains) one endpoint of a service (`host:port`, IPv6 with or without brackets); published at once. */
  drain(service: string, endpoint: string, drained: boolean, options: Who = {}): Promise<DrainResult> {
    const address = normalizeEndpointAddress(endpoint);
    return this.#serial(async () => {
      const actor = options.actor ?? 'admin';
      const action = drained ? 'endpoint.drain' : 'endpoint.undrain';
      const target = `${service}/endpoints/${address}`;
      const model = this.#o.publishedModel();
      const svc = model?.services.get(service);
      const reject = (err: MutationError): never => {
        this.#audit({ actor, action, target, version: this.#o.configVersion() ?? null, diff: '', result: 'rejected', error: err.message });
        throw err;
      };
      if (svc === undefined) reject(new MutationError(404, `no service "${service}" in the published model; services: ${[...(model?.services.keys() ?? [])].join(', ') || '(none)'}`));
      const addresses = svc!.endpoints.map(endpointAddress);
      if (drained && !addresses.includes(address) && !this.#o.drains.has(service, address)) {
        reject(new MutationError(404, `service "${service}" has no endpoint ${address}; endpoints: ${addresses.join(', ') || '(none)'}`));
      }
      const changed = this.#o.drains.set(service, address, drained);
      if (changed) this.#o.republish();
      const published = this.#o.publishedModel();
      this.#audit({ actor, action, target, version: this.#o.configVersion() ?? null, diff: '', result: 'applied' });
      this.#log.info(`${actor}: ${drained ? 'drained' : 'undrained'} ${service} endpoint ${address}`);
      return { version: this.#o.configVersion() ?? null, modelVersion: published?.version ?? null, service, endpoint: address, drained };
    });
  }

  /** Audits a call refused before it became a change: its body was not JSON, too large, or lacked a field. */
  refused(call: { readonly actor: string; readonly action: string; readonly target: string; readonly error: string }): void {
    this.#audit({ ...call, version: this.#o.configVersion() ?? null, diff: '', result: 'rejected' });
  }

  /**
   * The control plane published config `version`: remember its text in the
   * history, with who made it when it came through here.
   */
  async published(version: string, fallbackSource = 'file'): Promise<void> {
    const pending = this.#pending.get(version);
    this.#pending.delete(version);
    if (pending !== undefined) {
      this.#o.history.add({ version, ...pending });
      return;
    }
    if (this.#o.history.current()?.version === version) return;
    try {
      const { text } = await this.#o.store.read();
      // The store may already hold a newer edit: record only a text that is this version.
      if (this.#versionOf(text) !== version) return;
      const previous = this.#o.history.current();
      const summary = previous === undefined ? 'initial config' : summarize(unifiedDiff(previous.text, text), `edited in ${this.#o.store.source}`);
      this.#o.history.add({ version, actor: this.#o.store.source === 'file' ? 'file' : this.#o.store.source, source: previous === undefined ? 'startup' : fallbackSource, summary, text });
    } catch (err) {
      this.#log.warn(`cannot read ${this.#o.store.location} for the config history: ${(err as Error).message}`);
    }
  }

  #versionOf(text: string): string | null {
    try {
      return parseMeshYaml(text, this.#o.store.location).version;
    } catch {
      return this.#o.configVersion() ?? null;
    }
  }

  #serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(run);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #audit(input: Omit<AuditEntry, 'id' | 'at'>): void {
    this.#o.audit.record(input);
  }

  #change(
    c: { action: string; target: string; who: Who; dryRun?: boolean; expectedVersion?: string; source?: string; summary?: string },
    make: (text: string, model: MeshModel | undefined) => string,
  ): Promise<MutationResult | DryRunResult> {
    return this.#serial(async () => {
      const actor = c.who.actor ?? 'admin';
      const store = this.#o.store;
      let diff = '';
      const rejected = (err: MutationError): never => {
        if (c.dryRun !== true) this.#audit({ actor, action: c.action, target: c.target, version: this.#o.configVersion() ?? null, diff, result: 'rejected', error: err.message });
        throw err;
      };
      let stored;
      try {
        stored = await store.read();
      } catch (err) {
        return rejected(new MutationError(503, `cannot read the current config: ${(err as Error).message}`));
      }
      let currentModel: MeshModel | undefined;
      try {
        currentModel = parseMeshYaml(stored.text, store.location);
      } catch {
        currentModel = undefined;
      }
      const currentVersion = currentModel?.version ?? this.#o.configVersion();
      if (c.expectedVersion !== undefined && c.expectedVersion !== currentVersion) {
        return rejected(new MutationError(409, `the config is at version ${currentVersion ?? 'unknown'}, not ${c.expectedVersion}: someone changed it since you read it; read it again (GET /api/v1/config) and reapply`));
      }
      let text: string;
      try {
        text = make(stored.text, currentModel ?? this.#o.publishedModel());
      } catch (err) {
        if (err instanceof EditError) return rejected(new MutationError(err.status, err.message, err.issues));
        return rejected(new MutationError(500, `cannot edit the config: ${(err as Error).message}`));
      }
      diff = unifiedDiff(stored.text, text);
      let model: MeshModel;
      try {
        model = parseMeshYaml(text, store.location);
        this.#o.check?.(model);
      } catch (err) {
        if (!isEnmeshError(err)) return rejected(new MutationError(500, `cannot check the new config: ${(err as Error).message}`));
        return rejected(new MutationError(400, err.message, issuesOf(err.message, err.issues ?? [])));
      }
      if (c.dryRun === true) return { valid: true, version: model.version, diff };
      if (text !== stored.text) {
        this.#pending.set(model.version, { actor, source: c.source ?? (actor === 'canary' ? 'canary' : 'api'), summary: c.summary ?? summarize(diff, `${c.action} ${c.target}`), text });
        try {
          await store.write(text, stored.version === undefined ? {} : { expected: stored.version });
        } catch (err) {
          this.#pending.delete(model.version);
          if (isConfigConflict(err)) return rejected(new MutationError(409, (err as Error).message));
          return rejected(new MutationError(500, (err as Error).message));
        }
      }
      try {
        await this.#o.awaitPublished(model.version, this.#timeoutMs);
      } catch (err) {
        return rejected(new MutationError(504, `${store.location} was written (version ${model.version}) but the control plane did not publish it within ${this.#timeoutMs} ms: ${(err as Error).message}`));
      }
      this.#audit({ actor, action: c.action, target: c.target, version: model.version, diff, result: 'applied' });
      this.#log.info(`${actor}: ${c.action} ${c.target} → config ${model.version}`);
      return { version: model.version, diff };
    });
  }
}

/** Issues with line and column read back from the error message (`(file:line:col)`), when the loader placed them. */
function issuesOf(message: string, issues: readonly { path: string; message: string }[]): MutationError['issues'] {
  const lines = message.split('\n');
  return issues.map((i) => {
    const text = `  - ${i.path === '' ? '(document)' : i.path}: ${i.message}`;
    const line = lines.find((l) => l.startsWith(text));
    const m = line === undefined ? null : /:(\d+):(\d+)\)$/.exec(line);
    return m === null ? { ...i } : { ...i, line: Number(m[1]), column: Number(m[2]) };
  });
}

/** `<what> (+a −b lines)`. */
function summarize(diff: string, what: string): string {
  let added = 0;
  let removed = 0;
  for (const line of diff.split('\n')) {
    if (line.startsWith('+') && !line.startsWith('+++')) added++;
    else if (line.startsWith('-') && !line.startsWith('---')) removed++;
  }
  return `${what} (+${added} -${removed} lines)`;
}
