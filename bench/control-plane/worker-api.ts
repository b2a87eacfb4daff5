/** What run.ts and the client workers exchange (types only, plus one constant). */

export type ClientKind = 'sotw' | 'delta';

export interface WorkerStart {
  readonly port: number;
  readonly worker: number;
  /** Kind of each client of this worker, by index. */
  readonly kinds: readonly ClientKind[];
  readonly channels: number;
  /** Streams this worker opens per second (0: all at once, a turn of the event loop per 200). */
  readonly openPerSecond: number;
  /** `grpc-node.flow_control_window` of the channels. */
  readonly flowWindow: number;
}

export interface ByteCount {
  bytes: number;
  responses: number;
  clients: number;
}

/** Latency histogram: 1 ms buckets up to HIST_MS, the last bucket holds the rest. */
export const HIST_MS = 10_000;

export interface ChurnQuery {
  /** EDS version of each publish, in order. */
  readonly publishes: readonly string[];
  /** Per change: when it was made and the first publish that holds it. */
  readonly changes: readonly { readonly t0: number; readonly publish: number }[];
}

export interface ChurnResult {
  /** Per change, the latest convergence over this worker's clients (ms; -1 when some client never got it). */
  readonly maxMs: number[];
  /** Per (change, client) latencies by client kind. */
  readonly hist: Record<ClientKind, number[]>;
}
