/**
 * The `socket` a mesh-routed `http.ClientRequest` hands out. The request's
 * real connection is one of the mesh's pooled undici connections, to an
 * endpoint chosen per attempt, so there is no single socket to give; but
 * HTTP libraries wait for the request's 'socket' event before they start
 * their timeouts (follow-redirects, and with it axios; needle), measure
 * timings (got) or set keep-alive. This stands in for it: an unconnected
 * `net.Socket` that reports itself connected (`connecting` false, as a reused
 * keep-alive socket), whose idle timeout counts from the response's activity,
 * and whose destruction aborts the request as losing the connection would
 * ("socket hang up" before the response, "aborted" during it).
 */
import net from 'node:net';

export class RequestSocket extends net.Socket {
  readonly #onDestroy: () => void;
  /** Node's own refresh of a socket's idle timer (what reading from a real handle calls). */
  declare _unrefTimer: (() => void) | undefined;

  constructor(onDestroy: () => void) {
    super();
    this.#onDestroy = onDestroy;
  }

  /** Response activity: restarts the idle timeout, as data on a real socket does. */
  touch(): void {
    if (this.timeout !== undefined && this.timeout > 0) this._unrefTimer?.();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#onDestroy();
    super._destroy(err, cb);
  }
}
