/**
 * mesh.yaml kept in Consul KV (`--config consul-kv://enmesh/mesh.yaml`):
 * read once at start, then watched with blocking queries on the key, so
 * every replica reads one source of truth and an edit (`consul kv put`, or a
 * write through the admin API) reaches all of them within one round trip.
 * An invalid edit is reported and the last good model stays, exactly as
 * with a file.
 *
 * `ConsulKvConfigStore` is the admin API's read/write side: a write is a
 * check-and-set on the key's ModifyIndex, so two writers never silently
 * overwrite each other.
 */
import { EnmeshError } from '../../errors.ts';
import { parseMeshYaml } from '../../config/load.ts';
import type { MeshModel } from '../../model/types.ts';
import { configConflict } from '../config-store.ts';
import type { ConfigStore, StoredConfig } from '../config-store.ts';
import type { Logger } from '../log.ts';
import { BlockingWatch } from './blocking-watch.ts';
import type { BackoffSettings } from './blocking-watch.ts';
import { QueryContext, blockingRead, describeConsulError } from './client.ts';
import type { ConsulClient, ConsulSettings } from './client.ts';
import type { SourceStatus } from './source-status.ts';

const SCHEME = 'consul-kv://';

/** `consul-kv://enmesh/mesh.yaml` → `enmesh/mesh.yaml`; undefined for anything else (a file path). */
export function consulKvKey(config: string): string | undefined {
  if (!config.startsWith(SCHEME)) return undefined;
  const key = config.slice(SCHEME.length).replace(/^\/+/, '');
  if (key === '' || key.endsWith('/')) {
    throw new EnmeshError('ENMESH_ERR_INIT', `--config ${config}: name a key, for example consul-kv://enmesh/mesh.yaml`);
  }
  return key;
}

interface KvItem {
  readonly Value?: string | null;
  readonly ModifyIndex?: number;
}

async function readKey(client: ConsulClient, settings: ConsulSettings, key: string, index: number, ctx: QueryContext): Promise<{ text: string | undefined; modifyIndex: number; index: number; knownLeader: boolean }> {
  const r = await blockingRead<KvItem>((o) => client.kv.get(o as never), { key }, index, settings, ctx);
  const item = r.body;
  return { text: item === undefined || item === null ? undefined : (item.Value ?? ''), modifyIndex: item?.ModifyIndex ?? 0, index: r.index, knownLeader: r.knownLeader };
}

/** Reads and validates the config at start; a missing key or invalid YAML is an error naming the location. */
export async function loadConsulKvConfig(client: ConsulClient, settings: ConsulSettings, key: string): Promise<MeshModel> {
  const location = `${SCHEME}${key}`;
  let text: string | undefined;
  try {
    ({ text } = await readKey(client, settings, key, 0, new QueryContext()));
  } catch (err) {
    throw new EnmeshError('ENMESH_ERR_CONFIG_READ', `cannot read ${location} from Consul at ${settings.address}: ${describeConsulError(err)}; check --consul and that Consul is up`, {
      cause: err,
      file: location,
    });
  }
  if (text === undefined) {
    throw new EnmeshError('ENMESH_ERR_CONFIG_READ', `${location} does not exist in Consul at ${settings.address}; write it first (consul kv put ${key} @mesh.yaml)`, { file: location });
  }
  return parseMeshYaml(text, location);
}

export interface WatchConsulKvOptions {
  readonly client: ConsulClient;
  readonly settings: ConsulSettings;
  readonly key: string;
  readonly status: SourceStatus;
  readonly knownVersion?: string;
  onModel(model: MeshModel): void;
  onError(err: unknown): void;
  readonly log: Logger;
  readonly backoff?: BackoffSettings;
}

/** Watches the key; same contract as `watchMeshFile`: new valid models and (deduplicated) errors. */
export function watchConsulKv(o: WatchConsulKvOptions): { close(): void } {
  const location = `${SCHEME}${o.key}`;
  let lastVersion = o.knownVersion;
  let lastError: string | undefined;
  const watch = new BlockingWatch<string | null>({
    name: `kv/${o.key}`,
    status: o.status,
    ...(o.backoff ? { backoff: o.backoff } : {}),
    read: async (index, ctx) => {
      const r = await readKey(o.client, o.settings, o.key, index, ctx);
      return { index: r.index, knownLeader: r.knownLeader, body: r.text ?? null };
    },
    onResult: (text) => {
      let model: MeshModel;
      try {
        if (text === null || text === undefined) {
          throw new EnmeshError('ENMESH_ERR_CONFIG_READ', `${location} was deleted from Consul; the last good config stays in force until it is written again`, { file: location });
        }
        model = parseMeshYaml(text, location);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (message === lastError) return;
        lastError = message;
        o.onError(err);
        return;
      }
      const recovered = lastError !== undefined;
      lastError = undefined;
      if (model.version === lastVersion && !recovered) return;
      lastVersion = model.version;
      o.onModel(model);
    },
    onError: (message, retry) => o.log.warn(`consul kv ${o.key} unavailable, keeping the last config; retry in ${retry} ms: ${message}`),
  });
  return { close: () => watch.close() };
}

/** The admin API's config store over Consul KV; versions are the key's ModifyIndex. */
export class ConsulKvConfigStore implements ConfigStore {
  readonly source = 'consul-kv' as const;
  readonly location: string;
  readonly #client: ConsulClient;
  readonly #settings: ConsulSettings;
  readonly #key: string;

  constructor(client: ConsulClient, settings: ConsulSettings, key: string) {
    this.#client = client;
    this.#settings = settings;
    this.#key = key;
    this.location = `${SCHEME}${key}`;
  }

  async read(): Promise<StoredConfig> {
    const r = await this.#current();
    if (r.text === undefined) throw new EnmeshError('ENMESH_ERR_CONFIG_READ', `${this.location} does not exist in Consul`, { file: this.location });
    return { text: r.text, version: String(r.modifyIndex) };
  }

  async write(text: string, options: { readonly expected?: string } = {}): Promise<{ readonly version?: string }> {
    // Without an expected version, still check-and-set against what is there now (0: only if the
    // key is absent), so a writer slipping in between is detected rather than overwritten.
    const cas = options.expected === undefined ? (await this.#current()).modifyIndex : Number(options.expected);
    if (!Number.isInteger(cas) || cas < 0) throw configConflict(this.location, options.expected!, undefined);
    let ok: boolean;
    try {
      ok = await this.#client.kv.set({ key: this.#key, value: text, cas });
    } catch (err) {
      throw new EnmeshError('ENMESH_ERR_CONFIG_READ', `cannot write ${this.location} to Consul: ${describeConsulError(err)}; the config was not changed`, { cause: err, file: this.location });
    }
    // A refused check-and-set comes back falsy (the client turns Consul's `false` into undefined).
    if (ok !== true) {
      const now = await this.#current().catch(() => undefined);
      throw configConflict(this.location, String(cas), now === undefined ? undefined : String(now.modifyIndex));
    }
    return { version: String((await this.#current()).modifyIndex) };
  }

  /** The key as the leader has it (writes need the leader anyway); text undefined when absent. */
  async #current(): Promise<{ text: string | undefined; modifyIndex: number }> {
    try {
      return await readKey(this.#client, { ...this.#settings, consistency: 'consistent' }, this.#key, 0, new QueryContext());
    } catch (err) {
      throw new EnmeshError('ENMESH_ERR_CONFIG_READ', `cannot read ${this.location} from Consul: ${describeConsulError(err)}`, { cause: err, file: this.location });
    }
  }
}
