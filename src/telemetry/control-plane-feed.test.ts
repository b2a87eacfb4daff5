import { describe, expect, it } from 'vitest';
import { createControlPlaneMetrics } from './control-plane-metrics.ts';
import { feedControlPlaneMetrics, type FedClient } from './control-plane-feed.ts';
import { CLUSTER, ROUTE_CONFIGURATION } from '../xds/type-urls.ts';

function setup() {
  let t = 1_000_000;
  const clients: FedClient[] = [];
  const instances: { service: string }[] = [];
  let version: string | undefined;
  const metrics = createControlPlaneMetrics();
  const feed = feedControlPlaneMetrics(metrics, { clients: () => clients, instances: () => instances, modelVersion: () => version, now: () => t });
  const client = (kind: string, profile: string): FedClient => {
    const c = { kind, profile, connectedSince: t, types: new Map<string, unknown>([[CLUSTER, {}], [ROUTE_CONFIGURATION, {}]]) };
    clients.push(c);
    return c;
  };
  const latency = async (type: string): Promise<{ count: number; sum: number }> => {
    const v = (await metrics.pushLatency.get()).values.filter((s) => s.labels.type === type);
    return { count: v.find((s) => s.metricName?.endsWith('_count'))?.value ?? 0, sum: v.find((s) => s.metricName?.endsWith('_sum'))?.value ?? 0 };
  };
  return {
    metrics,
    feed,
    client,
    latency,
    clients,
    instances,
    advance: (ms: number) => (t += ms),
    setVersion: (v: string) => (version = v),
  };
}

describe('control plane metrics feed', () => {
  it('measures a first push from the stream start and later ones from their publication to the ACK', async () => {
    const f = setup();
    const c = f.client('delta', 'enmesh');
    f.advance(40);
    f.feed.hooks.onResponse(c, CLUSTER);
    f.advance(10);
    f.feed.hooks.onAck(c, CLUSTER, undefined);
    expect(await f.latency('cluster')).toEqual({ count: 1, sum: 50 });

    f.advance(1000);
    f.feed.published();
    f.advance(5);
    f.feed.hooks.onResponse(c, CLUSTER);
    f.advance(7);
    f.feed.hooks.onAck(c, CLUSTER, undefined);
    expect(await f.latency('cluster')).toEqual({ count: 2, sum: 62 });
    // The route type did not change with that publication: no response, nothing measured.
    expect((await f.latency('route')).count).toBe(0);
  });

  it('counts pushes and NACKs by type, and measures nothing for a rejected push or an ACK without a push', async () => {
    const f = setup();
    const c = f.client('sotw', 'envoy');
    f.feed.hooks.onResponse(c, CLUSTER);
    f.feed.hooks.onAck(c, CLUSTER, 'bad cluster');
    f.feed.hooks.onAck(c, ROUTE_CONFIGURATION, undefined);
    expect((await f.latency('cluster')).count).toBe(0);
    expect((await f.latency('route')).count).toBe(0);
    expect((await f.metrics.nacks.get()).values).toEqual([{ labels: { type: 'cluster' }, value: 1 }]);
    expect((await f.metrics.pushes.get()).values).toEqual([{ labels: { type: 'cluster' }, value: 1 }]);
  });

  it('brings clients, instances and the model version up to date at scrape time', async () => {
    const f = setup();
    f.client('delta', 'enmesh');
    f.client('delta', 'enmesh');
    f.client('sotw', '');
    f.instances.push({ service: 'reviews' }, { service: 'reviews' }, { service: 'ratings' });
    f.setVersion('v1');
    let text = await f.feed.scrape();
    expect(text).toContain('enmesh_control_plane_connected_clients{kind="delta",profile="enmesh"} 2');
    expect(text).toContain('enmesh_control_plane_connected_clients{kind="sotw",profile="unknown"} 1');
    expect(text).toContain('enmesh_control_plane_registered_instances{service="reviews"} 2');
    expect(text).toContain('enmesh_control_plane_model_info{version="v1"} 1');
    f.clients.length = 0;
    f.instances.length = 0;
    f.setVersion('v2');
    text = await f.feed.scrape();
    expect(text).not.toContain('enmesh_control_plane_connected_clients{');
    expect(text).not.toContain('enmesh_control_plane_registered_instances{');
    expect(text).not.toContain('version="v1"');
    expect(text).toContain('enmesh_control_plane_model_info{version="v2"} 1');
  });
});
