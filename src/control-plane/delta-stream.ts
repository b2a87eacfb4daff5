/**
 * Incremental ADS (DeltaAggregatedResources): responses carry only resources
 * whose version differs from what the client holds, plus `removed_resources`.
 *
 * - Subscriptions: `*` subscribes to all; for LDS and CDS an empty first
 *   request does too (legacy wildcard). Other names are explicit.
 * - What the client holds starts from `initial_resource_versions`, so a
 *   reconnecting client is not sent what it already has; after that it is
 *   what this stream sent. A NACKed resource is thus never resent: only a
 *   changed one is.
 * - A subscribed name that does not exist is answered with a removal, once.
 * - The first look at a subscribed type always answers (possibly empty) so
 *   the client knows its initial fetch is complete.
 * - One response never both removes and adds a name; clusters and endpoints
 *   are removed after the listeners and routes that used them changed.
 */
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER } from '../xds/type-urls.ts';
import { AdsStream } from './ads-stream.ts';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DeltaResource } from './messages.ts';
import { resourcesOf } from './snapshot.ts';
import type { Snapshot } from './snapshot.ts';
import type { ProfileLike } from './snapshot-cache.ts';

interface DeltaTypeState {
  /** Whether a response for this type went out on this stream. */
  answered: boolean;
  /** Name → version the client holds. */
  readonly held: Map<string, string>;
  /** Names already reported as not existing. */
  readonly toldMissing: Set<string>;
}

export class DeltaStream<P extends ProfileLike = ProfileLike> extends AdsStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse, P> {
  readonly #types = new Map<string, DeltaTypeState>();

  protected override subscribedTypes(): Iterable<string> {
    return this.#types.keys();
  }

  protected override handle(req: DeltaDiscoveryRequest, typeUrl: string): void {
    const t = this.record.type(typeUrl);
    let s = this.#types.get(typeUrl);
    const first = s === undefined;
    if (s === undefined) {
      s = { answered: false, held: new Map(), toldMissing: new Set() };
      this.#types.set(typeUrl, s);
    }
    this.recordAck(t, req, typeUrl);

    if (first) {
      const initial = req.initial_resource_versions ?? {};
      for (const name of Object.keys(initial)) s.held.set(name, initial[name]!);
    }
    const subscribe = req.resource_names_subscribe ?? [];
    const unsubscribe = req.resource_names_unsubscribe ?? [];
    let changed = first;
    if (first && subscribe.length === 0 && (typeUrl === LISTENER || typeUrl === CLUSTER)) t.wildcard = true;
    for (const name of subscribe) {
      if (name === '*') {
        if (!t.wildcard) changed = true;
        t.wildcard = true;
      } else if (!t.names.has(name)) {
        t.names.add(name);
        changed = true;
      }
    }
    for (const name of unsubscribe) {
      // The client forgets what it unsubscribed from; a later subscribe gets it again.
      if (name === '*') {
        t.wildcard = false;
        for (const held of [...s.held.keys()]) if (!t.names.has(held)) s.held.delete(held);
      } else {
        t.names.delete(name);
        s.toldMissing.delete(name);
        if (!t.wildcard) s.held.delete(name);
      }
    }
    if (changed) this.markDirty(typeUrl);
    if (unsubscribe.length > 0) t.sentResources = [...s.held.keys()];
  }

  protected override produce(typeUrl: string, snapshot: Snapshot, removeNow: boolean): DeltaDiscoveryResponse | undefined {
    const s = this.#types.get(typeUrl);
    if (s === undefined) return undefined;
    const t = this.record.type(typeUrl);
    const all = resourcesOf(snapshot, typeUrl);
    const resources: DeltaResource[] = [];
    const removed: string[] = [];
    const consider = (name: string): void => {
      const r = all.get(name);
      if (r === undefined) return;
      if (s.held.get(name) !== r.version) {
        resources.push({ name, version: r.version, resource: r.any });
        s.held.set(name, r.version);
        s.toldMissing.delete(name);
      }
    };
    if (t.wildcard) for (const name of all.keys()) consider(name);
    for (const name of t.names) consider(name);
    // Make before break: clusters and endpoints the client holds are removed in a
    // second response, after the routes that may point at them were updated.
    const hold = !removeNow && (typeUrl === CLUSTER || typeUrl === CLUSTER_LOAD_ASSIGNMENT);
    for (const name of [...s.held.keys()]) {
      if (all.has(name)) continue;
      if (hold) {
        this.deferRemovals(typeUrl);
        continue;
      }
      removed.push(name);
      s.held.delete(name);
      s.toldMissing.add(name);
    }
    for (const name of t.names) {
      if (!all.has(name) && !s.toldMissing.has(name) && !s.held.has(name)) {
        removed.push(name);
        s.toldMissing.add(name);
      }
    }
    const wanted = t.wildcard || t.names.size > 0;
    if (resources.length === 0 && removed.length === 0 && (s.answered || !wanted)) return undefined;
    s.answered = true;
    const version = snapshot.typeVersions.get(typeUrl) ?? snapshot.version;
    const nonce = this.nextNonce();
    t.sentVersion = version;
    t.sentNonce = nonce;
    t.sentResources = [...s.held.keys()];
    t.responses += 1;
    return { system_version_info: version, resources, type_url: typeUrl, removed_resources: removed, nonce };
  }
}
