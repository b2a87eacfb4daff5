import type { EndpointModel } from '../model/types.ts';

/**
 * One endpoint's live state, shared by every balancer that can pick it.
 * Counters are plain numbers mutated in place: no allocation per request.
 */
export interface EndpointState {
  readonly endpoint: EndpointModel;
  /** `http://host:port`, the undici origin for this endpoint. */
  readonly origin: string;
  /** `https://host:port`, the origin when the call is made over TLS (made once, not per request). */
  readonly tlsOrigin: string;
  /** `host:port` */
  readonly authority: string;
  /** Requests in flight to this endpoint. */
  active: number;
  /** Peak-EWMA latency estimate in ms (0 before the first response). */
  ewmaMs: number;
  /** Time (ms, monotonic) of the last EWMA update. */
  ewmaStamp: number;
  /**
   * False while the endpoint must not get traffic (ejected by outlier
   * detection, breaker open, draining). Balancers skip unavailable endpoints
   * unless none is available (panic mode: use all).
   */
  available: boolean;
}

/** Per-pick inputs. */
export interface PickContext {
  /** Key for ring-hash (header/cookie value or source IP); undefined: random pick on the ring. */
  readonly hashKey?: string | undefined;
  /** An endpoint to avoid if any other is available (the one a retry is moving away from). */
  readonly avoid?: EndpointState | undefined;
}

/** Picks one endpoint from a fixed set. A new set (config change) builds a new balancer. */
export interface Balancer {
  pick(ctx: PickContext): EndpointState | undefined;
  /** Every endpoint this balancer may pick, in a stable order. */
  readonly endpoints: readonly EndpointState[];
}

/** Called by the transport around each attempt so stateful balancers learn. */
export interface EndpointFeedback {
  onStart(ep: EndpointState): void;
  /** `now`: the caller's clock reading (performance.now()) when it has one, to save reading it again. */
  onEnd(ep: EndpointState, latencyMs: number, ok: boolean, now?: number): void;
}
