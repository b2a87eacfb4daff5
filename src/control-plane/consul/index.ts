/**
 * Consul as a source of the control plane (`--consul`): the catalog's
 * healthy instances as endpoints, optionally mesh.yaml from Consul KV, SDK
 * registrations written through to Consul, and the source's health for the
 * admin API, metrics and events. See docs/consul.md.
 */
import { randomBytes } from 'node:crypto';
import type { MeshModel } from '../../model/types.ts';
import type { Logger } from '../log.ts';
import type { RegisteredInstanceView } from '../registrations.ts';
import type { ConfigStore } from '../config-store.ts';
import { AgentRegistrar } from './agent-registrar.ts';
import type { BackoffSettings } from './blocking-watch.ts';
import { CatalogSource } from './catalog-source.ts';
import type { CatalogView } from './catalog-source.ts';
import { createConsulClient } from './client.ts';
import type { ConsulClient, ConsulSettings } from './client.ts';
import { ConsulKvConfigStore, loadConsulKvConfig, watchConsulKv } from './kv-config.ts';
import { SourceStatus } from './source-status.ts';
import type { SourceView } from './source-status.ts';
import { agentInstanceOf } from './write-through.ts';

export { consulKvKey } from './kv-config.ts';
export type { ConsulSettings } from './client.ts';
export type { SourceView } from './source-status.ts';

export interface ConsulSourceOptions extends ConsulSettings {
  /** Instances with `warning` checks are endpoints too. Default false. */
  readonly acceptWarning?: boolean;
  /** TTL of the checks of written-through registrations. Default 10 s. */
  readonly registrationTtlMs?: number;
  /** Retry pacing of failed blocking queries. */
  readonly backoff?: BackoffSettings;
  /** Names this replica's Consul registrations. Default: random per process. */
  readonly replicaId?: string;
}

export interface ConsulSourcesView extends SourceView {
  readonly catalog: CatalogView;
  readonly registrationsWritten: readonly string[];
}

export interface ConsulSource {
  readonly status: SourceStatus;
  readonly client: ConsulClient;
  /** Adds Consul's instances to the services of `base`. */
  apply(base: MeshModel): MeshModel;
  /** Tells the catalog which services the config declares (only those are watched). */
  setDeclared(names: Iterable<string>): void;
  /** Services that have endpoints from Consul. */
  servicesWithEndpoints(): Set<string>;
  /** True once the catalog and the health of every listed, declared service have answered. */
  synced(): boolean;
  /** The registrations this replica holds; written through to Consul. */
  syncRegistrations(list: readonly RegisteredInstanceView[]): void;
  loadConfig(key: string): Promise<MeshModel>;
  watchConfig(key: string, handlers: { knownVersion?: string; onModel(m: MeshModel): void; onError(err: unknown): void }): { close(): void };
  configStore(key: string): ConfigStore;
  view(): ConsulSourcesView;
  close(): Promise<void>;
}

export function startConsulSource(options: ConsulSourceOptions, deps: { readonly log: Logger; readonly onChange: () => void }): ConsulSource {
  const client = createConsulClient(options);
  const status = new SourceStatus('consul', options.address);
  const log = deps.log;
  status.onChange((v) => (v.up ? log.info(`consul at ${options.address} is reachable again`) : log.error(`consul at ${options.address} unavailable, serving the last good view: ${v.error}`)));
  const catalog = new CatalogSource({
    client,
    settings: options,
    status,
    log,
    onChange: deps.onChange,
    ...(options.acceptWarning === undefined ? {} : { acceptWarning: options.acceptWarning }),
    ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
  });
  const replicaId = options.replicaId ?? randomBytes(4).toString('hex');
  // Registrations reach every replica's model through the catalog only, so they are always written through.
  const registrar = new AgentRegistrar({ client, log, status, ...(options.registrationTtlMs === undefined ? {} : { ttlMs: options.registrationTtlMs }) });
  return {
    status,
    client,
    apply: (base) => catalog.apply(base),
    setDeclared: (names) => catalog.setDeclared(names),
    servicesWithEndpoints: () => catalog.servicesWithEndpoints(),
    synced: () => catalog.synced(),
    syncRegistrations(list) {
      // Instances in their grace period stay: they are still endpoints in file-only mode too.
      registrar.set(list.map((r) => agentInstanceOf(r, replicaId)));
    },
    loadConfig: (key) => loadConsulKvConfig(client, options, key),
    watchConfig: (key, h) =>
      watchConsulKv({
        client,
        settings: options,
        key,
        status,
        log,
        onModel: h.onModel,
        onError: h.onError,
        ...(h.knownVersion === undefined ? {} : { knownVersion: h.knownVersion }),
        ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
      }),
    configStore: (key) => new ConsulKvConfigStore(client, options, key),
    view: () => ({ ...status.view(), catalog: catalog.view(), registrationsWritten: registrar.registered() }),
    async close() {
      catalog.close();
      // Registrations stay until their TTL expires: their instances reconnect to another replica, which registers them too.
      await registrar.close({ deregister: false });
      client.destroy();
    },
  };
}
