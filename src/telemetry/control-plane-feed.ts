/**
 * Feeds the control plane's metrics (control-plane-metrics.ts) from what the
 * control plane already does: the ADS streams' hooks (responses written,
 * ACKs and NACKs), snapshot publications, and, at scrape time, the client
 * registry and the registered instances.
 *
 * Push latency is measured per stream and resource type, from the
 * publication that made the type's response necessary (or, for a client's
 * first response of a type, from the opening of its stream) to the client's
 * ACK of that response: the time config takes to be in force in a client.
 */
import type { ControlPlaneMetrics } from './control-plane-metrics.ts';
import { xdsTypeLabel } from './xds-type-label.ts';

/** What the feed needs of a stream's client record. */
export interface FedClient {
  readonly kind: string;
  readonly profile: string;
  /** Epoch ms. */
  readonly connectedSince: number;
  /** Resource types the stream subscribed to, by type URL. */
  readonly types: ReadonlyMap<string, unknown>;
}

export interface ControlPlaneFeedSources {
  /** The open ADS streams. */
  clients(): Iterable<FedClient>;
  /** Self-registered instances. */
  instances(): Iterable<{ readonly service: string }>;
  /** Version of the published model, if any. */
  modelVersion(): string | undefined;
  now?(): number;
}

export interface ControlPlaneFeed {
  /** For the ADS server's stream hooks. */
  readonly hooks: {
    onResponse(client: FedClient, typeUrl: string): void;
    onAck(client: FedClient, typeUrl: string, error: string | undefined): void;
  };
  /** A snapshot was published: every open stream's types may get a push. */
  published(): void;
  /** The registry's metrics in Prometheus text, gauges brought up to date. */
  scrape(): Promise<string>;
}

interface StreamTimes {
  /** Per type URL: when the latest publication that has not been pushed yet happened. */
  readonly pending: Map<string, number>;
  /** Per type URL: the start of the push awaiting its ACK. */
  readonly sent: Map<string, number>;
  /** Type URLs this stream was sent a response of. */
  readonly seen: Set<string>;
}

export function feedControlPlaneMetrics(metrics: ControlPlaneMetrics, sources: ControlPlaneFeedSources): ControlPlaneFeed {
  const now = sources.now ?? Date.now;
  const streams = new WeakMap<FedClient, StreamTimes>();
  const timesOf = (c: FedClient): StreamTimes => {
    let t = streams.get(c);
    if (t === undefined) streams.set(c, (t = { pending: new Map(), sent: new Map(), seen: new Set() }));
    return t;
  };

  return {
    hooks: {
      onResponse(client, typeUrl) {
        metrics.pushes.inc({ type: xdsTypeLabel(typeUrl) });
        const t = timesOf(client);
        const since = t.pending.get(typeUrl);
        if (since !== undefined) {
          t.pending.delete(typeUrl);
          t.sent.set(typeUrl, since);
        } else if (!t.seen.has(typeUrl)) {
          // The stream's first response of this type: the client has waited since it connected.
          t.sent.set(typeUrl, client.connectedSince);
        }
        t.seen.add(typeUrl);
      },
      onAck(client, typeUrl, error) {
        const type = xdsTypeLabel(typeUrl);
        const t = timesOf(client);
        const since = t.sent.get(typeUrl);
        t.sent.delete(typeUrl);
        if (error !== undefined) {
          metrics.nacks.inc({ type });
          return;
        }
        if (since !== undefined) metrics.pushLatency.observe({ type }, Math.max(0, now() - since));
      },
    },
    published() {
      const at = now();
      for (const c of sources.clients()) {
        const t = timesOf(c);
        for (const typeUrl of c.types.keys()) t.pending.set(typeUrl, at);
      }
    },
    async scrape() {
      const version = sources.modelVersion();
      if (version !== undefined) metrics.setModelVersion(version);
      metrics.connectedClients.reset();
      for (const c of sources.clients()) metrics.connectedClients.inc({ kind: c.kind, profile: c.profile === '' ? 'unknown' : c.profile });
      metrics.registeredInstances.reset();
      for (const i of sources.instances()) metrics.registeredInstances.inc({ service: i.service });
      return metrics.registry.metrics();
    },
  };
}
