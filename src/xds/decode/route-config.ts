/** `RouteConfiguration` → {@link DecodedRouteConfig}. */
import { invalid, type Obj, type Where } from './fields.ts';
import { decodeRoute } from './route.ts';
import type { DecodedRouteConfig, DecodedVirtualHost } from './types.ts';

export function decodeRouteConfig(msg: Obj, where: Where): DecodedRouteConfig {
  const virtualHosts: DecodedVirtualHost[] = ((msg.virtual_hosts ?? []) as Obj[]).map((vh, i) => {
    const at = `virtual_hosts[${i}]`;
    const domains = ((vh.domains ?? []) as string[]).map(String);
    if (domains.length === 0) invalid(where, `${at}.domains`, 'missing');
    const routes = ((vh.routes ?? []) as Obj[]).map((r, j) => decodeRoute(r, j, where, `${at}.routes[${j}]`));
    return { name: String(vh.name ?? ''), domains, routes };
  });
  return { kind: 'route-config', name: where.name, virtualHosts };
}
