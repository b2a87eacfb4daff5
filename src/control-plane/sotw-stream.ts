/**
 * State-of-the-world ADS (StreamAggregatedResources): each response for a
 * type carries the complete set the client should hold.
 *
 * - LDS and CDS: every subscribed resource that exists (all of them for a
 *   wildcard subscription: `*`, or the legacy form, an empty `resource_names`
 *   on every request of the type so far); leaving one out tells the client it
 *   does not exist. Once a name (`*` included) was listed, an empty list
 *   unsubscribes from everything.
 * - RDS and EDS: the requested resources that exist; a client waiting for a
 *   missing one keeps waiting (nothing is sent until one of them exists).
 * - ACK/NACK: a request echoing the nonce of the last response is an ACK,
 *   or a NACK when it carries `error_detail`. Requests with an older nonce
 *   still update the subscription but say nothing about acceptance.
 * - A response is sent only when its content differs from the last one sent
 *   for that type (or a LDS/CDS subscription changed). A NACKed response is
 *   therefore never sent again: only a new version is.
 */
import { CLUSTER, LISTENER } from '../xds/type-urls.ts';
import type { AnyMessage } from '../xds/protos.ts';
import { AdsStream, MAX_NAMES_PER_TYPE, StreamRefusal } from './ads-stream.ts';
import { CONTROL_PLANE_ID, sharedNonce } from './messages.ts';
import type { DiscoveryRequest, DiscoveryResponse } from './messages.ts';
import { resourcesOf } from './snapshot.ts';
import type { Snapshot, SnapshotResource } from './snapshot.ts';
import type { ProfileLike } from './snapshot-cache.ts';

interface SotwTypeState {
  requested: boolean;
  /** A request listed a name (`*` included): an empty list no longer means the legacy wildcard. */
  named: boolean;
  /** `name@version,...` of the last response; undefined before the first. */
  sentKey: string | undefined;
  /** Sorted subscription of the last LDS/CDS response. */
  sentNamesKey: string;
  /** Resources of the last response, by name. */
  sent: ReadonlyMap<string, SnapshotResource>;
  /** Type URL and subscription, canonical (`*` or the sorted names): the key of shared selections. */
  subscription: string;
  /**
   * Type version the client is known to be up to date with for its current
   * subscription (undefined after a subscription change, or while a cluster
   * removal is held back): equal again means nothing to send, without
   * looking at any resource.
   */
  upToDate: string | undefined;
  /** The shared selection this stream uses for the type, counted in its `users`. */
  holding: Holding | undefined;
}

/** What a subscription selects from one snapshot; shared by every stream with that subscription. */
interface Selection {
  readonly resources: readonly SnapshotResource[];
  readonly byName: ReadonlyMap<string, SnapshotResource>;
  readonly names: readonly string[];
  /** `name@version,...`: equal keys, equal content. */
  readonly key: string;
  /** Nonce and bytes of the response, made once for every stream that sends it (see `StreamContext.encode`). */
  nonce?: string;
  encoded?: Uint8Array;
  /** Streams whose current selection this is; at 0 it leaves its snapshot's map. */
  users: number;
}

interface Holding {
  readonly bySub: Map<string, Selection>;
  readonly subscription: string;
  readonly selection: Selection;
}

/**
 * Selections by snapshot, then by type and subscription. Thousands of clients
 * subscribe alike: they share one selection and one encoding per snapshot
 * instead of each sorting, keying and serializing the same resources. A
 * selection stays only while some stream uses it, so a client changing its
 * subscription again and again leaves nothing behind.
 */
const selections = new WeakMap<Snapshot, Map<string, Selection>>();

function select(resources: SnapshotResource[]): Selection {
  resources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    resources,
    byName: new Map(resources.map((r) => [r.name, r])),
    names: resources.map((r) => r.name),
    key: resources.map((r) => `${r.name}@${r.version}`).join(','),
    users: 0,
  };
}

function release(s: SotwTypeState): void {
  const h = s.holding;
  if (h === undefined) return;
  s.holding = undefined;
  h.selection.users -= 1;
  if (h.selection.users === 0 && h.bySub.get(h.subscription) === h.selection) h.bySub.delete(h.subscription);
}

/** Types whose SotW response must list every subscribed resource (absence means deletion). */
function allRequired(typeUrl: string): boolean {
  return typeUrl === LISTENER || typeUrl === CLUSTER;
}

export class SotwStream<P extends ProfileLike = ProfileLike> extends AdsStream<DiscoveryRequest, DiscoveryResponse | Uint8Array, P> {
  readonly #types = new Map<string, SotwTypeState>();

  protected override subscribedTypes(): Iterable<string> {
    return this.#types.keys();
  }

  override close(): void {
    super.close();
    for (const s of this.#types.values()) release(s);
  }

  protected override handle(req: DiscoveryRequest, typeUrl: string): void {
    const names = req.resource_names ?? [];
    if (names.length > MAX_NAMES_PER_TYPE) {
      throw new StreamRefusal('RESOURCE_EXHAUSTED', `a request may name at most ${MAX_NAMES_PER_TYPE} resources, got ${names.length}`);
    }
    const t = this.record.type(typeUrl);
    let s = this.#types.get(typeUrl);
    if (s === undefined) {
      s = {
        requested: false,
        named: false,
        sentKey: undefined,
        sentNamesKey: '',
        sent: new Map(),
        subscription: '',
        upToDate: undefined,
        holding: undefined,
      };
      this.#types.set(typeUrl, s);
    }
    this.recordAck(t, req, typeUrl);

    const next = new Set(names);
    const star = next.delete('*');
    if (names.length > 0) s.named = true;
    const wildcard = star || (!s.named && allRequired(typeUrl));
    let changed = !s.requested || wildcard !== t.wildcard || next.size !== t.names.size;
    if (!changed) for (const n of next) if (!t.names.has(n)) changed = true;
    if (changed) {
      t.wildcard = wildcard;
      t.names.clear();
      for (const n of next) t.names.add(n);
      s.subscription = `${typeUrl}\n${wildcard ? '*' : [...t.names].sort().join('\n')}`;
      s.upToDate = undefined;
      this.markDirty(typeUrl);
    }
    s.requested = true;
  }

  protected override produce(typeUrl: string, snapshot: Snapshot, removeNow: boolean): DiscoveryResponse | Uint8Array | undefined {
    const s = this.#types.get(typeUrl);
    if (s === undefined) return undefined;
    const typeVersion = snapshot.typeVersions.get(typeUrl) ?? snapshot.version;
    // Most pushes change one type: the others are settled here, per stream, in O(1).
    if (s.upToDate === typeVersion) return undefined;
    const t = this.record.type(typeUrl);
    const all = resourcesOf(snapshot, typeUrl);
    // Make before break: a cluster that went away stays in this response (as last
    // sent) while routes may still point at it; a second response drops it.
    let kept: SnapshotResource[] | undefined;
    if (!removeNow && typeUrl === CLUSTER) {
      for (const [name, prev] of s.sent) {
        if (!all.has(name) && (t.wildcard || t.names.has(name))) (kept ??= []).push(prev);
      }
      if (kept !== undefined) this.deferRemovals(typeUrl);
    }
    let sel: Selection;
    if (kept === undefined) {
      sel = this.#shared(snapshot, typeUrl, s, all);
    } else {
      release(s);
      sel = select([...this.#pick(t, all), ...kept]);
    }
    s.upToDate = kept === undefined ? typeVersion : undefined;
    const required = allRequired(typeUrl);
    const namesKey = required ? s.subscription : '';
    if (!required && sel.resources.length === 0) {
      // Nothing to say: the client keeps waiting for (or holding) what it asked for.
      s.sentKey = sel.key;
      return undefined;
    }
    if (s.sentKey !== undefined && sel.key === s.sentKey && namesKey === s.sentNamesKey) return undefined;
    s.sentKey = sel.key;
    s.sentNamesKey = namesKey;
    const version = kept === undefined ? typeVersion : `${typeVersion}~keep`;
    const response = (nonce: string): DiscoveryResponse => ({
      version_info: version,
      resources: sel.resources.map((r): AnyMessage => r.any),
      type_url: typeUrl,
      nonce,
      control_plane: { identifier: CONTROL_PLANE_ID },
    });
    const encode = this.ctx.encode?.sotw;
    // A shared response carries a shared nonce: every stream writes the same bytes. (A stream
    // that returns to a subscription within one snapshot gets those bytes again: the same
    // content under the same nonce, so an ACK of either accepts the same thing.)
    const shared = encode !== undefined && kept === undefined;
    const nonce = shared ? (sel.nonce ??= sharedNonce()) : this.nextNonce();
    this.noteSent(t, version, nonce);
    t.sentResources = sel.names;
    s.sent = sel.byName;
    if (!shared) return response(nonce);
    sel.encoded ??= encode(response(nonce));
    return sel.encoded;
  }

  /** The resources of `all` the subscription selects. */
  #pick(t: { wildcard: boolean; names: ReadonlySet<string> }, all: ReadonlyMap<string, SnapshotResource>): SnapshotResource[] {
    if (t.wildcard) return [...all.values()];
    const out: SnapshotResource[] = [];
    for (const name of t.names) {
      const r = all.get(name);
      if (r !== undefined) out.push(r);
    }
    return out;
  }

  /** The selection of `snapshot` for the stream's subscription, shared, and held for this stream. */
  #shared(snapshot: Snapshot, typeUrl: string, s: SotwTypeState, all: ReadonlyMap<string, SnapshotResource>): Selection {
    let bySub = selections.get(snapshot);
    if (bySub === undefined) selections.set(snapshot, (bySub = new Map()));
    let sel = bySub.get(s.subscription);
    if (sel === undefined) {
      sel = select(this.#pick(this.record.type(typeUrl), all));
      bySub.set(s.subscription, sel);
    }
    if (s.holding?.selection !== sel) {
      release(s);
      sel.users += 1;
      s.holding = { bySub, subscription: s.subscription, selection: sel };
    }
    return sel;
  }
}
