/**
 * Which slice of the traffic a rate-limit descriptor applies to, and the key
 * of its bucket for one request: shared by the local and the global limiter.
 */
import type { RateLimitDescriptorModel } from '../model/types.ts';

/** What a rate limiter needs to know about a request, whatever the transport and direction. */
export interface RateLimitRequest {
  /** Path with query string, as sent. */
  readonly path: string;
  /** Value of a header by lower-case name. */
  header(name: string): string | undefined;
  /** The calling service, when known (inbound: from the peer's identity). */
  readonly sourceService?: string | undefined;
  /** Name of the route the request matched (outbound). */
  readonly route?: string | undefined;
}

/**
 * The bucket key of `req` under descriptor `d`, or undefined when the
 * descriptor does not apply (value absent or different). With a configured
 * `value` every matching request shares one bucket (key = that value);
 * without, each distinct value gets its own bucket.
 */
export function descriptorKey(d: RateLimitDescriptorModel, req: RateLimitRequest): string | undefined {
  let v: string | undefined;
  switch (d.by) {
    case 'path': {
      const path = req.path;
      if (d.value !== undefined) return path.startsWith(d.value) ? d.value : undefined;
      const q = path.indexOf('?');
      return q === -1 ? path : path.slice(0, q);
    }
    case 'header':
      v = d.header === undefined ? undefined : req.header(d.header);
      break;
    case 'source-service':
      v = req.sourceService;
      break;
    case 'route':
      v = req.route;
      break;
  }
  if (v === undefined) return undefined;
  return d.value === undefined || d.value === v ? v : undefined;
}

/** `Retry-After` in whole seconds (at least 1) for a wait in ms. */
export function retryAfterSeconds(waitMs: number): string {
  return String(Math.max(1, Math.ceil(waitMs / 1000)));
}
