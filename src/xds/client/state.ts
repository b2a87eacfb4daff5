/**
 * What the client holds per resource type: the accepted resources, the
 * subscription, and the ACK/NACK bookkeeping that the next request echoes.
 * Plain data; the protocol files (sotw.ts, delta.ts) and the client mutate it.
 */
import { CLUSTER, CLUSTER_LOAD_ASSIGNMENT, LISTENER, ROUTE_CONFIGURATION } from '../type-urls.ts';
import type { XdsMode } from './env.ts';
import type { StatusDetail } from './messages.ts';

export interface HeldResource {
  /** Resource version (delta) or the response's version_info (SotW). */
  readonly version: string;
  /** The encoded resource, to skip decoding an unchanged resend. */
  readonly raw: Uint8Array;
  /** What `decodeResource` returned for it. */
  readonly value: unknown;
}

export interface NackRecord {
  readonly nonce: string;
  /** The version the NACKed response carried (SotW) or its system_version_info (delta). */
  readonly rejectedVersion: string;
  readonly message: string;
  /** Clock time of the NACK, ms. */
  readonly at: number;
}

export interface TypeStatus {
  /** Last accepted version ('' before the first accept). */
  readonly version: string;
  /** Nonce of the last response seen on the current stream. */
  readonly nonce: string;
  /** Whether the last response was accepted. */
  readonly acked: boolean;
  readonly lastNack?: NackRecord;
  /** Names of the resources held. */
  readonly resources: readonly string[];
  /** Subscribed names; `['*']` for a wildcard type. */
  readonly subscribed: readonly string[];
  /**
   * Subscribed names the does-not-exist timer gave up on (or delta removed). For CDS, a wildcard
   * type: clusters that listeners or routes reference and that never arrived.
   */
  readonly missing: readonly string[];
}

export interface ClientStatus {
  /** `host:port` of the server the stream is open to, or undefined while disconnected. */
  readonly connectedTo: string | undefined;
  readonly mode: XdsMode;
  readonly perType: { readonly [typeUrl: string]: TypeStatus };
}

export class TypeState {
  readonly typeUrl: string;
  /** LDS and CDS are wildcard subscriptions; RDS and EDS go by name. */
  readonly wildcard: boolean;
  readonly resources = new Map<string, HeldResource>();
  /** Names we want (named types only). */
  readonly subscribed = new Set<string>();
  /** Names the server has been told about on the current stream (delta bookkeeping). */
  readonly sentOnStream = new Set<string>();
  /** Subscribed (CDS: referenced) names declared absent by the does-not-exist timer or a delta removal. */
  readonly missing = new Set<string>();
  version = '';
  nonce = '';
  acked = false;
  lastNack: NackRecord | undefined;
  /**
   * Set while the last response of this type stands rejected: SotW requests of
   * this type repeat it until a response is accepted (or the stream ends), so a
   * subscription change sent after a NACK is never mistaken for an ACK of the
   * rejected version.
   */
  errorDetail: StatusDetail | undefined;
  /** A response for this type was accepted at least once (so the initial fetch is over). */
  fetched = false;
  /** The subscription request for this type went out on the current stream. */
  requested = false;

  constructor(typeUrl: string, wildcard: boolean) {
    this.typeUrl = typeUrl;
    this.wildcard = wildcard;
  }

  /** Whether anything should be requested for this type at all. */
  wanted(): boolean {
    return this.wildcard || this.subscribed.size > 0;
  }

  /** The subscription as sent in SotW `resource_names` (empty = wildcard). */
  resourceNames(): string[] {
    return this.wildcard ? [] : [...this.subscribed];
  }

  /** Forget per-stream bookkeeping; resources and versions survive a reconnect. */
  resetStream(): void {
    this.nonce = '';
    this.requested = false;
    this.sentOnStream.clear();
    // A NACK answers a response of the old stream; on a new one nothing has been rejected yet,
    // and the last accepted version_info alone says what is held.
    this.errorDetail = undefined;
  }

  /** Named subscriptions not yet satisfied (neither held nor declared missing). */
  pending(): string[] {
    const out: string[] = [];
    for (const name of this.subscribed) {
      if (!this.resources.has(name) && !this.missing.has(name)) out.push(name);
    }
    return out;
  }

  status(): TypeStatus {
    return {
      version: this.version,
      nonce: this.nonce,
      acked: this.acked,
      ...(this.lastNack === undefined ? {} : { lastNack: this.lastNack }),
      resources: [...this.resources.keys()],
      subscribed: this.wildcard ? ['*'] : [...this.subscribed],
      missing: [...this.missing],
    };
  }
}

/** The four ADS types, in subscription order (CDS, EDS, LDS, RDS). */
export class ResourceState {
  readonly clusters = new TypeState(CLUSTER, true);
  readonly assignments = new TypeState(CLUSTER_LOAD_ASSIGNMENT, false);
  readonly listeners = new TypeState(LISTENER, true);
  readonly routeConfigs = new TypeState(ROUTE_CONFIGURATION, false);
  readonly ordered: readonly TypeState[] = [this.clusters, this.assignments, this.listeners, this.routeConfigs];
  readonly #byType = new Map<string, TypeState>(this.ordered.map((s) => [s.typeUrl, s]));

  get(typeUrl: string): TypeState | undefined {
    return this.#byType.get(typeUrl);
  }

  resetStream(): void {
    for (const s of this.ordered) s.resetStream();
  }

  status(connectedTo: string | undefined, mode: XdsMode): ClientStatus {
    const perType: Record<string, TypeStatus> = {};
    for (const s of this.ordered) perType[s.typeUrl] = s.status();
    return { connectedTo, mode, perType };
  }
}
