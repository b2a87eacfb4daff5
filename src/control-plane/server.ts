/**
 * The `enmesh control-plane` process: mesh.yaml (watched) plus self-registered
 * instances → snapshot cache → ADS server, with a JSON admin API beside it.
 *
 * A bad edit of the file never reaches clients: it is logged with the file
 * and key path, shown by `GET /api/v1/config/errors`, and the last good
 * snapshot keeps being served.
 */
import { isEnmeshError } from '../errors.ts';
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
import type { LoadAggregator } from './lrs/index.ts';
import type { Snapshot } from './snapshot.ts';

export interface ControlPlaneOptions {
  /** Path of the mesh config file (mesh.yaml). */
  readonly config: string;
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
  /** Interval clients are asked to send load reports (LRS) at. Default 10 000 ms. */
  readonly loadReportIntervalMs?: number;
  readonly log?: Logger;
  /** The CA signing workload SVIDs on the admin port (docs/security.md). Default: on, root and token key in memory; `false`: off. */
  readonly ca?: CaServiceOptions | false;
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

  let base: MeshModel = await loadMeshFile(file);
  let configError: ConfigErrorView | null = null;

  const cache = new SnapshotCache<ClientProfile>({
    build: buildSnapshot,
    // Always translated, so a model that cannot be served is refused before any client asks.
    profiles: [ENMESH_PROFILE],
    onRefused: (e) => log.error(`model ${e.modelVersion} not published, still serving ${cache.model()?.version ?? '(none)'}: ${e.message}`),
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
  const awaitingInstances = (): boolean => {
    const registered = new Set(registrations.list().map((r) => r.service));
    for (const svc of base.services.values()) if (svc.endpoints.length === 0 && !registered.has(svc.name)) return true;
    return false;
  };
  const releaseHold = (): void => {
    if (!holding) return;
    holding = false;
    clearTimeout(holdTimer);
    latestBase = base.version;
    cache.publish(registrations.apply(base));
  };
  const republish = (): void => {
    if (holding) {
      if (!awaitingInstances()) releaseHold();
      return;
    }
    latestBase = base.version;
    const merged = registrations.apply(base);
    // Same content as in force (e.g. a static endpoint now lists a registered one): nothing to push.
    if (merged.version === cache.model()?.version) publishedBase = latestBase;
    cache.setModel(merged);
  };
  const registrations = new Registrations({
    onChange: republish,
    log,
    ...(options.registrationGraceMs === undefined ? {} : { graceMs: options.registrationGraceMs }),
  });
  cache.onChange(() => {
    publishedBase = latestBase;
  });
  const holdMs = options.startupHoldMs ?? 5000;
  if (holdMs > 0 && awaitingInstances()) {
    holdTimer = setTimeout(releaseHold, holdMs);
    holdTimer.unref?.();
  } else {
    releaseHold();
  }
  cache.onChange((c) => log.info(`published model ${c.modelVersion}${c.previousModelVersion === undefined ? '' : ` (was ${c.previousModelVersion})`}`));

  const registry = new ClientRegistry();
  const ads = new AdsServer<ClientProfile>({
    cache,
    registry,
    profileForNode,
    log,
    hooks: {
      onNode(record, node, first) {
        record.registration = registrations.onNode(record.id, record.nodeId, node, first);
      },
      onClose(record) {
        registrations.onStreamClosed(record.id);
      },
    },
    ...(options.keepaliveTimeMs === undefined ? {} : { keepaliveTimeMs: options.keepaliveTimeMs }),
    ...(options.keepaliveTimeoutMs === undefined ? {} : { keepaliveTimeoutMs: options.keepaliveTimeoutMs }),
  });

  const lrs = attachLoadReporting(ads.grpcServer, {
    log,
    ...(options.loadReportIntervalMs === undefined ? {} : { intervalMs: options.loadReportIntervalMs }),
  });

  const watcher = watchMeshFile(file, {
    knownVersion: base.version,
    onModel(model) {
      base = model;
      configError = null;
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
    await ads.close(0);
    await admin.close();
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
    configError: currentError,
    configVersion: () => publishedBase,
    close() {
      clearTimeout(holdTimer);
      closing ??= (async () => {
        watcher.close();
        registrations.close();
        cache.close();
        lrs.close();
        await Promise.all([ads.close(), admin.close()]);
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
      address: `${e.host}:${e.port}`,
      labels: e.labels,
      weight: e.weight,
      zone: e.zone,
      healthy: e.healthy,
      origin: e.origin,
    })),
  }));
}
