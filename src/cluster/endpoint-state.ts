import type { EndpointModel } from '../model/types.ts';
import type { EndpointState } from './types.ts';

/**
 * `host:port`, with an IPv6 literal in brackets as URLs require.
 *
 * Strings kept per endpoint are built with `join`, not `+` or template
 * literals: V8 keeps a concatenation as a tree of 32-byte rope nodes for as
 * long as the string lives, which for a thousand endpoints' origins and keys
 * came to half a megabyte; `join` makes one flat string.
 */
export function formatAuthority(host: string, port: number): string {
  return (host.includes(':') && !host.startsWith('[') ? ['[', host, ']:', port] : [host, ':', port]).join('');
}

/**
 * Live state for one endpoint. Every field is set here, in one order, so all
 * states share one object shape and the balancers' property reads stay
 * monomorphic. An endpoint that health information marks unhealthy starts
 * unavailable.
 */
export function createEndpointState(ep: EndpointModel): EndpointState {
  const authority = formatAuthority(ep.host, ep.port);
  return {
    endpoint: ep,
    origin: ['http://', authority].join(''),
    tlsOrigin: ['https://', authority].join(''),
    authority,
    active: 0,
    ewmaMs: 0,
    ewmaStamp: 0,
    available: ep.healthy,
  };
}
