import type { BackendRef, RouteModel } from '../model/types.ts';

/**
 * What the route tier needs to know about a request, whatever the transport.
 * Adapters implement it lazily: header() is only called when a route matches on headers.
 */
export interface RequestView {
  /** Upper-case method; for gRPC, `POST`. */
  readonly method: string;
  /** Path with query string, as sent (e.g. `/api/items?id=3`). */
  readonly path: string;
  /** Value of a header by lower-case name; several values joined with `, `. */
  header(name: string): string | undefined;
  /** Peer address for ring-hash on source IP, when known. */
  readonly sourceIp?: string;
}

/** A route after compilation: regexes built, weights summed, ready for the hot path. */
export interface CompiledRoute {
  readonly route: RouteModel;
  /** Chooses a backend of a weighted split; `random` in [0, 1). */
  pickBackend(random: number): BackendRef;
}

/** One service's routes, compiled. */
export interface RouteTable {
  /** First matching route, or undefined when none matches (the caller answers 404). */
  select(req: RequestView): CompiledRoute | undefined;
}
