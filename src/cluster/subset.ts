import { EnmeshError } from '../errors.ts';
import type { EndpointModel, Labels, ServiceModel } from '../model/types.ts';

/** True when `labels` carries every key of `selector` with the same value. An empty selector matches all. */
export function matchesLabels(labels: Labels, selector: Labels): boolean {
  for (const key in selector) {
    if (labels[key] !== selector[key]) return false;
  }
  return true;
}

/** The endpoints whose labels match `selector`, in their original order. */
export function selectSubset<T extends { readonly endpoint: EndpointModel }>(endpoints: readonly T[], selector: Labels): T[] {
  return endpoints.filter((s) => matchesLabels(s.endpoint.labels, selector));
}

/**
 * The endpoints of `service` a backend reference targets: all of them without
 * a subset, else those matching the named subset's labels. Runs once per
 * config, not per request.
 */
export function subsetEndpoints<T extends { readonly endpoint: EndpointModel }>(
  service: ServiceModel,
  subset: string | undefined,
  endpoints: readonly T[],
): T[] {
  if (subset === undefined) return endpoints.slice();
  const selector = service.subsets.get(subset);
  if (selector === undefined) {
    const known = [...service.subsets.keys()].join(', ') || 'none';
    throw new EnmeshError(
      'ENMESH_ERR_CONFIG_INVALID',
      `service "${service.name}" has no subset "${subset}" (known: ${known}); declare it under services.${service.name}.subsets`,
    );
  }
  return selectSubset(endpoints, selector);
}
