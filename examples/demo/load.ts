/**
 * The demo's traffic: GETs of http://productpage:9080/productpage at a fixed
 * rate with undici.request, by service name (the demo process is in the mesh
 * too), counting answers and which reviews version built each page.
 */
import { request } from 'undici';

const PAGE = 'http://productpage:9080/productpage';
/** Never pile up requests against a stuck system. */
const MAX_IN_FLIGHT = 200;

interface Page {
  reviews?: { version?: string };
}

export class LoadDriver {
  sent = 0;
  ok = 0;
  failed = 0;
  /** Pages per reviews version (`none` when reviews did not answer). */
  readonly answeredBy: Record<string, number> = {};
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;

  /** Sends `rate` requests per second until stop(). */
  start(rate: number): void {
    this.#timer = setInterval(() => {
      if (this.#inFlight < MAX_IN_FLIGHT) void this.#one(this.sent++);
    }, 1000 / rate);
  }

  /** Stops sending, then waits (at most `timeoutMs`) for the answers in flight. */
  async stop(timeoutMs = 6000): Promise<void> {
    clearInterval(this.#timer);
    const until = performance.now() + timeoutMs;
    while (this.#inFlight > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
  }

  async #one(i: number): Promise<void> {
    this.#inFlight++;
    try {
      const res = await request(`${PAGE}?user=u${i % 10}`, { signal: AbortSignal.timeout(5000) });
      const page = (await res.body.json()) as Page;
      if (res.statusCode === 200) this.ok++;
      else this.failed++;
      const v = page.reviews?.version ?? 'none';
      this.answeredBy[v] = (this.answeredBy[v] ?? 0) + 1;
    } catch {
      this.failed++;
    } finally {
      this.#inFlight--;
    }
  }
}

/**
 * One page with `x-canary: true` (reviews v2, so ratings over gRPC too), until
 * one comes back whole: the instances are up, registered, and every caller has
 * the endpoints it needs. Returns how long that took.
 */
export async function warmUp(timeoutMs: number): Promise<number> {
  const started = performance.now();
  let last = 'no answer';
  while (performance.now() - started < timeoutMs) {
    try {
      const res = await request(PAGE, { headers: { 'x-canary': 'true' }, signal: AbortSignal.timeout(2000) });
      const page = (await res.body.json()) as Page;
      if (res.statusCode === 200 && page.reviews?.version === 'v2') return performance.now() - started;
      last = `${res.statusCode} ${JSON.stringify(page)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the call graph did not answer within ${timeoutMs / 1000} s; last answer: ${last}`);
}
