/**
 * Wires the operator API into a control plane: admin token, config store,
 * mutations, history, audit log, the event stream and what feeds it, and the
 * OpenAPI document. server.ts calls {@link attachOperatorApi} once; modules
 * that act on the mesh (the canary controller) use the returned
 * `mutations` and publish on `events`.
 */
import type { MeshModel } from '../model/types.ts';
import type { AdminServer } from './admin.ts';
import { adminTokenGuard, resolveAdminToken } from './admin-auth.ts';
import { AuditLog } from './audit.ts';
import { FileConfigStore } from './config-store.ts';
import type { ConfigStore } from './config-store.ts';
import type { DrainSet } from './drains.ts';
import { EventHub } from './events.ts';
import { ConfigHistory } from './history.ts';
import type { Logger } from './log.ts';
import type { LoadAggregator } from './lrs/index.ts';
import { MutationService } from './mutations.ts';
import { openApiDocument } from './openapi.ts';
import { mountOperatorApi } from './operator-api.ts';

export interface OperatorOptions {
  /** The admin token; default ENMESH_ADMIN_TOKEN, else generated and logged once. */
  readonly adminToken?: string;
  /** Where to write the token (mode 0600). */
  readonly adminTokenFile?: string;
  /** JSON-lines file the audit log is appended to. */
  readonly auditLog?: string;
  /** Config versions kept for history and rollback. Default 50. */
  readonly historySize?: number;
  /** Longest a mutation waits for its change to be published. Default 10 s. */
  readonly publishTimeoutMs?: number;
}

export interface OperatorDeps {
  /** Path of mesh.yaml (when no `store` is given). */
  readonly file: string;
  /** Where the config lives; default the file. */
  readonly store?: ConfigStore;
  readonly drains: DrainSet;
  readonly load: LoadAggregator;
  readonly log: Logger;
  readonly configVersion: () => string | undefined;
  readonly publishedModel: () => MeshModel | undefined;
  readonly check: (model: MeshModel) => void;
  readonly republish: () => void;
  readonly clients: () => unknown;
  /** The config source's or the snapshot's last error (`GET /api/v1/config/errors`): a write refused after it was made fails fast. */
  readonly configError?: () => { readonly message: string; readonly at: string } | null;
  /** The `GET /api/v1/load` body. */
  readonly loadView: () => unknown;
}

export interface Operator {
  readonly token: string;
  readonly mutations: MutationService;
  readonly events: EventHub;
  readonly audit: AuditLog;
  readonly history: ConfigHistory;
  readonly store: ConfigStore;
  /** Tell it a config version was published (history, waiters, `snapshot` event). */
  published(configVersion: string | undefined, modelVersion: string | undefined): void;
  close(): Promise<void>;
}

const LOAD_EVENT_MS = 2000;

export async function attachOperatorApi(admin: AdminServer, deps: OperatorDeps, options: OperatorOptions = {}): Promise<Operator> {
  const { token, generated } = await resolveAdminToken({
    ...(options.adminToken === undefined ? {} : { token: options.adminToken }),
    ...(options.adminTokenFile === undefined ? {} : { file: options.adminTokenFile }),
  });
  if (generated) {
    deps.log.info(`admin token (generated; pass --admin-token to choose one): ${token}${options.adminTokenFile === undefined ? '' : ` — also in ${options.adminTokenFile}`}`);
  }
  admin.guard(adminTokenGuard(token));

  const store = deps.store ?? new FileConfigStore(deps.file);
  const audit = new AuditLog({ log: deps.log, ...(options.auditLog === undefined ? {} : { file: options.auditLog }) });
  const history = new ConfigHistory(options.historySize ?? 50);
  const events = new EventHub();

  // Mutations wait for their version to be published.
  const waiters = new Map<string, Set<() => void>>();
  let current: string | undefined = deps.configVersion();
  const awaitPublished = (version: string, timeoutMs: number): Promise<void> => {
    if (current === version) return Promise.resolve();
    const since = Date.now();
    return new Promise((resolve, reject) => {
      let set = waiters.get(version);
      if (set === undefined) waiters.set(version, (set = new Set()));
      const finish = (err?: Error): void => {
        clearTimeout(timer);
        clearInterval(watch);
        set.delete(done);
        if (err === undefined) resolve();
        else reject(err);
      };
      const done = (): void => finish();
      set.add(done);
      const timer = setTimeout(() => finish(new Error(`still serving config ${current ?? '(none)'}; see GET /api/v1/config/errors`)), timeoutMs);
      timer.unref();
      // The source or the snapshot build refusing it after the write: say so now, not at the timeout.
      const watch = setInterval(() => {
        const e = deps.configError?.();
        if (e != null && Date.parse(e.at) >= since - 1) finish(new Error(`refused: ${e.message}`));
      }, 100);
      watch.unref();
    });
  };

  const mutations = new MutationService({
    store,
    audit,
    history,
    drains: deps.drains,
    configVersion: deps.configVersion,
    publishedModel: deps.publishedModel,
    check: deps.check,
    awaitPublished,
    republish: deps.republish,
    log: deps.log,
    ...(options.publishTimeoutMs === undefined ? {} : { publishTimeoutMs: options.publishTimeoutMs }),
  });

  mountOperatorApi(admin, {
    mutations,
    history,
    audit,
    events,
    policyState: () => deps.load.policyView(deps.publishedModel()?.services.keys() ?? []),
  });
  admin.route('GET', '/openapi.json', () => openApiDocument());

  // ---- the event stream ----
  const snapshotEvent = (): unknown => ({ modelVersion: deps.publishedModel()?.version ?? null, configVersion: deps.configVersion() ?? null });
  const policyEvent = (): unknown => deps.load.policyView(deps.publishedModel()?.services.keys() ?? []);
  audit.onEntry((entry) => events.publish('audit', { entry }));
  const offPolicy = deps.load.onPolicyChange(() => events.publish('policy', policyEvent()));
  events.onConnect((send) => {
    send('snapshot', snapshotEvent());
    send('clients', { clients: deps.clients() });
    send('load', deps.loadView());
    send('policy', policyEvent());
  });
  // Load every 2 s; clients when they changed (checked at the same pace). Only while someone listens.
  let lastClients = '';
  const ticker = setInterval(() => {
    if (events.size === 0) return;
    events.publish('load', deps.loadView());
    const clients = deps.clients();
    const text = JSON.stringify(clients);
    if (text !== lastClients) {
      lastClients = text;
      events.publish('clients', { clients });
    }
  }, LOAD_EVENT_MS);
  ticker.unref();

  const operator: Operator = {
    token,
    mutations,
    events,
    audit,
    history,
    store,
    published(configVersion, modelVersion) {
      events.publish('snapshot', { modelVersion: modelVersion ?? null, configVersion: configVersion ?? null });
      if (configVersion === undefined || configVersion === current) return;
      current = configVersion;
      void mutations.published(configVersion, store.source);
      const set = waiters.get(configVersion);
      waiters.delete(configVersion);
      for (const w of set ?? []) w();
    },
    async close() {
      clearInterval(ticker);
      offPolicy();
      events.close();
      await audit.flush();
    },
  };
  // The version in force at start goes into the history as the first entry.
  if (current !== undefined) void mutations.published(current, store.source);
  return operator;
}
