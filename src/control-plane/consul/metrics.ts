/**
 * `enmesh_control_plane_source_up{source}`: 1 while an external source
 * (Consul) answers, 0 while the control plane serves its last good view of it.
 * Read at scrape time from the source's status, so nothing is updated on the
 * watch path.
 */
import { Gauge } from '../../telemetry/prom.ts';
import type { Registry } from 'prom-client';
import type { SourceStatus } from './source-status.ts';

export function registerSourceMetric(registry: Registry, statuses: () => readonly SourceStatus[]): void {
  new Gauge({
    name: 'enmesh_control_plane_source_up',
    help: 'Whether an external config/discovery source answers (1) or the last good view is being served (0).',
    labelNames: ['source'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of statuses()) this.set({ source: s.source }, s.up ? 1 : 0);
    },
  });
}
