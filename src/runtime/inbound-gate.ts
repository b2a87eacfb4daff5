/**
 * Inbound admission for this process's own service, before the application
 * sees a request: the server-side rate limit (`rateLimit.side: server`, 429
 * RL with Retry-After) and adaptive concurrency (503 OM when the process is
 * overloaded). State survives reloads while the settings do not change.
 */
import type http from 'node:http';
import type { ServiceModel } from '../model/types.ts';
import { AdaptiveConcurrencyLimiter } from '../resilience/adaptive-concurrency.ts';
import { LocalRateLimiter } from '../resilience/rate-limiter.ts';
import { retryAfterSeconds } from '../resilience/rate-limit-descriptors.ts';
import { RESPONSE_FLAGS_HEADER, ResponseFlags } from '../policy/response-flags.ts';
import { NOTHING_TO_RELEASE } from '../transports/node-http/server-hook.ts';

/** A request the gate let through: call it when the response is done. */
export type InboundRelease = () => void;


export class InboundGate {
  readonly key: string;
  readonly #limiter: LocalRateLimiter | undefined;
  readonly #adaptive: AdaptiveConcurrencyLimiter | undefined;

  constructor(svc: ServiceModel) {
    this.key = JSON.stringify([svc.rateLimit, svc.adaptiveConcurrency]);
    this.#limiter = svc.rateLimit?.side === 'server' ? new LocalRateLimiter(`${svc.name}/inbound`, svc.rateLimit) : undefined;
    this.#adaptive = svc.adaptiveConcurrency !== undefined ? new AdaptiveConcurrencyLimiter(svc.name, svc.adaptiveConcurrency) : undefined;
  }

  get active(): boolean {
    return this.#limiter !== undefined || this.#adaptive !== undefined;
  }

  /**
   * Undefined when the request was refused (the response is already sent);
   * else the function to call when the response is done.
   */
  admit(req: http.IncomingMessage, res: http.ServerResponse): InboundRelease | undefined {
    if (this.#limiter !== undefined) {
      const path = req.url ?? '/';
      const wait = this.#limiter.check({ path, header: (name) => headerOf(req, name) });
      if (wait > 0) {
        refuse(res, 429, ResponseFlags.RATE_LIMITED, 'rate limit exceeded', retryAfterSeconds(wait));
        return undefined;
      }
    }
    const adaptive = this.#adaptive;
    if (adaptive === undefined) return NOTHING_TO_RELEASE;
    if (!adaptive.tryAcquire()) {
      refuse(res, 503, ResponseFlags.OVERLOADED, 'overloaded: request shed by adaptive concurrency', undefined);
      return undefined;
    }
    const started = performance.now();
    return () => adaptive.release(performance.now() - started);
  }

  close(): void {
    this.#adaptive?.close();
  }
}

function headerOf(req: http.IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

function refuse(res: http.ServerResponse, status: number, flag: string, body: string, retryAfter: string | undefined): void {
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8', [RESPONSE_FLAGS_HEADER]: flag };
  if (retryAfter !== undefined) headers['retry-after'] = retryAfter;
  res.writeHead(status, headers);
  res.end(body);
}
