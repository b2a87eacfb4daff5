/**
 * The control plane's LRS service over real gRPC on 127.0.0.1, driven by a raw
 * client: the LoadStatsResponse it sends, a stream without a node, the interval
 * it may be configured with, and a reporter sending bogus figures or endless
 * cluster names next to an honest one.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { addLoadReportingService, LoadAggregator, REPORTER_LIMITS } from '../../../src/control-plane/lrs/index.ts';
import type { Logger } from '../../../src/control-plane/log.ts';
import { serviceDefinitions } from '../../../src/xds/protos.ts';

const LRS_SERVICE = 'envoy.service.load_stats.v3.LoadReportingService';

interface Response {
  clusters?: string[];
  send_all_clusters?: boolean;
  load_reporting_interval?: { seconds?: string; nanos?: number };
  report_endpoint_granularity?: boolean;
}

type Call = grpc.ClientDuplexStream<object, Response>;

const closers: (() => void)[] = [];

afterEach(() => {
  for (const c of closers.splice(0).reverse()) c();
});

async function serve(intervalMs: number, log?: Logger): Promise<{ port: number; aggregator: LoadAggregator }> {
  const server = new grpc.Server();
  const aggregator = new LoadAggregator();
  addLoadReportingService(server, { aggregator, intervalMs, ...(log === undefined ? {} : { log }) });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))),
  );
  closers.push(() => server.forceShutdown());
  return { port, aggregator };
}

function open(port: number): { call: Call; responses: Response[]; status: Promise<grpc.StatusObject> } {
  const Ctor = grpc.makeClientConstructor(serviceDefinitions()[LRS_SERVICE] as grpc.ServiceDefinition, 'LoadReportingService');
  const client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  closers.push(() => client.close());
  const call = (client as unknown as { StreamLoadStats(): Call }).StreamLoadStats();
  const responses: Response[] = [];
  call.on('data', (r: Response) => responses.push(r));
  call.on('error', () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  closers.push(() => call.cancel());
  return { call, responses, status };
}

async function until(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const node = (id: string, cluster: string): object => ({ id, cluster, user_agent_name: 'enmesh', client_features: ['envoy.lrs.supports_send_all_clusters'] });

describe('LRS service', () => {
  it('answers the first message with every cluster, the interval and endpoint granularity', async () => {
    const { port, aggregator } = await serve(1500);
    const { call, responses } = open(port);
    call.write({ node: node('reviews~1~a', 'reviews'), cluster_stats: [] });
    await until(() => responses.length === 1, 'no response');
    expect(responses[0]).toMatchObject({ send_all_clusters: true, load_reporting_interval: { seconds: '1', nanos: 500_000_000 }, report_endpoint_granularity: true });
    expect(responses[0]!.clusters ?? []).toEqual([]);
    // Once per stream.
    call.write({ cluster_stats: [] });
    await until(() => aggregator.view().reporters[0]?.lastReportMsAgo != null, 'no report');
    await new Promise((r) => setTimeout(r, 100));
    expect(responses).toHaveLength(1);
  });

  it('ends a stream whose first message carries no node with INVALID_ARGUMENT', async () => {
    const { port, aggregator } = await serve(1000);
    const { call, responses, status } = open(port);
    call.write({ cluster_stats: [{ cluster_name: 'outbound|80||a', upstream_locality_stats: [{ total_issued_requests: 1 }], load_report_interval: { seconds: 1 } }] });
    expect((await status).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(responses).toEqual([]);
    expect(aggregator.view().services).toEqual([]);
  });

  it('refuses to ask clients for an interval they would report in a loop at', () => {
    for (const intervalMs of [0, -1, 50, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => addLoadReportingService(new grpc.Server(), { aggregator: new LoadAggregator(), intervalMs }), String(intervalMs)).toThrow(RangeError);
    }
  });

  it('keeps a bogus reporter from corrupting the view or growing without bound, and says so once', async () => {
    const warnings: string[] = [];
    const { port, aggregator } = await serve(1000, { info() {}, warn: (m) => warnings.push(m), error() {} });
    const honest = open(port);
    honest.call.write({
      node: node('productpage~1~a', 'productpage'),
      cluster_stats: [
        {
          cluster_name: 'outbound|9080||reviews',
          upstream_locality_stats: [{ locality: { zone: 'z' }, total_issued_requests: 100, total_successful_requests: 95, total_error_requests: 5 }],
          load_report_interval: { seconds: 1 },
        },
      ],
    });
    const liar = open(port);
    const locality = (fields: object): object[] => [{ locality: { zone: 'z' }, ...fields }];
    liar.call.write({
      node: node('liar~1~a', 'liar'),
      cluster_stats: [
        { cluster_name: 'outbound|9080||reviews', upstream_locality_stats: locality({ total_issued_requests: '18446744073709551615', total_successful_requests: '18446744073709551615' }), load_report_interval: { seconds: 1 } },
        { cluster_name: 'outbound|9080||reviews', upstream_locality_stats: locality({ total_issued_requests: 10, total_error_requests: 10 }), load_report_interval: { seconds: -1 } },
        {
          cluster_name: 'outbound|9080||reviews',
          upstream_locality_stats: locality({ total_issued_requests: 1, total_successful_requests: 1, load_metric_stats: [{ metric_name: 'enmesh.latency_ms', num_requests_finished_with_metric: 1, total_metric_value: Number.NaN }] }),
          load_report_interval: { seconds: 1 },
        },
        ...Array.from({ length: 2000 }, (_, i) => ({ cluster_name: `outbound|80||made-up-${i}`, upstream_locality_stats: locality({ total_issued_requests: 1 }), load_report_interval: { seconds: 1 } })),
      ],
    });
    await until(() => aggregator.view().reporters.length === 2 && aggregator.view().reporters.every((r) => r.lastReportMsAgo !== null), 'both reports');
    // A second bad report: not logged again.
    liar.call.write({ cluster_stats: [{ cluster_name: 'outbound|9080||reviews', upstream_locality_stats: locality({ total_issued_requests: 5 }), load_report_interval: { seconds: 0, nanos: -5 } }] });
    await new Promise((r) => setTimeout(r, 200));

    const view = aggregator.view();
    const reviews = view.services.find((s) => s.service === 'reviews')!;
    expect(reviews).toMatchObject({ requests: 100, requestsPerSecond: 100, successRate: 0.95 });
    expect(reviews.latency.meanMs).toBeNull();
    expect(view.services.length).toBeLessThanOrEqual(REPORTER_LIMITS.destinations + 1);
    expect(aggregator.retained.series).toBeLessThanOrEqual(REPORTER_LIMITS.destinations + 1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/liar~1~a/);
  });
});
