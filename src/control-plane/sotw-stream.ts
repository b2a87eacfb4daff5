/**
 * State-of-the-world ADS (StreamAggregatedResources): each response for a
 * type carries the complete set the client should hold.
 *
 * - LDS and CDS: every subscribed resource that exists (all of them for a
 *   wildcard subscription, i.e. empty `resource_names` on the first request);
 *   leaving one out tells the client it does not exist.
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
import { AdsStream } from './ads-stream.ts';
import { CONTROL_PLANE_ID, sharedNonce } from './messages.ts';
import type { DiscoveryRequest, DiscoveryResponse } from './messages.ts';
import { resourcesOf } from './snapshot.ts';
import type { Snapshot, SnapshotResource } from './snapshot.ts';
import type { ProfileLike } from './snapshot-cache.ts';

interface SotwTypeState {
  requested: boolean;
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
}

/**
 * Selections by snapshot, then by type and subscription. Thousands of clients
 * subscribe alike: they share one selection and one encoding per snapshot
 * instead of each sorting, keying and serializing the same resources.
 */
const selections = new WeakMap<Snapshot, Map<string, Selection>>();

function select(resources: SnapshotResource[]): Selection {
  resources.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    resources,
    byName: new Map(resources.map((r) => [r.name, r])),
    names: resources.map((r) => r.name),
    key: resources.map((r) => `${r.name}@${r.version}`).join(','),
  };
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

  protected override handle(req: DiscoveryRequest, typeUrl: string): void {
    const t = this.record.type(typeUrl);
    let s = this.#types.get(typeUrl);
    if (s === undefined) {
      s = { requested: false, sentKey: undefined, sentNamesKey: '', sent: new Map(), subscription: '', upToDate: undefined };
      this.#types.set(typeUrl, s);
    }
    this.recordAck(t, req, typeUrl);

    const names = req.resource_names ?? [];
    const star = names.includes('*');
    const wildcard = s.requested ? star || (t.wildcard && names.length === 0) : star || (names.length === 0 && allRequired(typeUrl));
    let changed = !s.requested || wildcard !== t.wildcard || names.length - (star ? 1 : 0) !== t.names.size;
    if (!changed) for (const n of names) if (n !== '*' && !t.names.has(n)) changed = true;
    if (changed) {
      t.wildcard = wildcard;
      t.names.clear();
      for (const n of names) if (n !== '*') t.names.add(n);
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
    const sel = kept === undefined ? this.#shared(snapshot, typeUrl, s, all) : select([...this.#pick(t, all), ...kept]);
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
    t.sentVersion = version;
    t.sentNonce = nonce;
    t.sentResources = sel.names;
    t.responses += 1;
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

  #shared(snapshot: Snapshot, typeUrl: string, s: SotwTypeState, all: ReadonlyMap<string, SnapshotResource>): Selection {
    let bySub = selections.get(snapshot);
    if (bySub === undefined) selections.set(snapshot, (bySub = new Map()));
    let sel = bySub.get(s.subscription);
    if (sel === undefined) {
      sel = select(this.#pick(this.record.type(typeUrl), all));
      bySub.set(s.subscription, sel);
    }
    return sel;
  }
}
