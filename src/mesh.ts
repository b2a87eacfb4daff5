/**
 * `init()` and the handle it returns. init installs the transport hooks and
 * starts the config source (mesh.yaml, or the control plane over xDS); close()
 * undoes exactly what init did, in reverse order.
 */
import { EventEmitter } from 'node:events';
import { resolve } from 'node:path';
import { Agent, getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici';
import type { MeshModel } from './model/types.ts';
import type { InitOptions } from './init-options.ts';
import { EnmeshError, isEnmeshError } from './errors.ts';
import { optionsFromEnv } from './env.ts';
import { MeshRuntime, type RuntimeStats } from './runtime/mesh-runtime.ts';
import { installGrpcHook } from './transports/grpc/hook.ts';
import { whenGrpcLoaded } from './transports/grpc/load-watch.ts';
import { grpcTelemetry } from './transports/grpc/telemetry.ts';
import type { GlobalLimiterFactory } from './runtime/cluster-policies.ts';
import { startTelemetry, type Telemetry } from './telemetry/index.ts';
import { createMeshInterceptor, type Interceptor } from './transports/undici/interceptor.ts';
import { installNodeHttpHook } from './transports/node-http/client-hook.ts';
import { installServerHook, NOTHING_TO_RELEASE } from './transports/node-http/server-hook.ts';
import { loadMeshFile } from './config/load.ts';
import { watchMeshFile } from './config/watch.ts';
import { startXdsSource } from './xds-source.ts';
import { MeshSecurity } from './security/mesh-security.ts';
import { createInboundMtlsGate } from './security/inbound-mtls.ts';
import { createHttpsMtlsGate } from './security/https-mtls.ts';
import { peerOf, type PeerTarget } from './security/peer-store.ts';
import type { PeerIdentity } from './security/peer-verify.ts';
import { createMtlsInterceptor } from './transports/undici/mtls-dispatch.ts';
import { installGrpcInboundSecurity, type GrpcInboundSecurity } from './transports/grpc/inbound-security.ts';
import { installGrpcClientChannel } from './transports/grpc/client-channel.ts';
import { meshGrpcTarget } from './transports/grpc/mesh-target.ts';

export interface MeshEvents {
  /** A new config model is in force. */
  config: [model: MeshModel];
  /** A config update was rejected (the previous config stays in force), or a source failed. */
  error: [err: Error];
}

let active: Mesh | undefined;

export class Mesh extends EventEmitter<MeshEvents> {
  /** Resolves once a config is in force. */
  readonly ready: Promise<void>;
  /** The dispatcher mesh traffic goes through (the global one when the undici hook is on). */
  readonly dispatcher: Dispatcher;
  readonly options: InitOptions;
  readonly #runtime: MeshRuntime;
  readonly #interceptor: Interceptor;
  readonly #security: MeshSecurity;
  readonly #cleanups: (() => void | Promise<void>)[] = [];
  #resolveReady!: () => void;
  #telemetry: Telemetry | undefined;
  #closed: Promise<void> | undefined;
  /** grpc-js-xds is fed by this mesh's control plane: channels to mesh services go through it. */
  #grpcTargets = false;

  /** @internal use {@link init} */
  constructor(options: InitOptions, globalLimiter?: GlobalLimiterFactory) {
    super();
    this.options = options;
    // First: bad security options throw before any hook is installed.
    const controlPlanes = options.controlPlane === undefined ? [] : typeof options.controlPlane === 'string' ? options.controlPlane.split(',') : [...options.controlPlane];
    this.#security = new MeshSecurity(options.security, {
      service: options.service?.name,
      controlPlanes: controlPlanes.map((s) => s.trim().replace(/^xds:\/\//, '').replace(/\/+$/, '')).filter(Boolean),
      onError: (err) => this.reportError(err),
    });
    this.#cleanups.push(() => this.#security.close());
    this.#runtime = new MeshRuntime({
      ...(globalLimiter !== undefined ? { globalLimiter } : {}),
      ...(options.service !== undefined ? { serviceName: options.service.name } : {}),
      ...(options.service?.zone !== undefined ? { zone: options.service.zone } : {}),
      ...(options.replayLimit !== undefined ? { replayLimit: options.replayLimit } : {}),
    });
    this.#cleanups.push(() => this.#runtime.close());
    // Config problems found while compiling (a policy that can never match) reach the 'error' event.
    this.#runtime.reportProblem = (err) => this.reportError(err);
    const meshMtls = this.#security.mtls;
    this.#runtime.mtlsDispatcher = (origin) => (meshMtls.outboundIdentity(origin) === undefined ? undefined : meshMtls.dispatcher());
    this.#runtime.outboundPrincipal = (authority) => meshMtls.serverIdentity(authority);
    // mTLS sits under the mesh interceptor: attempts to mTLS endpoints take the mTLS dispatcher.
    const meshLayer = createMeshInterceptor(this.#runtime);
    const mtlsLayer = createMtlsInterceptor(this.#security.mtls);
    this.#interceptor = (dispatch) => meshLayer(mtlsLayer(dispatch));
    const configReady = new Promise<void>((r) => (this.#resolveReady = r));
    // With a workload token, ready also waits for the first certificate.
    this.ready = configReady.then(() => this.#security.whenReady());
    const hooks = options.hooks ?? {};
    if (hooks.undici !== false) {
      const previous = getGlobalDispatcher();
      this.dispatcher = previous.compose(this.#interceptor);
      setGlobalDispatcher(this.dispatcher);
      this.#cleanups.push(() => {
        if (getGlobalDispatcher() === this.dispatcher) setGlobalDispatcher(previous);
      });
    } else {
      const agent = new Agent();
      this.dispatcher = agent.compose(this.#interceptor);
      this.#cleanups.push(() => agent.close());
    }
    if (hooks.grpc !== false) {
      // grpc-js is patched when it is loaded: a process that never loads it does not pay for it (load-watch.ts).
      const installGrpc = (): void => {
        const mtls = this.#security.mtls;
        // The caller's identity is verified from its certificate when the observer first asks (before the admission runs).
        let grpcSecurity: GrpcInboundSecurity | undefined;
        const grpcHook = installGrpcHook(
          grpcTelemetry(this.#runtime, options.service?.name ?? 'unknown', (call) => (mtls.active ? (grpcSecurity?.callerOf(call) ?? null) : undefined)),
        );
        if (grpcHook !== undefined) this.#cleanups.push(() => grpcHook.uninstall());
        // Installed after the observer hook: its wrapper runs first and puts the admission outside the observer.
        const runtime = this.#runtime;
        grpcSecurity = installGrpcInboundSecurity({
          mtls: this.#security.mtls,
          ...(options.service?.port !== undefined ? { port: options.service.port } : {}),
          admit: (call) => runtime.admitGrpcInbound(call),
          onUnsupported: (message) => this.reportError(new EnmeshError('ENMESH_ERR_INIT', `gRPC inbound mTLS: ${message}`)),
        });
        const installedSecurity = grpcSecurity;
        if (installedSecurity !== undefined) this.#cleanups.push(() => installedSecurity.uninstall());
        // Channels to mesh services resolve through grpc-js-xds; xds: channels take the TLS contexts
        // the control plane sends (mTLS in strict mode).
        const security = this.#security;
        const grpcChannel = installGrpcClientChannel({
          mtls: () => security.configured && mtls.active,
          meshTarget: (target) => (this.#grpcTargets ? meshGrpcTarget(runtime.model, target) : undefined),
        });
        if (grpcChannel !== undefined) this.#cleanups.push(() => grpcChannel.uninstall());
      };
      this.#cleanups.push(whenGrpcLoaded(installGrpc));
    }
    if (hooks.http !== false) {
      const clientHook = installNodeHttpHook(this.#runtime, this.dispatcher, this.#interceptor);
      const runtime = this.#runtime;
      const mtls = this.#security.mtls;
      const servicePort = options.service?.port;
      const inboundMtls = createInboundMtlsGate(mtls, options.service?.port !== undefined ? { port: options.service.port } : {});
      // An https server on the service port presents the SVID and verifies callers (security/https-mtls.ts).
      const httpsMtls = servicePort === undefined ? undefined : createHttpsMtlsGate(mtls, { port: servicePort });
      const serverHook = installServerHook(
        // The caller's verified identity labels the request (null: plaintext while mTLS is on).
        (status, ms, reqBytes, resBytes, req, flags) => runtime.recordInbound(status, ms, reqBytes, resBytes, mtls.active ? (peerOf(req) ?? null) : undefined, req, flags),
        // With a service port, only that server is the service: other servers in the process (a control
        // plane's admin API, the CA) are not subject to the service's policies.
        servicePort === undefined ? (req, res) => runtime.admitInbound(req, res) : (req, res) => (req.socket?.localPort === servicePort ? runtime.admitInbound(req, res) : NOTHING_TO_RELEASE),
        () => runtime.inboundTracer,
        inboundMtls.gate,
        httpsMtls,
      );
      this.#cleanups.push(() => clientHook.uninstall(), () => serverHook.uninstall(), () => inboundMtls.close(), () => httpsMtls?.close());
    }
  }

  /** The config model in force (read-only), or undefined before the first one arrives. */
  config(): MeshModel | undefined {
    return this.#runtime.model;
  }

  /** The undici interceptor, for applications that build their own dispatcher: `dispatcher.compose(mesh.interceptor())`. */
  interceptor(): Interceptor {
    return this.#interceptor;
  }

  /**
   * The verified identity of the caller of an inbound request (`IncomingMessage`)
   * or gRPC call, or undefined when it came without mTLS.
   */
  peer(target: PeerTarget): PeerIdentity | undefined {
    return peerOf(target);
  }

  /** @internal workload identity and the mTLS policy. */
  security(): MeshSecurity {
    return this.#security;
  }

  /** Counters of the data plane (HTTP requests routed, retries, gRPC calls seen). */
  stats(): Readonly<RuntimeStats> {
    return { ...this.#runtime.stats };
  }

  /** @internal telemetry started by init(): request metrics count from now on. */
  attachTelemetry(telemetry: Telemetry): void {
    this.#telemetry = telemetry;
    this.#runtime.metrics = telemetry.metrics;
    this.#runtime.accessLog = telemetry.accessLog;
    const sync = setInterval(() => {
      this.#runtime.syncPolicyMetrics();
      this.#security.syncMetrics(telemetry.metrics.enmesh);
    }, 1000);
    sync.unref();
    this.#cleanups.push(() => clearInterval(sync));
    const tracing = telemetry.tracing;
    if (tracing !== undefined) {
      this.#runtime.tracing = tracing;
      const service = this.options.service?.name ?? 'unknown';
      this.#runtime.inboundTracer = (req) => this.#runtime.traceInbound(req, tracing, service);
    }
    this.#cleanups.push(() => telemetry.close());
  }

  /** @internal control-plane mode: count per-locality load for LRS reports. */
  /** @internal grpc-js-xds reads this mesh's bootstrap: gRPC channels naming a mesh service are routed through it. */
  routeGrpcTargets(): void {
    this.#grpcTargets = true;
  }

  enableLoadReporting(): void {
    this.#runtime.load = this.#telemetry?.load;
  }

  /** @internal this process's telemetry (metrics registry, tracing, load store). */
  telemetry(): Telemetry | undefined {
    return this.#telemetry;
  }

  /**
   * The live state of every resilience policy in this process: per destination
   * service its breaker, ejected endpoints, concurrency queue and rate-limit
   * tokens, per route its faults, hedges, mirrors and retry budget, and the
   * inbound limits of this process's own service.
   */
  policies(): Record<string, unknown> {
    return this.#runtime.policyState();
  }

  /** Prometheus text of this process's metrics (Istio-standard and `enmesh_*`), for your own endpoint. */
  async metrics(): Promise<string> {
    this.#runtime.syncPolicyMetrics();
    this.#security.syncMetrics(this.#telemetry?.metrics.enmesh);
    return (await this.#telemetry?.metrics.registry.metrics()) ?? '';
  }

  /** Where the metrics endpoint listens when init() was given `metrics` (port 15090 unless `metrics.port` says otherwise); undefined without it. */
  metricsAddress(): { host: string; port: number } | undefined {
    const s = this.#telemetry?.metricsServer;
    return s === undefined ? undefined : { host: s.host, port: s.port };
  }

  /** @internal a config source delivers a model. */
  applyModel(model: MeshModel): void {
    if (this.#closed !== undefined) return;
    if (this.#runtime.model?.version === model.version) return;
    try {
      this.#runtime.setModel(model);
    } catch (err) {
      this.reportError(err as Error);
      return;
    }
    this.#security.onModel(model);
    this.#resolveReady();
    this.emit('config', model);
  }

  /** @internal a config source reports a problem; the previous config stays in force. */
  reportError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else process.emitWarning(err.message, { code: isEnmeshError(err) ? err.code : 'ENMESH_WARNING' });
  }

  /** @internal */
  onClose(fn: () => void | Promise<void>): void {
    this.#cleanups.push(fn);
  }

  /** Unhooks everything init() hooked and stops config sources. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      if (active === this) active = undefined;
      for (const fn of this.#cleanups.reverse()) {
        try {
          await fn();
        } catch (err) {
          process.emitWarning(`enmesh: error while closing: ${(err as Error).message}`);
        }
      }
    })();
    return this.#closed;
  }
}

/**
 * Starts the mesh in this process. With no options, reads `ENMESH_*`
 * environment variables. Resolves once the hooks are installed and, in
 * local-file mode, the config is loaded (an invalid file rejects). In
 * control-plane mode it resolves at once: await `mesh.ready` for the first config.
 */
export async function init(options?: InitOptions): Promise<Mesh> {
  const opts = options ?? optionsFromEnv();
  const hooking = opts.hooks === undefined || opts.hooks.undici !== false || opts.hooks.http !== false;
  if (hooking && active !== undefined) {
    throw new EnmeshError('ENMESH_ERR_INIT', 'enmesh is already initialised in this process; call close() on the first mesh before init() again');
  }
  const controlPlanes = opts.controlPlane === undefined ? [] : typeof opts.controlPlane === 'string' ? opts.controlPlane.split(',') : [...opts.controlPlane];
  if (opts.config === undefined && controlPlanes.length === 0) {
    throw new EnmeshError(
      'ENMESH_ERR_INIT',
      'no config source: pass init({ config: "./mesh.yaml" }) or init({ controlPlane: "xds://127.0.0.1:15010" }), or set ENMESH_CONFIG or ENMESH_CONTROL_PLANE',
    );
  }
  if (opts.config !== undefined && controlPlanes.length > 0) {
    // One would silently win over the other: say so instead.
    throw new EnmeshError(
      'ENMESH_ERR_INIT',
      `two config sources: config "${opts.config}" and controlPlane "${controlPlanes.join(',')}"; pass one of them (or set only one of ENMESH_CONFIG and ENMESH_CONTROL_PLANE)`,
    );
  }
  // Global rate limits share buckets in Redis; its client is only loaded when configured.
  let globalLimiter: GlobalLimiterFactory | undefined;
  if (opts.redis !== undefined) {
    const { GlobalRateLimiter } = await import('./resilience/global-rate-limiter.ts');
    const redis = opts.redis;
    globalLimiter = (svc) => (svc.rateLimit === undefined ? undefined : new GlobalRateLimiter(svc.name, svc.rateLimit, { redis }));
  }
  const mesh = new Mesh(opts, globalLimiter);
  if (hooking) active = mesh;
  try {
    mesh.attachTelemetry(
      await startTelemetry(
        { service: opts.service?.name ?? 'unknown', ...(opts.service?.labels !== undefined ? { labels: opts.service.labels } : {}) },
        {
          metrics: opts.metrics === undefined || opts.metrics === false ? false : opts.metrics,
          ...(opts.tracing !== undefined ? { tracing: opts.tracing } : {}),
          ...(opts.accessLog !== undefined ? { accessLog: opts.accessLog } : {}),
        },
      ),
    );
    if (opts.consul !== undefined) {
      // Registered in Consul instead of with the control plane; loaded only when configured.
      const { startConsulRegistration } = await import('./control-plane/consul/sdk-registration.ts');
      startConsulRegistration(mesh, opts);
    }
    if (controlPlanes.length > 0) {
      await startXdsSource(mesh, controlPlanes, opts);
    } else {
      const file = resolve(opts.config!);
      const model = await loadMeshFile(file);
      mesh.applyModel(model);
      // With a workload token: the first certificate before init() resolves, or a clear error.
      await mesh.security().firstCertificate();
      if (opts.watch !== false) {
        // knownVersion: an edit made between the load and the watch start is still picked up.
        const watcher = watchMeshFile(file, { knownVersion: model.version, onModel: (m) => mesh.applyModel(m), onError: (e) => mesh.reportError(e instanceof Error ? e : new Error(String(e))) });
        mesh.onClose(() => watcher.close());
      }
    }
  } catch (err) {
    await mesh.close();
    throw err;
  }
  return mesh;
}
