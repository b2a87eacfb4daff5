/**
 * Translator: the config model → standard xDS v3 resources (LDS, RDS, CDS,
 * EDS), shaped for one client profile. Pure and deterministic: equal models
 * give byte-equal resources, hence equal versions.
 *
 * docs/xds-mapping.md tells which model field lands in which xDS field.
 */
import type { MeshModel } from '../../model/types.ts';
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION } from '../type-urls.ts';
import { translateAssignments } from './assignment.ts';
import { translateClusters } from './cluster.ts';
import { upstreamTransportSocket } from './tls-contexts.ts';
import { Degradations } from './degradations.ts';
import { translateListeners } from './listener.ts';
import { makeResource, MAX_RESOURCE_BYTES } from './resource.ts';
import { translateRouteConfig } from './route-config.ts';
import { translateServerListeners } from './server-listener.ts';
import type { ClientProfile, Message, TranslatedResources, XdsResource } from './types.ts';

export type { ClientProfile, TranslatedResources, XdsResource } from './types.ts';
export { profileForNode, ENMESH_PROFILE, ENVOY_PROFILE, GRPC_XDS_PROFILE } from './profile.ts';
export { MAX_RESOURCE_BYTES } from './resource.ts';

const KIND: Readonly<Record<string, string>> = {
  [LISTENER]: 'Listener',
  [ROUTE_CONFIGURATION]: 'RouteConfiguration',
  [CLUSTER]: 'Cluster',
  [CLUSTER_LOAD_ASSIGNMENT]: 'ClusterLoadAssignment',
};

export function translateModel(model: MeshModel, profile: ClientProfile): TranslatedResources {
  const degradations = new Degradations();
  const byType = new Map<string, Map<string, XdsResource>>([
    [LISTENER, new Map()],
    [ROUTE_CONFIGURATION, new Map()],
    [CLUSTER, new Map()],
    [CLUSTER_LOAD_ASSIGNMENT, new Map()],
  ]);
  const put = (typeUrl: string, items: readonly { name: string; message: Message | Uint8Array }[]): void => {
    const target = byType.get(typeUrl)!;
    for (const { name, message } of items) {
      const resource = makeResource(typeUrl, name, message);
      if (resource.any.value.byteLength > MAX_RESOURCE_BYTES) {
        degradations.add(
          `${KIND[typeUrl]} "${name}" is ${resource.any.value.byteLength} bytes, over the ${MAX_RESOURCE_BYTES}-byte limit clients accept`,
        );
      }
      target.set(name, resource);
    }
  };
  for (const service of model.services.values()) {
    put(LISTENER, translateListeners(service, model, profile, degradations));
    put(ROUTE_CONFIGURATION, [translateRouteConfig(service, model, profile, degradations)]);
    const transportSocket = upstreamTransportSocket(service, model, profile);
    put(CLUSTER, translateClusters(service, profile, degradations, transportSocket === undefined ? {} : { transportSocket }));
    put(CLUSTER_LOAD_ASSIGNMENT, translateAssignments(service, profile, degradations));
  }
  // The listeners gRPC servers ask for by their listening address (grpc-xds profile only).
  put(LISTENER, translateServerListeners(model, profile, degradations));
  return { byType, degradations: degradations.list() };
}
