/**
 * The live data plane of one process: the current compiled config and the
 * state that survives config changes. Transports hold a reference to it and
 * read `compiled` per request; a config change swaps that one field.
 */
import type { MeshModel } from '../model/types.ts';
import type { EndpointFeedback } from '../cluster/types.ts';
import { CompiledMesh, createCarriedState, type CarriedState } from './compiled-mesh.ts';
import { createEndpointFeedback } from '../cluster/feedback.ts';
import { DEFAULT_REPLAY_LIMIT } from './replayable-body.ts';
import type { GlobalLimiterFactory } from './cluster-policies.ts';

export interface RuntimeOptions {
  /** This process's own service name, when it has one (source of its calls). */
  readonly serviceName?: string;
  /** This process's zone, for locality-aware balancing. */
  readonly zone?: string;
  /** Largest request body remembered for replay on retry. */
  readonly replayLimit?: number;
  readonly random?: () => number;
  /** Builds shared (Redis) limiters for `rateLimit.scope: global`. */
  readonly globalLimiter?: GlobalLimiterFactory;
}

/** Counters for diagnostics and the admin API (metrics come from telemetry). */
export interface RuntimeStats {
  /** HTTP requests routed by the mesh. */
  requests: number;
  retries: number;
  /** gRPC calls seen by the gRPC hooks, as client and as server. */
  grpcClientCalls: number;
  grpcServerCalls: number;
}

export class MeshRuntime {
  compiled: CompiledMesh | undefined;
  readonly feedback: EndpointFeedback;
  readonly random: () => number;
  readonly replayLimit: number;
  readonly zone: string;
  readonly serviceName: string | undefined;
  readonly stats: RuntimeStats = { requests: 0, retries: 0, grpcClientCalls: 0, grpcServerCalls: 0 };
  readonly #carried: CarriedState = createCarriedState();
  readonly #globalLimiter: GlobalLimiterFactory | undefined;

  constructor(options: RuntimeOptions = {}) {
    this.zone = options.zone ?? '';
    this.serviceName = options.serviceName;
    this.random = options.random ?? Math.random;
    this.replayLimit = options.replayLimit ?? DEFAULT_REPLAY_LIMIT;
    this.feedback = createEndpointFeedback();
    this.#globalLimiter = options.globalLimiter;
  }

  get model(): MeshModel | undefined {
    return this.compiled?.model;
  }

  /** Compiles and swaps in a new model. Compilation errors leave the previous config in force. */
  setModel(model: MeshModel): void {
    this.compiled = new CompiledMesh(model, this.#carried, this.zone, this.#globalLimiter);
  }

  /** Stops timers and connections of the policies (breakers, outlier detection, Redis limiters). */
  close(): void {
    for (const p of this.#carried.policies.values()) p.close();
    this.#carried.policies.clear();
  }
}
