/**
 * Incremental ADS (DeltaAggregatedResources): responses carry only resources
 * whose version differs from what the client holds, plus `removed_resources`.
 *
 * - Subscriptions: `*` subscribes to all; for LDS and CDS a first request
 *   naming nothing (to subscribe or unsubscribe) does too (legacy wildcard).
 *   Other names are explicit.
 * - What the client holds starts from `initial_resource_versions`, so a
 *   reconnecting client is not sent what it already has; after that it is
 *   what this stream sent. A NACKed resource is thus never resent: only a
 *   changed one is.
 * - A name in `resource_names_subscribe` is always answered, even one the
 *   client holds at the latest version (it may have dropped it): with the
 *   resource, or with a removal when it does not exist. A name that goes on
 *   not existing is reported once.
 * - Unsubscribing a name while subscribed to `*` too is answered (xDS: the
 *   client cannot tell whether the wildcard covers it): with the resource if
 *   it exists, else a removal. Other unsubscriptions need no answer.
 * - The first look at a subscribed type always answers (possibly empty) so
 *   the client knows its initial fetch is complete.
 * - One response never both removes and adds a name; clusters and endpoints
 *   are removed after the listeners and routes that used them changed.
 */
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER } from '../xds/type-urls.ts';
import { AdsStream, MAX_NAMES_PER_TYPE, StreamRefusal } from './ads-stream.ts';
import type { TypeRecord } from './client-registry.ts';
import { sharedNonce } from './messages.ts';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse, DeltaResource } from './messages.ts';
import { resourcesOf } from './snapshot.ts';
import type { Snapshot, SnapshotResource } from './snapshot.ts';
import type { ProfileLike } from './snapshot-cache.ts';

interface DeltaTypeState {
  /** Whether a response for this type went out on this stream. */
  answered: boolean;
  /** Name → version the client holds. */
  readonly held: Map<string, string>;
  /** Explicitly subscribed names already reported as not existing. */
  readonly toldMissing: Set<string>;
  /** Names unsubscribed while the wildcard stays: the next response says whether the wildcard has them. */
  readonly reanswer: Set<string>;
  /**
   * Type version whose resources the client holds exactly, for its current
   * subscription (undefined after a subscription change or while removals
   * are held back): equal again means nothing to send, without looking at
   * any resource.
   */
  upToDate: string | undefined;
  /** The resources (of one snapshot) that `held` mirrors exactly, under the same conditions as `upToDate`. */
  syncedTo: ReadonlyMap<string, SnapshotResource> | undefined;
  /** The subscription, canonical (`*` or the sorted names): the key of shared changes. */
  subscription: string;
}

type Resources = ReadonlyMap<string, SnapshotResource>;

/** What changes between two snapshots' resources of a type, for one subscription; shared by every stream in sync. */
interface Change {
  readonly resources: readonly DeltaResource[];
  readonly removed: readonly string[];
  /** Names held once the change is applied. */
  readonly held: readonly string[];
  /** Nonce and bytes of the response, made once for every stream that sends it (see `StreamContext.encode`). */
  nonce?: string;
  encoded?: Uint8Array;
}

/**
 * Changes by new resources, old resources and subscription. Streams that
 * were in sync with the same snapshot and subscribe alike (thousands of
 * clients of one mesh) share one diff and one encoding per publish, instead
 * of each walking every resource and serializing the same response.
 */
const changes = new WeakMap<Resources, WeakMap<Resources, Map<string, Change>>>();

function changeBetween(from: Resources, to: Resources, sub: { wildcard: boolean; names: ReadonlySet<string> }, key: string): Change {
  let byFrom = changes.get(to);
  if (byFrom === undefined) changes.set(to, (byFrom = new WeakMap()));
  let bySub = byFrom.get(from);
  if (bySub === undefined) byFrom.set(from, (bySub = new Map()));
  let change = bySub.get(key);
  if (change !== undefined) return change;
  const resources: DeltaResource[] = [];
  const removed: string[] = [];
  const held: string[] = [];
  for (const [name, r] of to) {
    if (!sub.wildcard && !sub.names.has(name)) continue;
    held.push(name);
    if (from.get(name)?.version !== r.version) resources.push({ name, version: r.version, resource: r.any });
  }
  for (const name of from.keys()) if ((sub.wildcard || sub.names.has(name)) && !to.has(name)) removed.push(name);
  change = { resources, removed, held };
  bySub.set(key, change);
  return change;
}

export class DeltaStream<P extends ProfileLike = ProfileLike> extends AdsStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse | Uint8Array, P> {
  readonly #types = new Map<string, DeltaTypeState>();

  protected override subscribedTypes(): Iterable<string> {
    return this.#types.keys();
  }

  protected override handle(req: DeltaDiscoveryRequest, typeUrl: string): void {
    const t = this.record.type(typeUrl);
    let s = this.#types.get(typeUrl);
    const first = s === undefined;
    if (s === undefined) {
      s = {
        answered: false,
        held: new Map(),
        toldMissing: new Set(),
        reanswer: new Set(),
        upToDate: undefined,
        syncedTo: undefined,
        subscription: '',
      };
      this.#types.set(typeUrl, s);
    }
    this.recordAck(t, req, typeUrl);

    if (first) {
      const initial = req.initial_resource_versions ?? {};
      const names = Object.keys(initial);
      if (names.length > MAX_NAMES_PER_TYPE) {
        throw new StreamRefusal('RESOURCE_EXHAUSTED', `initial_resource_versions may hold at most ${MAX_NAMES_PER_TYPE} resources per type`);
      }
      for (const name of names) s.held.set(name, initial[name]!);
    }
    const subscribe = req.resource_names_subscribe ?? [];
    const unsubscribe = req.resource_names_unsubscribe ?? [];
    let changed = first;
    if (first && subscribe.length === 0 && unsubscribe.length === 0 && (typeUrl === LISTENER || typeUrl === CLUSTER)) t.wildcard = true;
    for (const name of subscribe) {
      if (name === '*') {
        if (!t.wildcard) changed = true;
        t.wildcard = true;
        continue;
      }
      if (!t.names.has(name)) {
        t.names.add(name);
        if (t.names.size > MAX_NAMES_PER_TYPE) {
          throw new StreamRefusal('RESOURCE_EXHAUSTED', `a stream may subscribe to at most ${MAX_NAMES_PER_TYPE} resources per type`);
        }
      }
      // Answered even when the client holds it: it may have dropped it. On the first request,
      // what it holds is what it says it holds (initial_resource_versions).
      if (!first) {
        s.held.delete(name);
        s.toldMissing.delete(name);
      }
      changed = true;
    }
    for (const name of unsubscribe) {
      // The client forgets what it unsubscribed from; a later subscribe gets it again.
      if (name === '*') {
        t.wildcard = false;
        for (const held of [...s.held.keys()]) if (!t.names.has(held)) s.held.delete(held);
        continue;
      }
      const was = t.names.delete(name);
      s.toldMissing.delete(name);
      if (!t.wildcard) {
        s.held.delete(name);
      } else if (was) {
        s.held.delete(name);
        s.reanswer.add(name);
        changed = true;
      }
    }
    if (changed || unsubscribe.length > 0) {
      s.upToDate = undefined;
      s.syncedTo = undefined;
      s.subscription = t.wildcard ? '*' : [...t.names].sort().join('\n');
    }
    if (changed) this.markDirty(typeUrl);
    if (unsubscribe.length > 0) t.sentResources = [...s.held.keys()];
  }

  protected override produce(typeUrl: string, snapshot: Snapshot, removeNow: boolean): DeltaDiscoveryResponse | Uint8Array | undefined {
    const s = this.#types.get(typeUrl);
    if (s === undefined) return undefined;
    const version = snapshot.typeVersions.get(typeUrl) ?? snapshot.version;
    // Most pushes change one type: the others are settled here, per stream, in O(1).
    if (s.upToDate === version) return undefined;
    const t = this.record.type(typeUrl);
    const all = resourcesOf(snapshot, typeUrl);
    // Make before break: clusters and endpoints the client holds are removed in a
    // second response, after the routes that may point at them were updated.
    const hold = !removeNow && (typeUrl === CLUSTER || typeUrl === CLUSTER_LOAD_ASSIGNMENT);
    if (s.syncedTo !== undefined && s.answered) {
      // In sync with an earlier snapshot: what changes is the same for every such stream.
      const change = changeBetween(s.syncedTo, all, t, s.subscription);
      if (!(hold && change.removed.length > 0)) return this.#apply(change, s, t, typeUrl, version, all);
    }
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
    let heldBack = false;
    for (const name of [...s.held.keys()]) {
      if (all.has(name)) continue;
      if (hold) {
        this.deferRemovals(typeUrl);
        heldBack = true;
        continue;
      }
      removed.push(name);
      s.held.delete(name);
      // Only a subscribed name can be asked about again; a wildcard's removals are not kept.
      if (t.names.has(name)) s.toldMissing.add(name);
    }
    for (const name of t.names) {
      if (!all.has(name) && !s.toldMissing.has(name) && !s.held.has(name)) {
        removed.push(name);
        s.toldMissing.add(name);
      }
    }
    if (t.wildcard) for (const name of s.reanswer) if (!all.has(name) && !t.names.has(name)) removed.push(name);
    s.reanswer.clear();
    s.upToDate = heldBack ? undefined : version;
    s.syncedTo = heldBack ? undefined : all;
    const wanted = t.wildcard || t.names.size > 0;
    if (resources.length === 0 && removed.length === 0 && (s.answered || !wanted)) return undefined;
    s.answered = true;
    const nonce = this.nextNonce();
    this.noteSent(t, version, nonce);
    rememberUnanswered(t, nonce, version);
    t.sentResources = [...s.held.keys()];
    return { system_version_info: version, resources, type_url: typeUrl, removed_resources: removed, nonce };
  }

  /** Applies a shared change to a stream in sync; the response, or undefined when nothing changed for it. */
  #apply(change: Change, s: DeltaTypeState, t: TypeRecord, typeUrl: string, version: string, all: Resources): DeltaDiscoveryResponse | Uint8Array | undefined {
    for (const r of change.resources) {
      s.held.set(r.name, r.version);
      s.toldMissing.delete(r.name);
    }
    for (const name of change.removed) {
      s.held.delete(name);
      if (t.names.has(name)) s.toldMissing.add(name);
    }
    s.upToDate = version;
    s.syncedTo = all;
    if (change.resources.length === 0 && change.removed.length === 0) return undefined;
    const encode = this.ctx.encode?.delta;
    // A shared response carries a shared nonce: every stream writes the same bytes. A stream
    // never gets the same change twice (it moves on from `from`), so the nonce is new to it.
    const nonce = encode === undefined ? this.nextNonce() : (change.nonce ??= sharedNonce());
    this.noteSent(t, version, nonce);
    rememberUnanswered(t, nonce, version);
    t.sentResources = change.held;
    const response = (): DeltaDiscoveryResponse => ({
      system_version_info: version,
      resources: [...change.resources],
      type_url: typeUrl,
      removed_resources: [...change.removed],
      nonce,
    });
    if (encode === undefined) return response();
    change.encoded ??= encode(response());
    return change.encoded;
  }
}

/** Responses a client may still answer; a client that stops answering cannot grow the map. */
const MAX_UNANSWERED = 16;

function rememberUnanswered(t: TypeRecord, nonce: string, version: string): void {
  t.unanswered.set(nonce, version);
  if (t.unanswered.size > MAX_UNANSWERED) t.unanswered.delete(t.unanswered.keys().next().value!);
}
