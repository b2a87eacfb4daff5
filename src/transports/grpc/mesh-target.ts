/**
 * Which gRPC channel targets name a service of the mesh: `ratings`,
 * `ratings:50051`, `dns:///ratings:50051` (any DNS authority), when the mesh
 * has a gRPC service `ratings` and the port is its port (or none is given).
 * Addresses, other schemes and other ports are not the mesh's.
 */
import type { MeshModel } from '../../model/types.ts';

const DNS_TARGET = /^(?:dns:(?:\/\/[^/]*\/)?)?([a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::(\d+))?$/i;

export function meshGrpcTarget(model: MeshModel | undefined, target: string): string | undefined {
  if (model === undefined) return undefined;
  const m = DNS_TARGET.exec(target);
  if (m === null) return undefined;
  const svc = model.services.get(m[1]!.toLowerCase());
  if (svc === undefined || svc.protocol !== 'grpc') return undefined;
  if (m[2] !== undefined && Number(m[2]) !== svc.port) return undefined;
  return `xds:///${svc.name}`;
}
