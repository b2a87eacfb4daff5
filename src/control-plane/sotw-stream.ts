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
import { CONTROL_PLANE_ID } from './messages.ts';
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
}

/** Types whose SotW response must list every subscribed resource (absence means deletion). */
function allRequired(typeUrl: string): boolean {
  return typeUrl === LISTENER || typeUrl === CLUSTER;
}

export class SotwStream<P extends ProfileLike = ProfileLike> extends AdsStream<DiscoveryRequest, DiscoveryResponse, P> {
  readonly #types = new Map<string, SotwTypeState>();

  protected override subscribedTypes(): Iterable<string> {
    return this.#types.keys();
  }

  protected override handle(req: DiscoveryRequest, typeUrl: string): void {
    const t = this.record.type(typeUrl);
    let s = this.#types.get(typeUrl);
    if (s === undefined) {
      s = { requested: false, sentKey: undefined, sentNamesKey: '', sent: new Map() };
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
      this.markDirty(typeUrl);
    }
    s.requested = true;
  }

  protected override produce(typeUrl: string, snapshot: Snapshot, removeNow: boolean): DiscoveryResponse | undefined {
    const s = this.#types.get(typeUrl);
    if (s === undefined) return undefined;
    const t = this.record.type(typeUrl);
    const all = resourcesOf(snapshot, typeUrl);
    const selected: SnapshotResource[] = [];
    if (t.wildcard) {
      for (const r of all.values()) selected.push(r);
    } else {
      for (const name of t.names) {
        const r = all.get(name);
        if (r !== undefined) selected.push(r);
      }
    }
    // Make before break: a cluster that went away stays in this response (as last
    // sent) while routes may still point at it; a second response drops it.
    let kept = false;
    if (!removeNow && typeUrl === CLUSTER) {
      for (const [name, prev] of s.sent) {
        if (!all.has(name) && (t.wildcard || t.names.has(name))) {
          selected.push(prev);
          kept = true;
        }
      }
      if (kept) this.deferRemovals(typeUrl);
    }
    selected.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const key = selected.map((r) => `${r.name}@${r.version}`).join(',');
    const required = allRequired(typeUrl);
    const namesKey = required ? (t.wildcard ? '*' : [...t.names].sort().join(',')) : '';
    if (!required && selected.length === 0) {
      // Nothing to say: the client keeps waiting for (or holding) what it asked for.
      s.sentKey = key;
      return undefined;
    }
    if (s.sentKey !== undefined && key === s.sentKey && namesKey === s.sentNamesKey) return undefined;
    s.sentKey = key;
    s.sentNamesKey = namesKey;
    const resources: AnyMessage[] = selected.map((r) => r.any);
    const typeVersion = snapshot.typeVersions.get(typeUrl) ?? snapshot.version;
    const version = kept ? `${typeVersion}~keep` : typeVersion;
    const nonce = this.nextNonce();
    t.sentVersion = version;
    t.sentNonce = nonce;
    t.sentResources = selected.map((r) => r.name);
    t.responses += 1;
    s.sent = new Map(selected.map((r) => [r.name, r]));
    return { version_info: version, resources, type_url: typeUrl, nonce, control_plane: { identifier: CONTROL_PLANE_ID } };
  }
}
