/** `ClusterLoadAssignment` → {@link DecodedAssignment}: endpoints with their zone, weight, health and labels. */
import { isIP } from 'node:net';
import type { EndpointModel } from '../../model/types.ts';
import { readEnmeshMetadata } from '../metadata.ts';
import { invalid, metaLabels, metaNumber, metaString, port, wrapped, type Obj, type Where } from './fields.ts';
import type { DecodedAssignment } from './types.ts';

/** RFC 1123 host name (underscores tolerated, as resolvers do). */
const HOSTNAME = /^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/** Health states in which an endpoint may take traffic. */
const SERVING: ReadonlySet<string> = new Set(['UNKNOWN', 'HEALTHY', 'DEGRADED']);

const ORIGINS: ReadonlySet<string> = new Set(['static', 'registered', 'consul']);

export function decodeAssignment(msg: Obj, where: Where): DecodedAssignment {
  const endpoints: { endpoint: EndpointModel; index: number | undefined }[] = [];
  ((msg.endpoints ?? []) as Obj[]).forEach((locality, i) => {
    const zone = String(locality.locality?.zone ?? '');
    ((locality.lb_endpoints ?? []) as Obj[]).forEach((lb, j) => {
      const at = `endpoints[${i}].lb_endpoints[${j}]`;
      const sa = lb.endpoint?.address?.socket_address as Obj | undefined;
      if (sa === undefined) invalid(where, `${at}.endpoint.address.socket_address`, 'missing');
      const host = String(sa.address ?? '');
      if (isIP(host) === 0 && !HOSTNAME.test(host)) {
        invalid(where, `${at}.endpoint.address.socket_address.address`, `"${host}" is neither an IP address nor a host name`);
      }
      if (sa.port_specifier === 'named_port') invalid(where, `${at}.endpoint.address.socket_address.named_port`, 'not supported (use port_value)');
      const p = port(sa.port_value, where, `${at}.endpoint.address.socket_address.port_value`);
      const weight = wrapped(lb.load_balancing_weight) ?? 1;
      if (weight < 1) invalid(where, `${at}.load_balancing_weight`, 'must be at least 1');
      const meta = readEnmeshMetadata(lb.metadata);
      const mp = `${at}.metadata.filter_metadata.enmesh`;
      const origin = metaString(meta, 'origin', where, mp) ?? 'static';
      const health = String(lb.health_status ?? 'UNKNOWN');
      if (!ORIGINS.has(origin)) invalid(where, `${mp}.origin`, `unsupported value ${origin}`);
      endpoints.push({
        endpoint: {
          host,
          port: p,
          labels: metaLabels(meta, 'labels', where, mp) ?? {},
          weight,
          zone,
          healthy: SERVING.has(health),
          origin: origin as EndpointModel['origin'],
          ...(health === 'DRAINING' ? { draining: true } : {}),
        },
        index: metaNumber(meta, 'index', where, mp),
      });
    });
  });
  // Grouping by zone may have reordered endpoints; when positions travel, restore the order.
  if (endpoints.length > 0 && endpoints.every((e) => e.index !== undefined)) endpoints.sort((a, b) => a.index! - b.index!);
  return { kind: 'assignment', name: where.name, endpoints: endpoints.map((e) => e.endpoint) };
}
