/**
 * The SDK's LoadReportClient against a scripted LRS server over real gRPC on
 * 127.0.0.1: what the first message carries, that it follows the interval,
 * cluster selection and endpoint granularity the server sends, that each
 * report's load_report_interval is the time it covers, and that counts are
 * deltas, none lost or sent twice across a reconnection.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadReportClient, LoadStore, LRS_CLIENT_FEATURE } from '../../../src/telemetry/load-reporter.ts';
import type { ClusterPolicyReport } from '../../../src/telemetry/load-reporter.ts';
import { buildNode } from '../../../src/xds/client/node.ts';
import { serviceDefinitions } from '../../../src/xds/protos.ts';

const LRS_SERVICE = 'envoy.service.load_stats.v3.LoadReportingService';

interface Received {
  readonly at: number;
  readonly msg: {
    node?: { id?: string; client_features?: string[] } | null;
    cluster_stats?: {
      cluster_name: string;
      load_report_interval?: { seconds?: string; nanos?: number };
      upstream_locality_stats?: { total_issued_requests?: string; total_successful_requests?: string; total_error_requests?: string; upstream_endpoint_stats?: unknown[] }[];
    }[];
  };
}

interface Stream {
  readonly call: grpc.ServerDuplexStream<Received['msg'], object>;
  readonly messages: Received[];
}

interface ScriptedServer {
  readonly port: number;
  readonly streams: Stream[];
  close(): void;
}

async function scriptedServer(): Promise<ScriptedServer> {
  const server = new grpc.Server();
  const streams: Stream[] = [];
  server.addService(serviceDefinitions()[LRS_SERVICE] as grpc.ServiceDefinition, {
    StreamLoadStats(call: Stream['call']) {
      const stream: Stream = { call, messages: [] };
      streams.push(stream);
      call.on('data', (msg: Received['msg']) => stream.messages.push({ at: performance.now(), msg }));
      call.on('error', () => {});
      call.on('end', () => call.end());
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err === null ? resolve(p) : reject(err))),
  );
  return { port, streams, close: () => server.forceShutdown() };
}

async function until(predicate: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const ms = (d: { seconds?: string; nanos?: number } | undefined): number => Number(d?.seconds ?? 0) * 1000 + (d?.nanos ?? 0) / 1e6;
const reports = (s: Stream): Received[] => s.messages.slice(1);
const issuedIn = (r: Received, cluster: string): number =>
  (r.msg.cluster_stats ?? []).filter((c) => c.cluster_name === cluster).reduce((n, c) => n + (c.upstream_locality_stats ?? []).reduce((m, l) => m + Number(l.total_issued_requests ?? 0), 0), 0);

let server: ScriptedServer | undefined;
const clients: LoadReportClient[] = [];

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((c) => c.close()));
  server?.close();
  server = undefined;
});

function reporter(port: number, store: LoadStore, policies?: () => readonly ClusterPolicyReport[]): LoadReportClient {
  const client = new LoadReportClient({
    server: `127.0.0.1:${port}`,
    node: buildNode({ id: 'reviews~1~sdk', cluster: 'reviews' }, undefined, false),
    store,
    backoff: { initialMs: 20, maxMs: 50 },
    ...(policies === undefined ? {} : { policies }),
  });
  clients.push(client);
  client.start();
  return client;
}

describe('LoadReportClient on the wire', () => {
  it('opens with the node, then reports at the interval given, each interval the time it covers, counts as deltas', async () => {
    server = await scriptedServer();
    const store = new LoadStore();
    const load = store.locality('outbound|9080||ratings', { zone: 'z' });
    reporter(server.port, store);
    await until(() => server!.streams[0]?.messages.length === 1, 'no first message');
    const stream = server.streams[0]!;
    const first = stream.messages[0]!.msg;
    expect(first.node?.id).toBe('reviews~1~sdk');
    expect(first.node?.client_features).toContain(LRS_CLIENT_FEATURE);
    expect(first.cluster_stats ?? []).toEqual([]);
    // Nothing is reported before the server said what and when.
    await new Promise((r) => setTimeout(r, 300));
    expect(stream.messages).toHaveLength(1);

    stream.call.write({ send_all_clusters: true, load_reporting_interval: { seconds: 0, nanos: 200_000_000 } });
    let started = 0;
    const traffic = setInterval(() => {
      for (let i = 0; i < 7; i++) {
        load.start();
        load.end(true, 1);
        started++;
      }
    }, 15);
    try {
      await until(() => reports(stream).length >= 6, 'six reports', 10_000);
    } finally {
      clearInterval(traffic);
    }
    const got = reports(stream);
    // Later messages carry no node.
    expect(got.every((r) => r.msg.node == null)).toBe(true);
    // At the interval asked for, not faster (delivery jitter aside).
    expect((got.at(-1)!.at - got[0]!.at) / (got.length - 1)).toBeGreaterThanOrEqual(190);
    for (let i = 1; i < got.length; i++) expect(got[i]!.at - got[i - 1]!.at).toBeGreaterThanOrEqual(100);
    // The intervals the reports state add up to the time between them, as the server saw it.
    const stated = got.slice(1).reduce((n, r) => n + Math.max(0, ...(r.msg.cluster_stats ?? []).map((c) => ms(c.load_report_interval))), 0);
    const seen = got.at(-1)!.at - got[0]!.at;
    expect(Math.abs(stated - seen)).toBeLessThan(100);

    // Every request once: the rest arrives with the last report, sent on close.
    await clients[0]!.close();
    const total = reports(stream).reduce((n, r) => n + issuedIn(r, 'outbound|9080||ratings'), 0);
    expect(total).toBe(started);
  });

  it('reports only the clusters the server names, and follows a change of them', async () => {
    server = await scriptedServer();
    const store = new LoadStore();
    const a = store.locality('outbound|80||a');
    const b = store.locality('outbound|80||b');
    reporter(server.port, store);
    await until(() => server!.streams[0]?.messages.length === 1, 'no first message');
    const stream = server.streams[0]!;
    stream.call.write({ clusters: ['outbound|80||a'], load_reporting_interval: { seconds: 0, nanos: 100_000_000 } });
    for (let i = 0; i < 5; i++) {
      a.start();
      b.start();
    }
    await until(() => reports(stream).some((r) => issuedIn(r, 'outbound|80||a') > 0), 'no report for a');
    await until(() => reports(stream).length >= 3, 'three reports');
    expect(reports(stream).flatMap((r) => (r.msg.cluster_stats ?? []).map((c) => c.cluster_name))).not.toContain('outbound|80||b');

    const before = reports(stream).length;
    stream.call.write({ clusters: ['outbound|80||b'], load_reporting_interval: { seconds: 0, nanos: 100_000_000 } });
    await until(() => reports(stream).some((r) => issuedIn(r, 'outbound|80||b') > 0), 'no report for b');
    const after = reports(stream).slice(before);
    // b's requests of before the change are not lost: they come with an interval that covers them.
    expect(after.reduce((n, r) => n + issuedIn(r, 'outbound|80||b'), 0)).toBe(5);
    const bEntry = after.flatMap((r) => r.msg.cluster_stats ?? []).find((c) => c.cluster_name === 'outbound|80||b')!;
    expect(ms(bEntry.load_report_interval)).toBeGreaterThan(200);
    a.start();
    await until(() => reports(stream).length >= before + 4, 'more reports');
    expect(reports(stream).slice(before + 1).some((r) => issuedIn(r, 'outbound|80||a') > 0)).toBe(false);
  });

  it('sends per-endpoint entries only when the server asks for endpoint granularity', async () => {
    server = await scriptedServer();
    const store = new LoadStore();
    const policies: ClusterPolicyReport[] = [{ cluster: 'outbound|80||a', breakerOpen: false, ejected: ['10.0.0.1:80'] }];
    reporter(server.port, store, () => policies);
    await until(() => server!.streams[0]?.messages.length === 1, 'no first message');
    const stream = server.streams[0]!;
    stream.call.write({ send_all_clusters: true, load_reporting_interval: { seconds: 0, nanos: 100_000_000 }, report_endpoint_granularity: false });
    await until(() => reports(stream).length >= 2, 'two reports');
    const endpointEntries = (from: number): unknown[] =>
      reports(stream)
        .slice(from)
        .flatMap((r) => r.msg.cluster_stats ?? [])
        .flatMap((c) => c.upstream_locality_stats ?? [])
        .flatMap((l) => l.upstream_endpoint_stats ?? []);
    expect(endpointEntries(0)).toEqual([]);

    const before = reports(stream).length;
    stream.call.write({ send_all_clusters: true, load_reporting_interval: { seconds: 0, nanos: 100_000_000 }, report_endpoint_granularity: true });
    await until(() => endpointEntries(before).length > 0, 'no endpoint entries once asked for');
  });

  it('loses and repeats nothing when the stream breaks and is reopened', async () => {
    server = await scriptedServer();
    const store = new LoadStore();
    const load = store.locality('outbound|80||a');
    const client = reporter(server.port, store);
    const answer = (s: Stream): void => void s.call.write({ send_all_clusters: true, load_reporting_interval: { seconds: 0, nanos: 100_000_000 } });
    await until(() => server!.streams[0]?.messages.length === 1, 'no first message');
    answer(server.streams[0]!);
    let started = 0;
    const traffic = setInterval(() => {
      load.start();
      load.end(false, 2);
      started++;
    }, 5);
    try {
      await until(() => reports(server!.streams[0]!).some((r) => issuedIn(r, 'outbound|80||a') > 0), 'no report on the first stream');
      // The server ends the stream: counting goes on, and the client opens a new one.
      server.streams[0]!.call.end();
      await until(() => server!.streams[1]?.messages.length === 1, 'no second stream');
      const second = server.streams[1]!;
      expect(second.messages[0]!.msg.node?.id).toBe('reviews~1~sdk');
      await new Promise((r) => setTimeout(r, 150));
      answer(second);
      await until(() => reports(second).some((r) => issuedIn(r, 'outbound|80||a') > 0), 'no report on the second stream');
    } finally {
      clearInterval(traffic);
    }
    await client.close();
    const all = server.streams.flatMap(reports);
    expect(all.reduce((n, r) => n + issuedIn(r, 'outbound|80||a'), 0)).toBe(started);
    const errors = all.flatMap((r) => r.msg.cluster_stats ?? []).flatMap((c) => c.upstream_locality_stats ?? []).reduce((n, l) => n + Number(l.total_error_requests ?? 0), 0);
    expect(errors).toBe(started);
    // The first report of the new stream covers the time without one.
    const firstAgain = reports(server.streams[1]!).find((r) => issuedIn(r, 'outbound|80||a') > 0)!;
    const lastBefore = reports(server.streams[0]!).filter((r) => issuedIn(r, 'outbound|80||a') > 0).at(-1)!;
    const gap = firstAgain.at - lastBefore.at;
    const stated = ms(firstAgain.msg.cluster_stats!.find((c) => c.cluster_name === 'outbound|80||a')!.load_report_interval);
    expect(Math.abs(stated - gap)).toBeLessThan(100);
  });
});
