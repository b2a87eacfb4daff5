/** `enmesh status`: the mesh at a glance, one row per service with its live traffic. */
import { AdminCallError } from './admin-client.ts';
import type { AdminClient } from './admin-client.ts';
import { operatorCommand } from './command-kit.ts';
import { json, ms, pct, table } from './output.ts';
import type { Style } from './output.ts';
import type { CanaryView, ClientView, HealthView, LoadView, ServicesView } from './views.ts';

/** An optional part of the API (e.g. canaries on an older control plane): empty when absent. */
async function optional<T>(client: AdminClient, path: string, fallback: T): Promise<T> {
  try {
    return await client.get<T>(path);
  } catch (err) {
    if (err instanceof AdminCallError && err.status === 404) return fallback;
    throw err;
  }
}

export const statusCommand = operatorCommand({
  name: 'status',
  summary: 'mesh overview: services, endpoints, live traffic, canaries',
  help: `Usage: enmesh status [options]

One row per service: protocol, port, healthy/total endpoints, requests per
second, success rate and p99 latency from the load reports, and any canary.
`,
  async run(inv) {
    const client = inv.client();
    // Health first: it is the cheapest call and tells an unreachable server apart at once.
    const health = await client.get<HealthView>('/healthz');
    const [services, clients, load, configError, canaries] = await Promise.all([
      client.get<ServicesView>('/api/v1/services'),
      client.get<{ clients: ClientView[] }>('/api/v1/clients'),
      optional<LoadView | undefined>(client, '/api/v1/load', undefined),
      client.get<{ error: { message: string; file: string } | null }>('/api/v1/config/errors'),
      optional<{ canaries: CanaryView[] }>(client, '/api/v1/canaries', { canaries: [] }),
    ]);
    const loadOf = new Map((load?.services ?? []).map((s) => [s.service, s]));
    const canaryOf = new Map(canaries.canaries.map((c) => [c.service, c]));
    const rows = services.services.map((s) => {
      const l = loadOf.get(s.name);
      const healthy = s.endpoints.filter((e) => e.healthy && e.draining !== true).length;
      return {
        service: s.name,
        protocol: s.protocol,
        port: s.port,
        endpoints: { healthy, total: s.endpoints.length },
        requestsPerSecond: l?.requestsPerSecond ?? null,
        successRate: l?.successRate ?? null,
        p99Ms: l?.latency.p99Ms ?? null,
        canary: canaryOf.get(s.name) ?? null,
      };
    });
    if (inv.json) {
      inv.io.stdout(
        json({
          server: client.server,
          modelVersion: health.modelVersion,
          configVersion: health.configVersion,
          clients: clients.clients.length,
          configError: configError.error,
          services: rows.map((r) => ({ ...r, canary: r.canary === null ? null : { from: r.canary.from, to: r.canary.to, weight: r.canary.weight, state: r.canary.state, reason: r.canary.reason ?? null } })),
        }),
      );
      return 0;
    }
    const s = inv.style;
    const lines = [
      `control plane  ${client.server}  ${health.status === 'ok' ? s.green('ok') : s.red(health.status)}`,
      `model          ${health.modelVersion ?? '(none published yet)'}`,
      `clients        ${clients.clients.length} connected`,
      `config         ${configError.error === null ? s.green('ok') : s.red(`rejected, serving the last good one: ${configError.error.message.split('\n')[0]}`)}`,
    ];
    inv.io.stdout(`${lines.join('\n')}\n\n`);
    inv.io.stdout(
      rows.length === 0
        ? 'no services\n'
        : table(
            ['service', 'protocol', 'port', 'endpoints', 'rps', 'success', 'p99', 'canary'],
            rows.map((r) => [
              r.service,
              r.protocol,
              String(r.port),
              endpointsCell(r.endpoints.healthy, r.endpoints.total, s),
              r.requestsPerSecond === null ? '-' : String(r.requestsPerSecond),
              successCell(r.successRate, s),
              ms(r.p99Ms),
              r.canary === null ? '-' : canaryCell(r.canary, s),
            ]),
            s,
          ),
    );
    return 0;
  },
});

function endpointsCell(healthy: number, total: number, s: Style): string {
  const text = `${healthy}/${total}`;
  return total === 0 || healthy < total ? s.yellow(text) : text;
}

function successCell(rate: number | null, s: Style): string {
  if (rate === null) return '-';
  return rate >= 0.99 ? s.green(pct(rate)) : rate >= 0.95 ? s.yellow(pct(rate)) : s.red(pct(rate));
}

export function canaryCell(c: CanaryView, s: Style): string {
  const text = `${c.from}→${c.to} ${c.weight}% ${c.state}`;
  return c.state === 'progressing' ? s.cyan(text) : c.state === 'promoted' ? s.green(text) : s.red(text);
}
