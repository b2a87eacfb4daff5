/** `enmesh get services|endpoints|clients|routes [service]`: one kind of mesh object as a table or JSON. */
import { parseMeshYaml } from '../config/load.ts';
import type { MeshModel, RouteModel, StringMatch } from '../model/types.ts';
import { UsageError, operatorCommand } from './command-kit.ts';
import type { Invocation } from './command-kit.ts';
import { json, table } from './output.ts';
import type { ClientView, ServicesView } from './views.ts';

const KINDS = ['services', 'endpoints', 'clients', 'routes'] as const;
type Kind = (typeof KINDS)[number];
/** Singular spellings and short names are accepted too, as kubectl users expect. */
const ALIASES: Readonly<Record<string, Kind>> = { service: 'services', svc: 'services', endpoint: 'endpoints', ep: 'endpoints', client: 'clients', route: 'routes' };

export const getCommand = operatorCommand({
  name: 'get',
  summary: 'list services, endpoints, clients or routes',
  help: `Usage: enmesh get <services|endpoints|clients|routes> [service] [options]

  services    name, protocol, port, balancer, subsets, routes, endpoint count
  endpoints   every endpoint (static, registered, Consul) with labels and health
  clients     the xDS clients connected to the control plane
  routes      every route: match, backends with weights, timeout
With [service], only that service's rows.
`,
  async run(inv) {
    const [rawKind, service, ...extra] = inv.positionals;
    if (rawKind === undefined) throw new UsageError(`name what to get: ${KINDS.join(', ')}`);
    const kind = (KINDS as readonly string[]).includes(rawKind) ? (rawKind as Kind) : ALIASES[rawKind];
    if (kind === undefined) throw new UsageError(`cannot get "${rawKind}"; use one of ${KINDS.join(', ')}`);
    if (extra.length > 0) throw new UsageError(`unexpected ${extra.join(' ')}`);
    switch (kind) {
      case 'services':
      case 'endpoints':
        return services(inv, kind, service);
      case 'clients':
        return clients(inv, service);
      case 'routes':
        return routes(inv, service);
    }
  },
});

async function services(inv: Invocation, kind: 'services' | 'endpoints', only: string | undefined): Promise<number> {
  const view = await inv.client().get<ServicesView>('/api/v1/services');
  const list = view.services.filter((s) => only === undefined || s.name === only);
  if (only !== undefined && list.length === 0) return unknownService(inv, only, view.services.map((s) => s.name));
  const s = inv.style;
  if (kind === 'services') {
    if (inv.json) {
      inv.io.stdout(json({ modelVersion: view.modelVersion, services: list }));
      return 0;
    }
    inv.io.stdout(
      table(
        ['name', 'protocol', 'port', 'balancer', 'subsets', 'routes', 'endpoints'],
        list.map((x) => [x.name, x.protocol, String(x.port), x.loadBalancer, Object.keys(x.subsets).join(',') || '-', x.routes.join(',') || '-', String(x.endpoints.length)]),
        s,
      ),
    );
    return 0;
  }
  const rows = list.flatMap((x) => x.endpoints.map((e) => ({ service: x.name, ...e })));
  if (inv.json) {
    inv.io.stdout(json({ modelVersion: view.modelVersion, endpoints: rows }));
    return 0;
  }
  inv.io.stdout(
    table(
      ['service', 'address', 'labels', 'zone', 'weight', 'health', 'origin'],
      rows.map((e) => [
        e.service,
        e.address,
        Object.entries(e.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || '-',
        e.zone || '-',
        String(e.weight),
        e.draining === true ? s.yellow('draining') : e.healthy ? s.green('healthy') : s.red('unhealthy'),
        e.origin,
      ]),
      s,
    ),
  );
  return 0;
}

async function clients(inv: Invocation, only: string | undefined): Promise<number> {
  const view = await inv.client().get<{ clients: ClientView[] }>('/api/v1/clients');
  // A client's service is the cluster of its node (ENMESH_SERVICE for enmesh SDKs).
  const list = view.clients.filter((c) => only === undefined || c.cluster === only);
  if (inv.json) {
    inv.io.stdout(json({ clients: list }));
    return 0;
  }
  inv.io.stdout(
    table(
      ['node', 'service', 'kind', 'profile', 'address', 'snapshot', 'registered', 'since'],
      list.map((c) => [c.nodeId, c.cluster || '-', c.kind, c.profile, c.address, c.snapshotVersion || '-', c.registration ?? '-', c.connectedSince]),
      inv.style,
    ),
  );
  return 0;
}

async function routes(inv: Invocation, only: string | undefined): Promise<number> {
  // The routes with their weights as the config in force declares them (registrations add endpoints, not routes).
  const config = await inv.client().get<{ version: string; location: string; text: string }>('/api/v1/config');
  const model: MeshModel = parseMeshYaml(config.text, config.location || 'mesh.yaml');
  const names = [...model.services.keys()];
  if (only !== undefined && !model.services.has(only)) return unknownService(inv, only, names);
  const rows = [...model.services.values()]
    .filter((svc) => only === undefined || svc.name === only)
    .flatMap((svc) => svc.routes.map((r) => ({ service: svc.name, route: r })));
  if (inv.json) {
    inv.io.stdout(
      json({
        version: config.version,
        routes: rows.map(({ service, route }) => ({
          service,
          name: route.name,
          match: matchText(route),
          backends: (route.backends ?? []).map((b) => ({ service: b.service, ...(b.subset === undefined ? {} : { subset: b.subset }), weight: b.weight })),
          timeoutMs: route.timeoutMs,
        })),
      }),
    );
    return 0;
  }
  inv.io.stdout(
    table(
      ['service', 'route', 'match', 'backends', 'timeout'],
      rows.map(({ service, route }) => [service, route.name || '-', matchText(route), backendsText(service, route), route.timeoutMs === 0 ? '-' : `${route.timeoutMs}ms`]),
      inv.style,
    ),
  );
  return 0;
}

function unknownService(inv: Invocation, name: string, known: readonly string[]): number {
  inv.io.stderr(`enmesh get: no service "${name}"; services: ${known.join(', ') || '(none)'}\n`);
  return 1;
}

function stringMatch(m: StringMatch): string {
  return m.kind === 'present' ? 'present' : m.kind === 'absent' ? 'absent' : m.kind === 'prefix' ? `${m.value}*` : m.kind === 'exact' ? m.value : `${m.kind}:${m.value}`;
}

function matchText(r: RouteModel): string {
  const parts: string[] = [];
  if (r.match.path !== undefined) parts.push(`path ${stringMatch(r.match.path)}`);
  if (r.match.methods.length > 0) parts.push(r.match.methods.join('|'));
  for (const h of r.match.headers) parts.push(`${h.name}: ${stringMatch(h.match)}`);
  for (const q of r.match.query) parts.push(`?${q.name}=${stringMatch(q.match)}`);
  return parts.length === 0 ? '*' : parts.join(', ');
}

function backendsText(owner: string, r: RouteModel): string {
  if (r.redirect !== undefined) return 'redirect';
  if (r.directResponse !== undefined) return `direct ${r.directResponse.status}`;
  const list = r.backends ?? [];
  const total = list.reduce((sum, b) => sum + b.weight, 0);
  return list
    .map((b) => {
      const name = b.service === owner ? (b.subset ?? owner) : b.subset === undefined ? b.service : `${b.service}/${b.subset}`;
      return list.length === 1 ? name : `${name} ${total === 0 ? 0 : Math.round((b.weight * 1000) / total) / 10}%`;
    })
    .join(', ');
}
