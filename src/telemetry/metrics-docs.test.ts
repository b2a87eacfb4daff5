/**
 * docs/observability.md's metric tables list exactly what the registries
 * hold: every name, type and label, no more and no less. Dashboards and
 * alerts are written from that page.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Registry } from './prom.ts';
import { createMeshMetrics, ISTIO_LABELS } from './metrics.ts';
import { createControlPlaneMetrics } from './control-plane-metrics.ts';
import { registerSourceMetric } from '../control-plane/consul/metrics.ts';

const DOC = readFileSync(new URL('../../docs/observability.md', import.meta.url), 'utf8');

/** The cells of the first table after `heading`, header and separator left out. */
function tableAfter(heading: string): string[][] {
  const lines = DOC.split('\n');
  let i = lines.indexOf(heading);
  expect(i, heading).toBeGreaterThanOrEqual(0);
  while (!lines[i]!.startsWith('|')) i++;
  const rows: string[][] = [];
  for (i += 2; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(lines[i]!.slice(1, -1).split(' | ').map((c) => c.trim()));
  return rows;
}

/** `a`, `b` → ['a', 'b'] (the backticked names of a cell). */
function names(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
}

interface Described {
  type: string;
  labels: string[];
}

/** name → type and label names, from a metrics table (Metric | Type | Labels | ...). */
function documented(heading: string): Record<string, Described> {
  return Object.fromEntries(tableAfter(heading).map((r) => [names(r[0]!)[0]!, { type: r[1]!, labels: names(r[2] ?? '').sort() }]));
}

/** name → type and label names, as registered. */
async function registered(registry: Registry, prefix: string): Promise<Record<string, Described>> {
  const out: Record<string, Described> = {};
  for (const { name, type } of await registry.getMetricsAsJSON()) {
    if (!name.startsWith(prefix)) continue;
    // The Istio metrics are not prom-client classes and keep their labels elsewhere (ISTIO_LABELS).
    const labelNames = (registry.getSingleMetric(name) as unknown as { labelNames?: readonly string[] }).labelNames ?? [];
    out[name] = { type: String(type), labels: [...labelNames].sort() };
  }
  return out;
}

const SELF = { workload: 'productpage-v1', app: 'productpage', service: 'productpage' };

describe('docs/observability.md metric tables', () => {
  it('lists every enmesh_* metric of the data plane with its type and labels', async () => {
    const m = createMeshMetrics({ self: SELF });
    expect(documented('### `enmesh_*` metrics')).toEqual(await registered(m.registry, 'enmesh_'));
  });

  it('lists the Istio metrics with their types and every Istio label', async () => {
    const m = createMeshMetrics({ self: SELF });
    const istio = await registered(m.registry, 'istio_');
    const types = Object.fromEntries(Object.entries(istio).map(([name, d]) => [name, d.type]));
    const rows = tableAfter('### Istio standard metrics');
    expect(Object.fromEntries(rows.map((r) => [names(r[0]!)[0]!, r[1]!]))).toEqual(types);
    // The label table names each label once, grouped in rows.
    const labelRows = tableAfter('Labels, with Istio\'s names and meanings (`unknown` when a value is not known):');
    expect(labelRows.flatMap((r) => names(r[0]!)).sort()).toEqual([...ISTIO_LABELS].sort());
  });

  it('lists every control plane metric with its type and labels', async () => {
    const cp = createControlPlaneMetrics();
    registerSourceMetric(cp.registry, () => []);
    expect(documented('### Control plane metrics')).toEqual(await registered(cp.registry, 'enmesh_'));
  });
});
