/**
 * The `type` label of xDS metrics: a short name per resource type, so
 * queries read `type="cluster"` rather than a type URL. Shared by the SDK's
 * and the control plane's metrics.
 */
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION } from '../xds/type-urls.ts';

const LABELS: Readonly<Record<string, string>> = {
  [LISTENER]: 'listener',
  [ROUTE_CONFIGURATION]: 'route',
  [CLUSTER]: 'cluster',
  [CLUSTER_LOAD_ASSIGNMENT]: 'endpoint',
};

/** `listener`, `route`, `cluster`, `endpoint`; other types by their message name (after the last `.`). */
export function xdsTypeLabel(typeUrl: string): string {
  return LABELS[typeUrl] ?? typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
}
