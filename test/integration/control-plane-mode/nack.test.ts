/**
 * An invalid resource reaching a live application under traffic: it is
 * NACKed with an error naming the resource and the field, the model in force
 * does not move, no call fails, and the next valid push is applied. The server
 * is the production AdsServer fed snapshots by the test (scripted-ads.ts),
 * since the real control plane never publishes such resources.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend } from '../../helpers/http-backend.ts';
import type { Backend } from '../../helpers/http-backend.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';
import { snapshotOf, startScriptedAds, tamper } from '../../helpers/cp/scripted-ads.ts';
import type { ScriptedAds } from '../../helpers/cp/scripted-ads.ts';
import { spawnSdk } from '../../helpers/cp/sdk-process.ts';
import type { ConfigEvent, SdkProcess } from '../../helpers/cp/sdk-process.ts';
import { sleep, until } from '../../helpers/cp/wait.ts';
import { CLUSTER, ROUTE_CONFIGURATION } from '../../../src/xds/type-urls.ts';

let v1: Backend;
let v2: Backend;
let ads: ScriptedAds;
const sdks: SdkProcess[] = [];

const yaml = (w1: number, w2: number): string => reviewsYaml({ endpoints: { v1: v1.address, v2: v2.address }, split: [w1, w2] });
const splits = (w1: number, w2: number) => (c: ConfigEvent): boolean =>
  c.services.reviews?.routes[0]?.backends.map((b) => b.weight).join() === `${w1},${w2}`;

beforeAll(async () => {
  v1 = await startBackend('v1');
  v2 = await startBackend('v2');
  ads = await startScriptedAds(snapshotOf(yaml(100, 0)));
});

afterAll(async () => {
  await Promise.all(sdks.map((s) => s.kill()));
  await ads?.close();
  await v1?.close();
  await v2?.close();
});

describe.each(['delta', 'sotw'] as const)('over %s ADS', (mode) => {
  it('NACKs a bad cluster and a bad route naming resource and field, keeps its model and traffic, then applies a good push', async () => {
    const good = snapshotOf(yaml(100, 0));
    ads.serve(good);
    const sdk = await spawnSdk({ controlPlane: [ads.url], mode, service: 'productpage' });
    sdks.push(sdk);
    const pid = `~${sdk.child.pid}~`;
    await sdk.waitForConfig(splits(100, 0), 15_000);
    const version = sdk.latest()!.version;
    const configs = sdk.configs.length;
    const view = () => ads.clients(pid)[0]!;
    expect(view().kind).toBe(mode);

    const load = sdk.load({ url: 'http://reviews:9080/', count: 2000, rps: 100, maxMs: 15_000 });
    await sleep(300);

    // A cluster with a load-balancing policy enmesh does not implement.
    ads.serve(tamper(good, CLUSTER, 'outbound|9080|v1|reviews', (c) => (c.lb_policy = 'MAGLEV')));
    await until(() => view().types[CLUSTER]?.lastNack != null, 5000, 'cluster NACK');
    const clusterNack = view().types[CLUSTER]!.lastNack!;
    expect(clusterNack.error).toContain('Cluster "outbound|9080|v1|reviews"');
    expect(clusterNack.error).toContain('lb_policy');
    expect(clusterNack.error).toContain('MAGLEV');
    await until(() => sdk.errors.some((e) => e.code === 'ENMESH_ERR_XDS_INVALID' && e.message.includes('lb_policy')), 2000, 'SDK warning');

    // A weighted route whose weights add up to 0.
    ads.serve(
      tamper(good, ROUTE_CONFIGURATION, 'reviews', (rc) => {
        const route = (rc.virtual_hosts as { routes: { route: { weighted_clusters: { clusters: { weight: unknown }[] } } }[] }[])[0]!.routes[0]!;
        for (const c of route.route.weighted_clusters.clusters) c.weight = { value: 0 };
      }),
    );
    await until(() => view().types[ROUTE_CONFIGURATION]?.lastNack != null, 5000, 'route NACK');
    const routeNack = view().types[ROUTE_CONFIGURATION]!.lastNack!;
    expect(routeNack.error).toContain('RouteConfiguration "reviews"');
    expect(routeNack.error).toContain('weighted_clusters');
    expect(routeNack.error).toContain('total weight is 0');

    await sleep(500);
    expect(sdk.configs.length).toBe(configs);
    expect((await sdk.status()).version).toBe(version);

    // The next valid config is taken.
    ads.serve(snapshotOf(yaml(0, 100)));
    await sdk.waitForConfig(splits(0, 100), 5000, configs);
    await until(() => view().types[ROUTE_CONFIGURATION]?.ackedVersion === view().types[ROUTE_CONFIGURATION]?.sentVersion, 5000, 'route ACK');
    await sleep(300);

    await load.stop();
    const result = await load.result;
    expect(result.failures).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.byBackend.v1).toBeGreaterThan(20);
    expect(result.byBackend.v2).toBeGreaterThan(0);
    await sdk.kill();
  });
});
