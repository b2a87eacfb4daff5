/**
 * Listeners for gRPC's xDS-enabled servers (grpc-js-xds `XdsServer`, gRFC
 * A36). Such a server asks for the Listener named after the address it binds
 * (`grpc/server?xds.resource.listening_address=<ip:port>`, resource-names.ts)
 * and serves that port only once the Listener has arrived. Each is a real
 * socket listener: its address is that ip:port, and one filter chain holds an
 * HttpConnectionManager with an inline route configuration (virtual host
 * `*`, one `non_forwarding_action` route: the server answers every call
 * itself), the service's RBAC filters and the router. With `mesh.mtls:
 * strict` the chain also carries a DownstreamTlsContext (tls-contexts.ts).
 *
 * Which service an address belongs to comes from where the model says each
 * service runs, so the snapshot holds one listener per address a server can
 * bind, and the ADS streams answer a server's request like any other named
 * subscription (a name not in the snapshot does not exist, and grpc-js-xds
 * then keeps the port not serving):
 *
 * - `ip:port` that is an endpoint (an IP literal) of exactly one gRPC
 *   service: that service;
 * - `0.0.0.0:port` and `[::]:port`: the one gRPC service whose endpoints use
 *   that port (host-name endpoints count), if only one does;
 * - anything else: no listener. An address or a wildcard port that several
 *   gRPC services share is reported as a degradation: one gRPC server
 *   hosting several services would need each one's policies scoped to its
 *   own methods, which the model cannot tell.
 *
 * Only for the grpc-xds profile: enmesh's SDK secures its own servers, and an
 * Envoy subscribing to every listener must not be handed sockets to bind.
 */
import { isIP } from 'node:net';
import type { AuthorizationPolicyModel, MeshModel, ServiceModel } from '../../model/types.ts';
import { enmeshMetadata } from '../metadata.ts';
import { encodeMessage, toAny } from '../protos.ts';
import { listeningAddress, serverListenerName } from '../resource-names.ts';
import { HTTP_CONNECTION_MANAGER, LISTENER } from '../type-urls.ts';
import type { Degradations } from './degradations.ts';
import { serverHttpFilters } from './http-filters.ts';
import { isGrpcXds } from './profile.ts';
import { REQUEST_PRINCIPAL_KEY } from './security-filters.ts';
import { downstreamTransportSocket } from './tls-contexts.ts';
import type { ClientProfile, Message } from './types.ts';

export const HTTP_CONNECTION_MANAGER_FILTER_NAME = 'envoy.filters.network.http_connection_manager';

/** A listening address a gRPC server may bind, and the service a server there serves. */
export interface ServerAddress {
  /** As the listener's socket address carries it (IPv6 without brackets). */
  readonly ip: string;
  readonly port: number;
  readonly service: ServiceModel;
}

const WILDCARD_IPS: readonly string[] = ['0.0.0.0', '::'];

/** Listening address (`ip:port`, IPv6 in brackets) → what a server bound there serves; see the module comment. */
export function serverAddresses(model: MeshModel, degradations: Degradations): Map<string, ServerAddress> {
  const byAddress = new Map<string, { ip: string; port: number; services: ServiceModel[] }>();
  const byPort = new Map<number, ServiceModel[]>();
  for (const service of model.services.values()) {
    if (service.protocol !== 'grpc') continue;
    for (const e of service.endpoints) {
      const onPort = byPort.get(e.port);
      if (onPort === undefined) byPort.set(e.port, [service]);
      else if (!onPort.includes(service)) onPort.push(service);
      if (isIP(e.host) === 0) continue;
      const address = listeningAddress(e.host, e.port);
      const at = byAddress.get(address);
      if (at === undefined) byAddress.set(address, { ip: e.host, port: e.port, services: [service] });
      else if (!at.services.includes(service)) at.services.push(service);
    }
  }
  const out = new Map<string, ServerAddress>();
  for (const [address, { ip, port, services }] of byAddress) {
    if (services.length === 1) out.set(address, { ip, port, service: services[0]! });
    else degradations.add(`address ${address} is an endpoint of several gRPC services (${names(services)}): a gRPC server bound to it gets no listener`);
  }
  for (const [port, services] of byPort) {
    if (services.length > 1) {
      degradations.add(
        `port ${port} is used by several gRPC services (${names(services)}): a gRPC server bound to 0.0.0.0:${port} or [::]:${port} gets no listener (bind it to its endpoint address)`,
      );
      continue;
    }
    for (const ip of WILDCARD_IPS) {
      const address = listeningAddress(ip, port);
      // An endpoint listed with a wildcard address was settled above.
      if (!byAddress.has(address)) out.set(address, { ip, port, service: services[0]! });
    }
  }
  return out;
}

/**
 * The server listeners of the grpc-xds profile (none for other profiles),
 * encoded. A mesh has one per endpoint: the part every listener of a service
 * shares (`filter_chains`, `metadata`) is encoded once, the per-address part
 * (`name`, `address`) for each. Fields are encoded in field-number order
 * (name 1, address 2, filter_chains 3, metadata 6), so the concatenation is
 * byte for byte the encoding of the whole listener.
 */
export function translateServerListeners(model: MeshModel, profile: ClientProfile, degradations: Degradations): { name: string; message: Uint8Array }[] {
  if (!isGrpcXds(profile)) return [];
  const shared = new Map<string, Uint8Array>();
  const out: { name: string; message: Uint8Array }[] = [];
  for (const [address, server] of serverAddresses(model, degradations)) {
    const service = server.service;
    let tail = shared.get(service.name);
    if (tail === undefined) {
      tail = encodeMessage(LISTENER, { filter_chains: [filterChain(service, model, profile, degradations)], metadata: enmeshMetadata({ service: service.name }) });
      shared.set(service.name, tail);
    }
    const name = serverListenerName(address);
    const head = encodeMessage(LISTENER, listenerHead(name, server));
    const message = new Uint8Array(head.byteLength + tail.byteLength);
    message.set(head);
    message.set(tail, head.byteLength);
    out.push({ name, message });
  }
  return out;
}

function listenerHead(name: string, { ip, port }: ServerAddress): Message {
  // grpc-js-xds serves only a listener whose socket address is exactly the one it bound.
  return { name, address: { socket_address: { address: ip, port_value: port } } };
}

/** The one filter chain of every server listener of `service` (built once per service). */
function filterChain(service: ServiceModel, model: MeshModel, profile: ClientProfile, degradations: Degradations): Message {
  reportUnenforced(service, model, degradations);
  const name = `inbound|${service.name}`;
  const hcm = toAny(HTTP_CONNECTION_MANAGER, {
    stat_prefix: `inbound_${service.name}`,
    route_config: {
      name,
      virtual_hosts: [{ name, domains: ['*'], routes: [{ match: { prefix: '/' }, non_forwarding_action: {} }] }],
    },
    http_filters: serverHttpFilters({ service, model, profile, degradations }),
  });
  const transportSocket = downstreamTransportSocket(service, model, profile);
  return {
    name,
    filters: [{ name: HTTP_CONNECTION_MANAGER_FILTER_NAME, typed_config: hcm }],
    ...(transportSocket === undefined ? {} : { transport_socket: transportSocket }),
  };
}

/** gRPC servers implement no jwt_authn: what depends on a JWT cannot be enforced there. */
function reportUnenforced(service: ServiceModel, model: MeshModel, degradations: Degradations): void {
  const lost: string[] = [];
  if (model.policies.authentication.some((p) => p.target === service.name)) lost.push('authentication (JWT) policies are not checked');
  const onJwt = model.policies.authorization.filter((p) => p.target === service.name && !p.dryRun && usesJwt(p));
  if (onJwt.length > 0) {
    // A gRPC server sees no JWT: those matches never hold there, so an ALLOW admits fewer calls and a DENY refuses fewer.
    lost.push(`authorization policies ${onJwt.map((p) => p.name).join(', ')} match on the JWT, which is never seen there`);
  }
  if (lost.length > 0) degradations.add(`service ${service.name}: on gRPC servers (XdsServer), ${lost.join('; ')}`);
}

function usesJwt(p: AuthorizationPolicyModel): boolean {
  return (
    p.from.some((s) => s.requestPrincipal !== undefined) ||
    (p.when ?? []).some((c) => c.key === REQUEST_PRINCIPAL_KEY || c.key.startsWith('request.auth.claims'))
  );
}

function names(services: readonly ServiceModel[]): string {
  return services.map((s) => s.name).join(', ');
}
