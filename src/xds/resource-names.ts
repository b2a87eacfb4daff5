/**
 * Names of the xDS resources enmesh publishes for a service. Clients derive
 * them from a call target (gRPC: `xds:///ratings` or `xds:///ratings:50051`),
 * so these spellings are part of the wire contract.
 */
import { isIP } from 'node:net';
import type { ServiceModel } from '../model/types.ts';

/** Listener names of a service: a gRPC target may name the port or not. */
export function listenerNames(service: ServiceModel): readonly string[] {
  return [service.name, `${service.name}:${service.port}`];
}

/** One route configuration per service, named after it. */
export function routeConfigName(service: string): string {
  return service;
}

/** Istio's cluster naming: `outbound|<port>|<subset>|<service>`; an empty subset means all endpoints. */
export function clusterName(service: string, port: number, subset?: string): string {
  return `outbound|${port}|${subset ?? ''}|${service}`;
}

/** Inverse of {@link clusterName}; undefined for names enmesh does not produce. */
export function parseClusterName(name: string): { service: string; port: number; subset?: string } | undefined {
  const parts = name.split('|');
  if (parts.length < 4 || parts[0] !== 'outbound') return undefined;
  const port = Number(parts[1]);
  if (!/^[0-9]+$/.test(parts[1]) || port < 1 || port > 65535) return undefined;
  // A service name never holds '|', but keep whatever follows the third bar intact.
  const service = parts.slice(3).join('|');
  if (service === '') return undefined;
  const subset = parts[2];
  return subset === '' ? { service, port } : { service, port, subset };
}

/**
 * The bootstrap's `server_listener_resource_name_template` (gRFC A36): an
 * xDS-enabled gRPC server (grpc-js-xds `XdsServer`) asks for the Listener
 * named by it, `%s` replaced by the `ip:port` it binds. This is the spelling
 * gRFC A36 and gRPC's own examples use, so a bootstrap written by hand from
 * them works unchanged; it can never be a service's listener name (service
 * names hold no `/` or `?`).
 */
export const SERVER_LISTENER_NAME_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';

/** `ip:port` as gRPC servers spell a listening address: IPv6 in brackets. */
export function listeningAddress(ip: string, port: number): string {
  return `${isIP(ip) === 6 ? `[${ip}]` : ip}:${port}`;
}

/** The Listener name a gRPC server bound to `address` (`ip:port`) asks for. */
export function serverListenerName(address: string): string {
  return SERVER_LISTENER_NAME_TEMPLATE.replace('%s', address);
}
