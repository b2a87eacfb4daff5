/**
 * Listeners: one per name a client may target (`ratings`, `ratings:50051`),
 * each an API listener whose HttpConnectionManager fetches the service's
 * route configuration over ADS.
 */
import type { MeshModel, ServiceModel } from '../../model/types.ts';
import { enmeshMetadata } from '../metadata.ts';
import { toAny } from '../protos.ts';
import { listenerNames, routeConfigName } from '../resource-names.ts';
import { HTTP_CONNECTION_MANAGER } from '../type-urls.ts';
import type { Degradations } from './degradations.ts';
import { httpFilters } from './http-filters.ts';
import type { ClientProfile, Message } from './types.ts';

export function translateListeners(
  service: ServiceModel,
  model: MeshModel,
  profile: ClientProfile,
  degradations: Degradations,
): { name: string; message: Message }[] {
  const hcm = toAny(HTTP_CONNECTION_MANAGER, {
    stat_prefix: service.name,
    rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: routeConfigName(service.name) },
    http_filters: httpFilters({ service, model, profile, degradations }),
  });
  // Settings with no standard home: the service's own identity and the mesh-wide ones.
  const metadata = enmeshMetadata({
    service: service.name,
    port: service.port,
    protocol: service.protocol,
    mesh: { name: model.mesh.name, trustDomain: model.mesh.trustDomain, mtls: model.mesh.mtls },
  });
  return listenerNames(service).map((name) => ({
    name,
    message: { name, api_listener: { api_listener: hcm }, metadata },
  }));
}
