/**
 * A service's endpoints → one `ClusterLoadAssignment` per cluster: all
 * endpoints for the service cluster, the matching ones for each subset.
 * Endpoints are grouped by zone into localities.
 */
import { isIP } from 'node:net';
import type { EndpointModel, Labels, ServiceModel } from '../../model/types.ts';
import { enmeshMetadata } from '../metadata.ts';
import { clusterName } from '../resource-names.ts';
import type { Degradations } from './degradations.ts';
import { needsIpEndpoints } from './profile.ts';
import type { ClientProfile, Message } from './types.ts';

export function translateAssignments(
  service: ServiceModel,
  profile: ClientProfile,
  degradations: Degradations,
): { name: string; message: Message }[] {
  const endpoints = endpointsFor(service, profile, degradations);
  const out = [assignment(clusterName(service.name, service.port), endpoints)];
  for (const [subset, labels] of service.subsets) {
    out.push(assignment(clusterName(service.name, service.port, subset), endpoints.filter((e) => hasLabels(e, labels))));
  }
  return out;
}

/** The endpoints this client can take: IP literals only unless it is enmesh, each address once for gRPC. */
function endpointsFor(service: ServiceModel, profile: ClientProfile, degradations: Degradations): readonly EndpointModel[] {
  const ipOnly = needsIpEndpoints(profile);
  const dedupe = profile.kind === 'grpc-xds';
  if (!ipOnly && !dedupe) return service.endpoints;
  const seen = new Set<string>();
  const kept: EndpointModel[] = [];
  for (const e of service.endpoints) {
    const address = `${isIP(e.host) === 6 ? `[${e.host}]` : e.host}:${e.port}`;
    if (ipOnly && isIP(e.host) === 0) {
      degradations.add(`service ${service.name}: endpoint ${address} skipped for ${profile.kind} clients (they need an IP address, not a host name)`);
      continue;
    }
    if (dedupe && seen.has(address)) {
      degradations.add(`service ${service.name}: duplicate endpoint ${address} sent once to grpc-xds clients`);
      continue;
    }
    seen.add(address);
    kept.push(e);
  }
  return kept;
}

function hasLabels(e: EndpointModel, labels: Labels): boolean {
  for (const key in labels) if (e.labels[key] !== labels[key]) return false;
  return true;
}

function assignment(name: string, endpoints: readonly EndpointModel[]): { name: string; message: Message } {
  const zones = new Map<string, number[]>();
  endpoints.forEach((e, i) => {
    const list = zones.get(e.zone);
    if (list === undefined) zones.set(e.zone, [i]);
    else list.push(i);
  });
  // Grouping by zone may reorder endpoints; then each carries its position so decoding restores the order.
  let reordered = false;
  let expected = 0;
  for (const list of zones.values()) for (const i of list) if (i !== expected++) reordered = true;

  const localities: Message[] = [];
  for (const [zone, indexes] of zones) {
    let weight = 0;
    const lbEndpoints = indexes.map((i) => {
      const e = endpoints[i];
      weight += endpointWeight(e);
      return lbEndpoint(e, reordered ? i : undefined);
    });
    localities.push({
      // Always set: gRPC clients drop endpoints without a locality or its weight.
      locality: zone === '' ? {} : { zone },
      lb_endpoints: lbEndpoints,
      load_balancing_weight: { value: Math.max(1, weight) },
    });
  }
  return { name, message: { cluster_name: name, endpoints: localities } };
}

function lbEndpoint(e: EndpointModel, index: number | undefined): Message {
  return {
    endpoint: { address: { socket_address: { address: e.host, port_value: e.port } } },
    // DRAINING: an operator drained it (control-plane state); clients send it no new requests.
    health_status: e.draining === true ? 'DRAINING' : e.healthy ? 'HEALTHY' : 'UNHEALTHY',
    metadata: enmeshMetadata({ labels: { ...e.labels }, origin: e.origin, index }),
    load_balancing_weight: { value: endpointWeight(e) },
  };
}

/** xDS weights are whole numbers >= 1. */
function endpointWeight(e: EndpointModel): number {
  return Math.max(1, Math.round(e.weight));
}
