/** A service's routes → one `RouteConfiguration` with one virtual host answering to its listener names. */
import type { MeshModel, ServiceModel } from '../../model/types.ts';
import { listenerNames, routeConfigName } from '../resource-names.ts';
import { serviceRetryBudget } from './cluster.ts';
import type { Degradations } from './degradations.ts';
import { translateRoute, type RouteContext } from './route.ts';
import type { ClientProfile, Message } from './types.ts';

export function translateRouteConfig(
  service: ServiceModel,
  model: MeshModel,
  profile: ClientProfile,
  degradations: Degradations,
): { name: string; message: Message } {
  const ctx: RouteContext = { service, model, profile, degradations, clusterBudget: serviceRetryBudget(service) };
  const routes: Message[] = [];
  for (const route of service.routes) {
    const r = translateRoute(route, ctx);
    if (r !== undefined) routes.push(r);
  }
  const name = routeConfigName(service.name);
  // The domains are exactly the listener names, so every listener finds its virtual host.
  const virtualHost = { name: service.name, domains: [...listenerNames(service)], routes };
  return { name, message: { name, virtual_hosts: [virtualHost] } };
}
