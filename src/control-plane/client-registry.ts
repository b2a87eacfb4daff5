/**
 * Who is connected, and where each client stands per resource type: what it
 * subscribed to, what it was sent, what it accepted and what it rejected.
 *
 * The ADS streams own their `ClientRecord`s and update them in place (plain
 * field writes, nothing on the request path is allocated for bookkeeping);
 * the admin API reads a JSON view built on demand by `list()`.
 */

export type StreamKind = 'sotw' | 'delta';

export interface NackInfo {
  /** The version the client rejected. */
  readonly version: string;
  /** `error_detail.message` as the client sent it. */
  readonly error: string;
  /** Epoch ms. */
  readonly at: number;
}

/** Per resource type bookkeeping of one stream. */
export class TypeRecord {
  readonly typeUrl: string;
  /** Wildcard subscription (all resources of the type). */
  wildcard = false;
  /** Explicitly subscribed names. */
  readonly names = new Set<string>();
  /** Version of the last response sent ('' before the first). */
  sentVersion = '';
  sentNonce = '';
  /** `sentNonce` once the client answered it ('' until then): a response is ACKed or NACKed once. */
  answeredNonce = '';
  /**
   * Delta only: responses sent and not answered yet, nonce → version, oldest
   * first. A delta client answers every response, in order, so a NACK may name
   * one that a newer response has already followed (SotW supersedes instead).
   */
  readonly unanswered = new Map<string, string>();
  /** Names of the resources in the last response (SotW) or held by the client (delta). */
  sentResources: readonly string[] = [];
  /** Version the client last accepted ('' before the first ACK). */
  ackedVersion = '';
  lastNack: NackInfo | undefined;
  responses = 0;
  acks = 0;
  nacks = 0;

  constructor(typeUrl: string) {
    this.typeUrl = typeUrl;
  }
}

export interface ClientRecordInit {
  readonly id: string;
  readonly kind: StreamKind;
  readonly address: string;
  readonly connectedSince: number;
}

export class ClientRecord {
  readonly id: string;
  readonly kind: StreamKind;
  readonly address: string;
  readonly connectedSince: number;
  nodeId = '';
  nodeCluster = '';
  userAgent = '';
  zone = '';
  /** Client profile kind the resources are translated for. */
  profile = '';
  /** Snapshot version the stream last pushed from. */
  snapshotVersion = '';
  /** Degradations of the snapshot served to this client (features it cannot have). */
  degradations: readonly string[] = [];
  /** `service/host:port` of the instance this client registered, if any. */
  registration: string | undefined;
  readonly types = new Map<string, TypeRecord>();

  constructor(init: ClientRecordInit) {
    this.id = init.id;
    this.kind = init.kind;
    this.address = init.address;
    this.connectedSince = init.connectedSince;
  }

  type(typeUrl: string): TypeRecord {
    let t = this.types.get(typeUrl);
    if (t === undefined) {
      t = new TypeRecord(typeUrl);
      this.types.set(typeUrl, t);
    }
    return t;
  }
}

/** JSON shape of one client in the admin API. */
export interface ClientView {
  readonly id: string;
  readonly kind: StreamKind;
  readonly nodeId: string;
  readonly cluster: string;
  readonly userAgent: string;
  readonly zone: string;
  readonly profile: string;
  readonly address: string;
  readonly connectedSince: string;
  readonly snapshotVersion: string;
  readonly degradations: readonly string[];
  readonly registration: string | null;
  readonly types: Readonly<Record<string, TypeView>>;
}

export interface TypeView {
  readonly subscribed: readonly string[];
  readonly wildcard: boolean;
  readonly sentVersion: string;
  readonly sentNonce: string;
  readonly sentResources: readonly string[];
  readonly ackedVersion: string;
  readonly lastNack: { readonly version: string; readonly error: string; readonly at: string } | null;
  readonly responses: number;
  readonly acks: number;
  readonly nacks: number;
}

export class ClientRegistry {
  readonly #clients = new Map<string, ClientRecord>();
  #seq = 0;

  /** A unique id for a new stream (`c1`, `c2`, ...). */
  nextId(): string {
    this.#seq += 1;
    return `c${this.#seq}`;
  }

  add(record: ClientRecord): void {
    this.#clients.set(record.id, record);
  }

  remove(id: string): void {
    this.#clients.delete(id);
  }

  get(id: string): ClientRecord | undefined {
    return this.#clients.get(id);
  }

  get size(): number {
    return this.#clients.size;
  }

  records(): IterableIterator<ClientRecord> {
    return this.#clients.values();
  }

  /** Clients whose node id is `nodeId` (a client may have several streams, e.g. across a reconnect). */
  byNodeId(nodeId: string): ClientRecord[] {
    return [...this.#clients.values()].filter((c) => c.nodeId === nodeId);
  }

  list(): ClientView[] {
    return [...this.#clients.values()].map(viewOf);
  }
}

function viewOf(c: ClientRecord): ClientView {
  const types: Record<string, TypeView> = {};
  for (const [url, t] of c.types) {
    types[url] = {
      subscribed: [...t.names],
      wildcard: t.wildcard,
      sentVersion: t.sentVersion,
      sentNonce: t.sentNonce,
      sentResources: t.sentResources,
      ackedVersion: t.ackedVersion,
      lastNack:
        t.lastNack === undefined
          ? null
          : { version: t.lastNack.version, error: t.lastNack.error, at: new Date(t.lastNack.at).toISOString() },
      responses: t.responses,
      acks: t.acks,
      nacks: t.nacks,
    };
  }
  return {
    id: c.id,
    kind: c.kind,
    nodeId: c.nodeId,
    cluster: c.nodeCluster,
    userAgent: c.userAgent,
    zone: c.zone,
    profile: c.profile,
    address: c.address,
    connectedSince: new Date(c.connectedSince).toISOString(),
    snapshotVersion: c.snapshotVersion,
    degradations: c.degradations,
    registration: c.registration ?? null,
    types,
  };
}
