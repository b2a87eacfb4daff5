/**
 * The one mTLS policy of a process, shared by every transport adapter:
 * which outbound connections use mTLS (and which identity the server must
 * have), and how inbound connections are treated. Transports ask it; they
 * never read `mesh.mtls` themselves.
 *
 * - Nothing is encrypted until this process holds an SVID and the mesh's
 *   `mtls` is not `disabled`.
 * - Outbound, `strict`: every endpoint of a mesh service is dialled with
 *   mTLS. `permissive`: only endpoints known to serve mTLS, i.e. carrying the
 *   label `security.enmesh.io/tlsMode: mtls` (instances that register with an
 *   SVID add it themselves), as Istio's auto-mTLS reads its tlsMode label.
 * - The server must present the SVID of the service whose endpoint it is.
 * - Inbound: `permissive` accepts mTLS and plaintext; `strict` refuses
 *   plaintext (counted).
 */
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';
import { formatAuthority } from '../cluster/endpoint-state.ts';
import type { MeshModel, MtlsMode } from '../model/types.ts';
import { meshConnector } from './mtls-client.ts';
import type { ExpectedPeer } from './peer-verify.ts';
import { serviceSpiffeId } from './spiffe-id.ts';
import type { SvidManager } from './svid-manager.ts';

/** Endpoint label saying the instance serves mTLS (used by `permissive` outbound). */
export const TLS_MODE_LABEL = 'security.enmesh.io/tlsMode';
export const TLS_MODE_MTLS = 'mtls';

export type InboundMtls = 'off' | 'permissive' | 'strict';

const MAX_PRESENTED = 4096;

export class MeshMtls {
  #svids: SvidManager | undefined;
  #mode: MtlsMode = 'disabled';
  #trustDomain = '';
  /** `http://host:port` / `https://host:port` of mTLS endpoints → the identity its server must have. */
  #byOrigin = new Map<string, string>();
  /** `host:port` → identity, for the connector (it sees host and port, not the origin). */
  #byAuthority = new Map<string, string>();
  #agent: Agent | undefined;
  /** `host:port` → the SPIFFE ID its server presented on the last verified mTLS handshake (telemetry). */
  readonly #presented = new Map<string, string>();

  /** True when outbound/inbound mTLS is in force (an SVID is held and the mesh does not disable mTLS). */
  get active(): boolean {
    return this.#svids !== undefined && this.#mode !== 'disabled';
  }

  get mode(): MtlsMode {
    return this.#mode;
  }

  get svids(): SvidManager | undefined {
    return this.#svids;
  }

  /** How inbound connections are handled now. */
  inbound(): InboundMtls {
    return this.active ? (this.#mode as 'permissive' | 'strict') : 'off';
  }

  setIdentity(svids: SvidManager): void {
    this.#svids = svids;
  }

  /** Called with every new config model: the mode and the endpoint index follow it. */
  setModel(model: MeshModel): void {
    this.#mode = model.mesh.mtls;
    this.#trustDomain = model.mesh.trustDomain;
    const byOrigin = new Map<string, string>();
    const byAuthority = new Map<string, string>();
    const all = model.mesh.mtls === 'strict';
    for (const svc of model.services.values()) {
      const id = serviceSpiffeId(model.mesh.trustDomain, svc.name);
      for (const ep of svc.endpoints) {
        if (!all && ep.labels[TLS_MODE_LABEL] !== TLS_MODE_MTLS) continue;
        const authority = formatAuthority(ep.host, ep.port);
        // An address shared by two services keeps the first: its server can hold one identity only.
        if (byAuthority.has(authority)) continue;
        byAuthority.set(authority, id);
        byOrigin.set(`http://${authority}`, id);
        byOrigin.set(`https://${authority}`, id);
      }
    }
    this.#byOrigin = byOrigin;
    this.#byAuthority = byAuthority;
  }

  get trustDomain(): string {
    return this.#trustDomain;
  }

  /** The SPIFFE ID the server at `origin` must have when it is dialled with mTLS; undefined: plaintext (not a mesh endpoint, or mTLS off). */
  outboundIdentity(origin: string): string | undefined {
    return this.active ? this.#byOrigin.get(origin) : undefined;
  }

  /** What the server at host:port must prove; undefined for an address that left the config (any SVID of our trust domain is then refused). */
  #expected(hostname: string, port: string): ExpectedPeer {
    const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
    // No identity known: nothing may match, so the connection is refused rather than trusted blindly.
    return this.#byAuthority.get(formatAuthority(host, Number(port))) ?? [];
  }

  #remember(hostname: string, port: string, spiffeId: string): void {
    const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
    const authority = formatAuthority(host, Number(port));
    if (this.#presented.get(authority) === spiffeId) return;
    // Bounded by the endpoints ever dialled; an address reused by another service is overwritten.
    if (this.#presented.size >= MAX_PRESENTED) this.#presented.clear();
    this.#presented.set(authority, spiffeId);
  }

  /**
   * The SPIFFE ID the server at `host:port` presented (verified) when the
   * mesh last opened an mTLS connection to it, if requests to it go over
   * mTLS now; undefined for plaintext endpoints and before any handshake.
   * Read per request by the outbound metrics (`destination_principal`): a
   * map lookup, no allocation.
   */
  serverIdentity(authority: string): string | undefined {
    if (!this.active || !this.#byAuthority.has(authority)) return undefined;
    return this.#presented.get(authority);
  }

  /** The dispatcher mTLS connections are made by (one connection pool per endpoint, like the plaintext one). */
  dispatcher(): Dispatcher {
    if (this.#agent === undefined) {
      const svids = this.#svids;
      if (svids === undefined) throw new Error('mTLS dispatcher requested before an SVID was configured');
      this.#agent = new Agent({
        connect: meshConnector({
          svids,
          expectedPeer: (o) => this.#expected(o.hostname, String(o.port)),
          onVerified: (o, identity) => this.#remember(o.hostname, String(o.port), identity.spiffeId),
        }),
      });
    }
    return this.#agent;
  }

  async close(): Promise<void> {
    const agent = this.#agent;
    this.#agent = undefined;
    await agent?.close();
  }
}
