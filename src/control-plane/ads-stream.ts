/**
 * What SotW and delta streams share: reading the node from the first request,
 * following the snapshot cache, and a push loop that respects backpressure.
 *
 * Responses are never queued. A stream keeps only the set of types that need
 * a look (at most one entry per type) and builds each response from the
 * current snapshot at the moment it can be written. It hands the transport a
 * response only while at most three earlier ones are still waiting there
 * (grpc-js itself would buffer 16 before `write` says it is full): a client
 * that stops reading therefore costs what its HTTP/2 window and socket hold
 * plus about four responses, however many snapshots are published meanwhile,
 * and gets the latest state when it reads.
 *
 * What one client can make a stream hold is bounded: at most
 * `MAX_TYPES_PER_STREAM` resource types and `MAX_NAMES_PER_TYPE` names per
 * type; a request beyond either ends the stream with RESOURCE_EXHAUSTED.
 *
 * Make before break: types are pushed CDS → EDS → LDS → RDS, so a client
 * learns about a new cluster (and its endpoints) before a route sends traffic
 * to it; and clusters or endpoints that went away are removed only after
 * that, in a second response, once the routes no longer point at them.
 */
import { ADS_TYPE_ORDER } from '../xds/type-urls.ts';
import type { ClientRecord, ClientRegistry, TypeRecord } from './client-registry.ts';
import type { FanOut } from './fan-out.ts';
import type { Logger } from './log.ts';
import type { DeltaDiscoveryResponse, DiscoveryResponse, NodeLike } from './messages.ts';
import type { Snapshot } from './snapshot.ts';
import type { ChangeListener, ProfileLike } from './snapshot-cache.ts';

/** The part of a grpc-js server duplex call a stream writes to. */
export interface AdsCall<Res> {
  /** `done` runs once the transport took the message (HTTP/2 accepted it). */
  write(message: Res, done?: () => void): boolean;
  once(event: 'drain', listener: () => void): unknown;
  /** Messages written and not yet taken by the transport (Node's Writable). */
  readonly writableLength?: number;
}

/** Resource types one stream may use; xDS clients use a handful (Envoy at most about ten). */
export const MAX_TYPES_PER_STREAM = 32;

/**
 * Names one stream may subscribe to per type (a SotW request's list, or a delta
 * stream's subscriptions and initial versions): ten times the largest realistic
 * mesh, so that no request can make the stream hold an unbounded set.
 */
export const MAX_NAMES_PER_TYPE = 100_000;

/** Longest NACK error kept and logged (the enmesh client caps its own at 4 KiB). */
const MAX_NACK_ERROR = 4096;

/**
 * Responses the transport may still be holding when the next is handed over:
 * a whole push (CDS, EDS, LDS, RDS) goes out in one pass to a client that
 * reads. At 1, pushes split into several passes and the control plane spent
 * 15 % more CPU under endpoint churn; more would sit in grpc-js's buffer unread.
 */
const MAX_UNTAKEN = 3;

/** A request the server refuses to carry out; the stream ends with this gRPC status. */
export class StreamRefusal extends Error {
  readonly code: 'RESOURCE_EXHAUSTED';
  constructor(code: 'RESOURCE_EXHAUSTED', message: string) {
    super(message);
    this.name = 'StreamRefusal';
    this.code = code;
  }
}

export interface StreamHooks {
  /** Called for every request carrying a node; `first` for the stream's first request. */
  onNode?(record: ClientRecord, node: NodeLike, first: boolean): void;
  /** Called once when the stream is over, however it ended. */
  onClose?(record: ClientRecord): void;
  /** A response of `typeUrl` was written (metrics). */
  onResponse?(record: ClientRecord, typeUrl: string): void;
  /** The client answered our last response of `typeUrl`: an ACK, or a NACK with its `error` (metrics). */
  onAck?(record: ClientRecord, typeUrl: string, error: string | undefined): void;
}

/** What a stream needs from the server: the cache (through its narrow interface) and bookkeeping. */
export interface StreamContext<P extends ProfileLike = ProfileLike> {
  readonly cache: {
    current(profile: P): Snapshot | undefined;
    onChange(listener: ChangeListener): () => void;
  };
  readonly registry: ClientRegistry;
  readonly profileForNode: (node: NodeLike) => P;
  readonly log: Logger;
  readonly hooks?: StreamHooks;
  /**
   * Serializes responses the way the transport would. When set, a response
   * many streams share is encoded once, with a shared nonce, and every
   * stream writes the same bytes (the transport must pass bytes through).
   */
  readonly encode?: {
    readonly sotw: (response: DiscoveryResponse) => Uint8Array;
    readonly delta: (response: DeltaDiscoveryResponse) => Uint8Array;
  };
  /** Runs pushes (after a publish or a request) in slices, so a large fan-out never blocks the event loop for long. */
  readonly fanOut?: FanOut;
}

interface RequestLike {
  readonly node?: NodeLike | null;
  readonly type_url?: string;
  readonly response_nonce?: string;
  readonly error_detail?: { readonly message?: string } | null;
}

export abstract class AdsStream<Req extends RequestLike, Res, P extends ProfileLike = ProfileLike> {
  readonly record: ClientRecord;
  protected readonly ctx: StreamContext<P>;
  readonly #call: AdsCall<Res>;
  #profile: P | undefined;
  /** Types that need a look at the next push. */
  readonly #dirty = new Set<string>();
  /** Types holding removals back until the rest of the push is out. */
  readonly #deferred = new Set<string>();
  #blocked = false;
  /** Blocked because `write` returned false: only 'drain' unblocks. */
  #awaitingDrain = false;
  #closed = false;
  #nonce = 0;
  #lastBuildError = '';
  #warnedNode = false;
  readonly #unsubscribe: () => void;
  readonly #onDrain = (): void => {
    this.#awaitingDrain = false;
    this.#blocked = false;
    this.#schedulePush();
  };
  /** Each write's completion: the transport took a response, so another may follow. */
  readonly #onTaken = (): void => {
    if (!this.#blocked || this.#awaitingDrain) return;
    if ((this.#call.writableLength ?? 0) > MAX_UNTAKEN) return;
    this.#blocked = false;
    this.#schedulePush();
  };
  readonly #pushLater = (): void => this.#push();

  constructor(call: AdsCall<Res>, ctx: StreamContext<P>, record: ClientRecord) {
    this.#call = call;
    this.ctx = ctx;
    this.record = record;
    ctx.registry.add(record);
    this.#unsubscribe = ctx.cache.onChange(() => {
      for (const t of this.subscribedTypes()) this.#dirty.add(t);
      this.#schedulePush();
    });
  }

  /**
   * Requests and publishes only mark what needs a response; the responses are
   * built in the fan-out's slices. Thousands of streams connecting at once
   * then cost short event-loop turns, not one long one.
   */
  #schedulePush(): void {
    if (this.#dirty.size === 0 && this.#deferred.size === 0) return;
    if (this.ctx.fanOut === undefined) this.#push();
    else this.ctx.fanOut.schedule(this.#pushLater);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Feeds one request from the client. Throws `StreamRefusal` when the stream must end. */
  onRequest(req: Req): void {
    if (this.#closed) return;
    const node = req.node ?? undefined;
    const first = this.#profile === undefined;
    if (first) this.#adoptNode(node ?? {});
    if (node !== undefined && (first || this.#sameNode(node))) this.ctx.hooks?.onNode?.(this.record, node, first);
    if (this.#closed) return;
    const typeUrl = req.type_url ?? '';
    if (typeUrl !== '') {
      if (!this.record.types.has(typeUrl) && this.record.types.size >= MAX_TYPES_PER_STREAM) {
        throw new StreamRefusal('RESOURCE_EXHAUSTED', `a stream may use at most ${MAX_TYPES_PER_STREAM} resource types`);
      }
      this.handle(req, typeUrl);
    }
    this.#schedulePush();
  }

  /**
   * The node of a later request must be the stream's own (xDS: identical when
   * repeated). Another one is ignored, so that its metadata (a registration,
   * say) is never taken for this stream's.
   */
  #sameNode(node: NodeLike): boolean {
    if ((node.id ?? '') === this.record.nodeId && (node.cluster ?? '') === this.record.nodeCluster) return true;
    if (!this.#warnedNode) {
      this.#warnedNode = true;
      this.ctx.log.warn(`client ${this.record.id} (${this.record.nodeId}) sent a request naming node "${node.id ?? ''}"; its node is ignored`);
    }
    return false;
  }

  /** Ends the stream's bookkeeping; idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dirty.clear();
    this.#deferred.clear();
    this.#unsubscribe();
    this.ctx.registry.remove(this.record.id);
    this.ctx.hooks?.onClose?.(this.record);
  }

  /** Applies a request for one type (ACK/NACK, subscription); marks the type dirty if it needs a response. */
  protected abstract handle(req: Req, typeUrl: string): void;

  /**
   * The response this type needs now, or undefined when the client is up to
   * date. Unless `removeNow`, a CDS or EDS response keeps what was removed
   * (and calls `deferRemovals`), so the removal comes after the routes moved.
   */
  protected abstract produce(typeUrl: string, snapshot: Snapshot, removeNow: boolean): Res | undefined;

  /** Types the client subscribed to on this stream. */
  protected abstract subscribedTypes(): Iterable<string>;

  /**
   * A request answering our last response of this type (same nonce) is an ACK,
   * or a NACK when it carries error_detail; either is recorded for the admin
   * API, and an ACK of a later version clears the last NACK. Requests with an
   * older nonce answer superseded responses: ignored.
   */
  protected recordAck(t: TypeRecord, req: Req, typeUrl: string): void {
    const nonce = req.response_nonce ?? '';
    // A response is answered once. Later requests echoing its nonce (grpc-js-xds repeats a standing
    // NACK on each request of the type) change subscriptions, not its ACK or NACK.
    if (nonce === '' || nonce === t.answeredNonce) return;
    // The latest response, or (delta) an older one still unanswered: its NACK must not be lost.
    const version = nonce === t.sentNonce ? t.sentVersion : t.unanswered.get(nonce);
    if (version === undefined) return;
    if (nonce === t.sentNonce) t.answeredNonce = nonce;
    if (t.unanswered.size > 0) {
      // Answers come in order: this one settles every older response too.
      for (const k of t.unanswered.keys()) {
        t.unanswered.delete(k);
        if (k === nonce) break;
      }
    }
    const err = req.error_detail;
    if (err !== undefined && err !== null) {
      const raw = err.message ?? '';
      const error = raw.length > MAX_NACK_ERROR ? `${raw.slice(0, MAX_NACK_ERROR)}…` : raw;
      t.lastNack = { version, error, at: Date.now() };
      t.nacks += 1;
      this.ctx.log.warn(`client ${this.record.id} (${this.record.nodeId}) rejected ${typeUrl} version ${version}: ${error}`);
      this.ctx.hooks?.onAck?.(this.record, typeUrl, error);
    } else {
      t.ackedVersion = version;
      t.acks += 1;
      // Accepting a later version ends the error state, as Envoy's does on a successful
      // update. Answers come in order: this one is of a response sent after the NACKed one.
      if (t.lastNack !== undefined && t.lastNack.version !== version) t.lastNack = undefined;
      this.ctx.hooks?.onAck?.(this.record, typeUrl, undefined);
    }
  }

  protected markDirty(typeUrl: string): void {
    this.#dirty.add(typeUrl);
  }

  protected deferRemovals(typeUrl: string): void {
    this.#deferred.add(typeUrl);
  }

  protected nextNonce(): string {
    this.#nonce += 1;
    return String(this.#nonce);
  }

  /** Records a response about to be written: the latest of its type, not yet answered. */
  protected noteSent(t: TypeRecord, version: string, nonce: string): void {
    t.sentVersion = version;
    t.sentNonce = nonce;
    t.answeredNonce = '';
    t.responses += 1;
  }

  #adoptNode(node: NodeLike): void {
    const r = this.record;
    r.nodeId = node.id ?? '';
    r.nodeCluster = node.cluster ?? '';
    r.userAgent = [node.user_agent_name, node.user_agent_version].filter((s) => s !== undefined && s !== '').join('/');
    r.zone = node.locality?.zone ?? '';
    this.#profile = this.ctx.profileForNode(node);
    r.profile = this.#profile.kind;
  }

  #push(): void {
    if (this.#blocked || this.#closed || this.#profile === undefined) return;
    if (this.#dirty.size === 0 && this.#deferred.size === 0) return;
    let snapshot: Snapshot | undefined;
    try {
      snapshot = this.ctx.cache.current(this.#profile);
    } catch (err) {
      // This profile's translation was refused: keep the client on what it has.
      const message = err instanceof Error ? err.message : String(err);
      if (message !== this.#lastBuildError) this.ctx.log.error(`client ${this.record.id}: ${message}`);
      this.#lastBuildError = message;
      return;
    }
    if (snapshot === undefined) return;
    this.record.snapshotVersion = snapshot.version;
    this.record.degradations = snapshot.degradations;
    while ((this.#dirty.size > 0 || this.#deferred.size > 0) && !this.#blocked) {
      const removeNow = this.#dirty.size === 0;
      const set = removeNow ? this.#deferred : this.#dirty;
      const typeUrl = nextOf(set);
      set.delete(typeUrl);
      const response = this.produce(typeUrl, snapshot, removeNow);
      if (response !== undefined) this.ctx.hooks?.onResponse?.(this.record, typeUrl);
      if (response === undefined) continue;
      if (!this.#call.write(response, this.#onTaken)) {
        this.#blocked = true;
        this.#awaitingDrain = true;
        this.#call.once('drain', this.#onDrain);
      } else if ((this.#call.writableLength ?? 0) > MAX_UNTAKEN) {
        // Still accepted, but the transport has not taken the last ones: wait for a write to complete.
        this.#blocked = true;
      }
    }
  }
}

/** The first type of `set` in push order (known types first, in ADS order). */
function nextOf(set: ReadonlySet<string>): string {
  for (const t of ADS_TYPE_ORDER) if (set.has(t)) return t;
  return set.values().next().value as string;
}
