/**
 * The `enmesh control-plane` process: mesh.yaml (watched) plus self-registered
 * instances → snapshot cache → ADS server, with a JSON admin API beside it.
 *
 * A bad edit of the file never reaches clients: it is logged with the file
 * and key path, shown by `GET /api/v1/config/errors`, and the last good
 * snapshot keeps being served.
 */
import { EnmeshError, isEnmeshError } from '../errors.ts';
import type { ConfigIssue } from '../errors.ts';
import { loadMeshFile } from '../config/load.ts';
import { watchMeshFile } from '../config/watch.ts';
import type { MeshModel } from '../model/types.ts';
import { ENMESH_PROFILE, profileForNode } from '../xds/translate/profile.ts';
import type { ClientProfile } from '../xds/translate/types.ts';
import { AdminServer, Reply } from './admin.ts';
import { AdsServer } from './ads-server.ts';
import { attachCertificateAuthority } from './ca/service.ts';
import type { CaService, CaServiceOptions } from './ca/service.ts';
import { ClientRegistry } from './client-registry.ts';
import { consoleLogger } from './log.ts';
import type { Logger } from './log.ts';
import { Registrations } from './registrations.ts';
import { SnapshotCache } from './snapshot-cache.ts';
import { buildSnapshot } from './snapshot-builder.ts';
import { attachLoadReporting } from './lrs/index.ts';
import { createControlPlaneMetrics } from '../telemetry/control-plane-metrics.ts';
import type { ControlPlaneMetrics } from '../telemetry/control-plane-metrics.ts';
import { feedControlPlaneMetrics } from '../telemetry/control-plane-feed.ts';
import type { LoadAggregator } from './lrs/index.ts';
import type { Snapshot } from './snapshot.ts';
import { consulKvKey, startConsulSource } from './consul/index.ts';
import { registerSourceMetric } from './consul/metrics.ts';
import type { ConsulSource, ConsulSourceOptions } from './consul/index.ts';
import { mountDashboard } from './dashboard/serve.ts';
import { DrainSet, endpointAddress } from './drains.ts';
import { attachOperatorApi } from './operator.ts';
import { attachCanaries } from './canary/index.ts';
import type { Operator, OperatorOptions } from './operator.ts';
import { resolveStreamAdmission } from './stream-admission.ts';
import type { StreamAdmissionOptions } from './stream-admission.ts';

export interface ControlPlaneOptions {
  /** Path of the mesh config file (mesh.yaml), or `consul-kv://<key>` (needs `consul`). */
  readonly config: string;
  /** Consul as a source: catalog instances as endpoints, registrations written through, KV config (docs/consul.md). */
  readonly consul?: ConsulSourceOptions;
  /** xDS (ADS) port; 0 picks a free one. Default 15010. */
  readonly xdsPort?: number;
  /** Admin API port; 0 picks a free one. Default 15000. */
  readonly adminPort?: number;
  /** Address both servers bind. Default 127.0.0.1. */
  readonly host?: string;
  /** How long a registered instance outlives its stream. Default 2000 ms. */
  readonly registrationGraceMs?: number;
  /**
   * After start, how long the first publish waits for services without static
   * endpoints to get a registered instance. Default 5000 ms; 0 publishes at once.
   */
  readonly startupHoldMs?: number;
  /** Quiet time before a burst of changes is published. Default 50 ms. */
  readonly publishDebounceMs?: number;
  /** Quiet time after a file change before it is read. Default 100 ms. */
  readonly watchDebounceMs?: number;
  readonly keepaliveTimeMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /**
   * Pacing of new ADS streams: at most `max(floor, ratio × connected)` per second (default floor 20,
   * ratio 0.2; floor 0 turns it off). LRS and CA calls are not paced.
   */
  readonly xdsAdmission?: StreamAdmissionOptions;
  /** Interval clients are asked to send load reports (LRS) at. Default 10 000 ms. */
  readonly loadReportIntervalMs?: number;
  readonly log?: Logger;
  /** The CA signing workload SVIDs on the admin port (docs/security.md). Default: on, root and token key in memory; `false`: off. */
  readonly ca?: CaServiceOptions | false;
  /** Admin token for mutating admin calls; default ENMESH_ADMIN_TOKEN, else generated and logged once (docs/admin-api.md). */
  readonly adminToken?: string;
  /** File the admin token is written to (mode 0600). */
  readonly adminTokenFile?: string;
  /** JSON-lines file every audited operator action is appended to. */
  readonly auditLog?: string;
  /** Mutations, history and events settings beyond the three above. */
  readonly operator?: Omit<OperatorOptions, 'adminToken' | 'adminTokenFile' | 'auditLog'>;
}

export interface ConfigErrorView {
  /** `config`: the file could not be read or is invalid; `snapshot`: it translated into an inconsistent snapshot. */
  readonly kind: 'config' | 'snapshot';
  readonly file: string;
  readonly message: string;
  readonly issues: readonly ConfigIssue[];
  readonly at: string;
}

export interface ControlPlane {
  readonly host: string;
  readonly xdsPort: number;
  readonly adminPort: number;
  readonly cache: SnapshotCache<ClientProfile>;
  readonly registry: ClientRegistry;
  readonly registrations: Registrations;
  /** The CA, unless turned off. */
  readonly ca: CaService | undefined;
  /** Load reports (LRS) aggregated into a live per-service view (also `GET /api/v1/load`). */
  readonly load: LoadAggregator;
  /** The control plane's own metrics (also `GET /metrics` on the admin port). */
  readonly metrics: ControlPlaneMetrics;
  /** The Consul source, when configured (`GET /api/v1/sources`). */
  readonly consul: ConsulSource | undefined;
  /** The operator API: admin token, mutations (setWeights...), history, audit log, event hub. */
  readonly operator: Operator;
  /** The admin HTTP server (its route table, for the OpenAPI check). */
  readonly admin: AdminServer;
  /** The last error of the config source, or null when the file in use is the last one written. */
  configError(): ConfigErrorView | null;
  /** Version of the mesh file's model that the published model was built from. */
  configVersion(): string | undefined;
  close(): Promise<void>;
}

export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? consoleLogger();
  const file = options.config;
  // Bad settings fail before anything is started.
  const admission = resolveStreamAdmission(options.xdsAdmission);

  const kvKey = consulKvKey(file);
  if (kvKey !== undefined && options.consul === undefined) {
    throw new EnmeshError('ENMESH_ERR_INIT', `--config ${file} reads Consul KV: give the Consul address too (--consul http://127.0.0.1:8500)`);
  }
  // Catalog changes may arrive while the rest is being set up: they count once it is.
  let wired = false;
  const consul = options.consul === undefined ? undefined : startConsulSource(options.consul, { log, onChange: () => wired && republish() });
  let base: MeshModel;
  try {
    base = kvKey !== undefined ? await consul!.loadConfig(kvKey) : await loadMeshFile(file);
  } catch (err) {
    await consul?.close();
    throw err;
  }
  consul?.setDeclared(base.services.keys());
  let configError: ConfigErrorView | null = null;

  const metrics = createControlPlaneMetrics();
  const cache = new SnapshotCache<ClientProfile>({
    build: buildSnapshot,
    // Always translated, so a model that cannot be served is refused before any client asks.
    profiles: [ENMESH_PROFILE],
    onRefused: (e) => {
      metrics.configErrors.inc();
      log.error(`model ${e.modelVersion} not published, still serving ${cache.model()?.version ?? '(none)'}: ${e.message}`);
    },
    ...(options.publishDebounceMs === undefined ? {} : { debounceMs: options.publishDebounceMs }),
  });
  // The published model is the file's model plus registrations; remember which file version it holds.
  let latestBase = base.version;
  let publishedBase: string | undefined;
  // After a (re)start, clients reconnect before the instances that had registered with the
  // previous process do: publishing at once would tell them those services have no endpoints
  // (and their calls would fail). So the first publish waits until every service that relies on
  // registration has an instance, or until the hold runs out; clients keep their last good
  // config meanwhile.
  let holding = true;
  let holdTimer: ReturnType<typeof setTimeout> | undefined;
  // With Consul, instances (registered ones too, written through) come from the catalog only, so
  // that every replica builds the same model; until the catalog has answered, nothing is known.
  // Endpoints drained by an operator (admin API) are marked last, whatever their origin.
  const drains = new DrainSet();
  const merge = (m: MeshModel): MeshModel => drains.apply(consul === undefined ? registrations.apply(m) : consul.apply(m));
  const awaitingInstances = (): boolean => {
    if (consul !== undefined && !consul.synced()) return true;
    const registered = consul?.servicesWithEndpoints() ?? new Set(registrations.list().map((r) => r.service));
    for (const svc of base.services.values()) if (svc.endpoints.length === 0 && !registered.has(svc.name)) return true;
    return false;
  };
  const releaseHold = (): void => {
    if (!holding) return;
    if (consul !== undefined && !consul.synced()) {
      // Publishing before Consul answered would empty every discovered service: keep holding.
      log.info(`startup hold: waiting for the Consul catalog at ${consul.status.address} before the first push`);
      holdTimer = setTimeout(releaseHold, 2000);
      holdTimer.unref?.();
      return;
    }
    holding = false;
    clearTimeout(holdTimer);
    latestBase = base.version;
    cache.publish(merge(base));
  };
  const republish = (): void => {
    if (holding) {
      if (!awaitingInstances()) releaseHold();
      return;
    }
    latestBase = base.version;
    const merged = merge(base);
    // Same content as in force (e.g. a static endpoint now lists a registered one): nothing to push.
    if (merged.version === cache.model()?.version) setPublishedBase(latestBase);
    cache.setModel(merged);
  };
  const registrations = new Registrations({
    onChange: () => {
      consul?.syncRegistrations(registrations.list());
      republish();
    },
    log,
    ...(options.registrationGraceMs === undefined ? {} : { graceMs: options.registrationGraceMs }),
  });
  let operator: Operator | undefined;
  // Mutations of the admin API wait for the config version they wrote to be in force.
  const setPublishedBase = (v: string): void => {
    publishedBase = v;
    operator?.published(v, cache.model()?.version);
  };
  cache.onChange(() => setPublishedBase(latestBase));
  wired = true;
  const holdMs = options.startupHoldMs ?? 5000;
  // While new streams are being paced, the fleet is still coming back, and with it the
  // registrations the hold waits for: the hold runs on a second at a time, up to three times
  // its length in all.
  let pacingNow = (): boolean => false;
  const holdUntil = Date.now() + 3 * holdMs;
  let holdExtended = false;
  const holdExpired = (): void => {
    if (holding && pacingNow() && Date.now() < holdUntil) {
      if (!holdExtended) log.info('startup hold: new xDS streams are still being paced; the first push waits for their registrations');
      holdExtended = true;
      holdTimer = setTimeout(holdExpired, 1000);
      holdTimer.unref?.();
      return;
    }
    releaseHold();
  };
  if (holdMs > 0 && awaitingInstances()) {
    holdTimer = setTimeout(holdExpired, holdMs);
    holdTimer.unref?.();
  } else {
    releaseHold();
  }
  cache.onChange((c) => log.info(`published model ${c.modelVersion}${c.previousModelVersion === undefined ? '' : ` (was ${c.previousModelVersion})`}`));

  const registry = new ClientRegistry();
  // Push latency, connected clients, NACKs...: served at GET /metrics on the admin port.
  const feed = feedControlPlaneMetrics(metrics, {
    clients: () => registry.records(),
    instances: () => registrations.list(),
    modelVersion: () => cache.model()?.version,
  });
  cache.onChange(() => feed.published());
  const ads = new AdsServer<ClientProfile>({
    cache,
    registry,
    profileForNode,
    log,
    hooks: {
      ...feed.hooks,
      onNode(record, node, first) {
        record.registration = registrations.onNode(record.id, record.nodeId, node, first);
      },
      onClose(record) {
        registrations.onStreamClosed(record.id);
      },
    },
    ...(options.keepaliveTimeMs === undefined ? {} : { keepaliveTimeMs: options.keepaliveTimeMs }),
    ...(options.keepaliveTimeoutMs === undefined ? {} : { keepaliveTimeoutMs: options.keepaliveTimeoutMs }),
    admission,
    onPaced: () => metrics.streamsPaced.inc(),
  });
  pacingNow = () => ads.pacedWithin(1000);

  const lrs = attachLoadReporting(ads.grpcServer, {
    log,
    metrics,
    ...(options.loadReportIntervalMs === undefined ? {} : { intervalMs: options.loadReportIntervalMs }),
  });

  // mesh.yaml from a file or from Consul KV: the same handlers either way.
  const watchConfig = (h: Parameters<typeof watchMeshFile>[1]): { close(): void } =>
    kvKey !== undefined ? consul!.watchConfig(kvKey, h) : watchMeshFile(file, h);
  const watcher = watchConfig({
    knownVersion: base.version,
    onModel(model) {
      base = model;
      configError = null;
      consul?.setDeclared(model.services.keys());
      log.info(`config ${file} loaded (model ${model.version})`);
      republish();
    },
    onError(err) {
      configError = {
        kind: 'config',
        file: (isEnmeshError(err) ? err.file : undefined) ?? file,
        message: err instanceof Error ? err.message : String(err),
        issues: isEnmeshError(err) ? (err.issues ?? []) : [],
        at: new Date().toISOString(),
      };
      metrics.configErrors.inc();
      log.error(`config ${file} rejected, still serving model ${cache.model()?.version ?? '(none)'}: ${configError.message}`);
    },
    ...(options.watchDebounceMs === undefined ? {} : { debounceMs: options.watchDebounceMs }),
  });

  const currentError = (): ConfigErrorView | null => {
    if (configError !== null) return configError;
    const refused = cache.lastError();
    if (refused === undefined) return null;
    return { kind: 'snapshot', file, message: refused.message, issues: refused.issues, at: new Date(refused.at).toISOString() };
  };

  const admin = new AdminServer();
  registerAdminRoutes(admin, { cache, registry, registrations, configError: currentError, configVersion: () => publishedBase });
  lrs.mount(admin);
  admin.route('GET', '/metrics', async () => new Reply(200, await feed.scrape(), { 'content-type': metrics.registry.contentType }));
  const sourcesView = (): unknown => ({
    config: { source: kvKey === undefined ? 'file' : 'consul-kv', location: file },
    sources: consul === undefined ? [] : [consul.view()],
  });
  admin.route('GET', '/api/v1/sources', sourcesView);
  if (consul !== undefined) registerSourceMetric(metrics.registry, () => [consul.status]);
  mountDashboard(admin, { model: () => cache.model() });
  try {
    operator = await attachOperatorApi(
      admin,
      {
        file,
        // mesh.yaml in Consul KV: admin API writes are check-and-set on the key.
        ...(kvKey === undefined ? {} : { store: consul!.configStore(kvKey) }),
        drains,
        load: lrs.aggregator,
        log,
        configVersion: () => publishedBase,
        publishedModel: () => cache.model(),
        // A change must translate into a servable snapshot, as the file watcher's edits must.
        check: (m) => void buildSnapshot(merge(m), ENMESH_PROFILE),
        republish: () => {
          republish();
          cache.flush();
        },
        clients: () => registry.list(),
        configError: currentError,
        loadView: () => ({ intervalMs: options.loadReportIntervalMs ?? 10_000, ...lrs.aggregator.view() }),
      },
      {
        ...options.operator,
        ...(options.adminToken === undefined ? {} : { adminToken: options.adminToken }),
        ...(options.adminTokenFile === undefined ? {} : { adminTokenFile: options.adminTokenFile }),
        ...(options.auditLog === undefined ? {} : { auditLog: options.auditLog }),
      },
    );
  } catch (err) {
    clearTimeout(holdTimer);
    watcher.close();
    registrations.close();
    cache.close();
    lrs.close();
    await ads.close(0);
    await consul?.close();
    throw err;
  }

  // Consul going down or coming back is shown on the dashboard as it happens.
  consul?.status.onChange(() => operator!.events.publish('sources', sourcesView()));

  // Canary releases: weight steps through the operator's mutation path, judged on per-subset load reports (docs/canary.md).
  const canaries = attachCanaries(admin, { mutations: operator.mutations, model: () => cache.model(), load: lrs.aggregator, events: operator.events, audit: operator.audit, log });

  let xdsPort: number;
  let adminPort: number;
  let ca: CaService | undefined;
  try {
    ca = options.ca === false ? undefined : await attachCertificateAuthority(admin, base.mesh.trustDomain, options.ca ?? {}, log);
    xdsPort = await ads.listen(host, options.xdsPort ?? 15010);
    adminPort = await admin.listen(host, options.adminPort ?? 15000);
  } catch (err) {
    clearTimeout(holdTimer);
    watcher.close();
    registrations.close();
    cache.close();
    lrs.close();
    await operator.close();
    await ads.close(0);
    await admin.close();
    await consul?.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    host,
    xdsPort,
    adminPort,
    cache,
    registry,
    registrations,
    ca,
    load: lrs.aggregator,
    metrics,
    consul,
    operator,
    admin,
    configError: currentError,
    configVersion: () => publishedBase,
    close() {
      clearTimeout(holdTimer);
      closing ??= (async () => {
        canaries.close();
        watcher.close();
        registrations.close();
        cache.close();
        lrs.close();
        await operator!.close();
        await Promise.all([ads.close(), admin.close(), consul?.close()]);
      })();
      return closing;
    },
  };
}

interface AdminSources {
  readonly cache: SnapshotCache<ClientProfile>;
  readonly registry: ClientRegistry;
  readonly registrations: Registrations;
  readonly configError: () => ConfigErrorView | null;
  readonly configVersion: () => string | undefined;
}

const PROFILES: Readonly<Record<string, ClientProfile>> = {
  enmesh: { kind: 'enmesh' },
  'grpc-xds': { kind: 'grpc-xds' },
  envoy: { kind: 'envoy' },
};

/** The admin routes of the control plane. */
export function registerAdminRoutes(admin: AdminServer, src: AdminSources): void {
  admin
    .route('GET', '/healthz', () => ({
      status: 'ok',
      modelVersion: src.cache.model()?.version ?? null,
      configVersion: src.configVersion() ?? null,
    }))
    .route('GET', '/api/v1/clients', () => ({ clients: src.registry.list() }))
    .route('GET', '/api/v1/snapshot', (_req, url) => {
      const model = src.cache.model();
      const wanted = url.searchParams.get('profile');
      if (wanted !== null) {
        const profile = PROFILES[wanted];
        if (profile === undefined) return new Reply(400, { error: `unknown profile "${wanted}"; use one of ${Object.keys(PROFILES).join(', ')}` });
        src.cache.current(profile);
      }
      const snapshots: Record<string, unknown> = {};
      for (const [kind, snap] of src.cache.snapshots()) {
        if (wanted === null || wanted === kind) snapshots[kind] = snapshotView(snap);
      }
      return { modelVersion: model?.version ?? null, source: model?.source ?? null, snapshots };
    })
    .route('GET', '/api/v1/services', () => {
      const model = src.cache.model();
      return { modelVersion: model?.version ?? null, services: model === undefined ? [] : servicesView(model) };
    })
    .route('GET', '/api/v1/registrations', () => ({
      instances: src.registrations.list(),
      errors: src.registrations.errors().map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
    }))
    .route('GET', '/api/v1/config/errors', () => ({ error: src.configError() }));
}

function snapshotView(snap: Snapshot): unknown {
  const resources: Record<string, string[]> = {};
  for (const [typeUrl, byName] of snap.resources) resources[typeUrl] = [...byName.keys()].sort();
  return {
    version: snap.version,
    modelVersion: snap.modelVersion,
    typeVersions: Object.fromEntries(snap.typeVersions),
    resources,
    degradations: snap.degradations,
  };
}

function servicesView(model: MeshModel): unknown[] {
  return [...model.services.values()].map((s) => ({
    name: s.name,
    protocol: s.protocol,
    port: s.port,
    loadBalancer: s.loadBalancer,
    subsets: Object.fromEntries(s.subsets),
    routes: s.routes.map((r) => r.name),
    endpoints: s.endpoints.map((e) => ({
      address: endpointAddress(e),
      labels: e.labels,
      weight: e.weight,
      zone: e.zone,
      healthy: e.healthy,
      draining: e.draining === true,
      origin: e.origin,
    })),
  }));
}
