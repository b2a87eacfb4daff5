/**
 * Service instances from Consul's catalog, as model endpoints (origin
 * `consul`). Per datacenter, one blocking watch on `/v1/catalog/services`
 * says which services exist; for each of them that the mesh config declares,
 * one blocking watch on `/v1/health/service/<name>` (`?passing` unless
 * warnings are accepted) gives its healthy instances. An instance turning
 * critical wakes the health watch, so it leaves the endpoints within one
 * blocking round trip.
 *
 * Mapping: address = Service.Address, else the node's address; `k=v` tags and
 * Service.Meta become labels (Meta wins); zone = Meta `zone`, else the
 * datacenter; weight = Weights.Passing. Endpoints are sorted by address, so
 * every replica builds the same model from the same catalog.
 */
import { finalizeModel } from '../../model/finalize.ts';
import type { EndpointModel, MeshModel, ServiceModel } from '../../model/types.ts';
import type { Logger } from '../log.ts';
import { BlockingWatch } from './blocking-watch.ts';
import type { BackoffSettings } from './blocking-watch.ts';
import { blockingRead } from './client.ts';
import type { ConsulClient, ConsulSettings } from './client.ts';
import type { SourceStatus } from './source-status.ts';

export interface CatalogSourceOptions {
  readonly client: ConsulClient;
  readonly settings: ConsulSettings;
  readonly status: SourceStatus;
  /** Count instances whose checks are `warning` as endpoints too. Default false: passing only. */
  readonly acceptWarning?: boolean;
  /** Called when the endpoints of any service changed. */
  readonly onChange: () => void;
  readonly log: Logger;
  readonly backoff?: BackoffSettings;
}

interface HealthEntry {
  readonly Node?: { readonly Address?: string; readonly Datacenter?: string };
  readonly Service?: {
    readonly ID?: string;
    readonly Address?: string;
    readonly Port?: number;
    readonly Tags?: readonly string[] | null;
    readonly Meta?: Readonly<Record<string, string>> | null;
    readonly Weights?: { readonly Passing?: number } | null;
  };
  readonly Checks?: readonly { readonly Status?: string }[] | null;
}

export interface CatalogView {
  /** Services Consul lists, per datacenter. */
  readonly services: Readonly<Record<string, readonly string[]>>;
  /** Services Consul lists that the mesh config does not declare (they get no traffic). */
  readonly undeclared: readonly string[];
}

export class CatalogSource {
  readonly #o: CatalogSourceOptions;
  readonly #dcs: readonly string[];
  readonly #catalogWatches: BlockingWatch<Record<string, string[]>>[];
  /** `dc` → services Consul lists there. */
  readonly #listed = new Map<string, Set<string>>();
  /** `service@dc` → health watch. */
  readonly #healthWatches = new Map<string, BlockingWatch<HealthEntry[]>>();
  /** `service@dc` → its endpoints. */
  readonly #endpoints = new Map<string, readonly EndpointModel[]>();
  #declared = new Set<string>();
  #closed = false;

  constructor(options: CatalogSourceOptions) {
    this.#o = options;
    this.#dcs = options.settings.datacenters?.length ? options.settings.datacenters : [''];
    this.#catalogWatches = this.#dcs.map(
      (dc) =>
        new BlockingWatch<Record<string, string[]>>({
          name: `catalog/services${dc === '' ? '' : `@${dc}`}`,
          status: options.status,
          ...(options.backoff ? { backoff: options.backoff } : {}),
          read: (index, ctx) =>
            blockingRead((o) => options.client.catalog.service.list(o as never), dc === '' ? {} : { dc }, index, options.settings, ctx),
          onResult: (body) => {
            const wasSynced = this.synced();
            this.#listed.set(dc, new Set(Object.keys(body ?? {})));
            this.#reconcile();
            // This answer may complete the initial sync, which the control plane's startup hold waits for.
            if (!wasSynced && this.synced()) options.onChange();
          },
          onError: (message, retry) => options.log.warn(`consul catalog${dc === '' ? '' : ` (${dc})`} unavailable, keeping the last view; retry in ${retry} ms: ${message}`),
        }),
    );
  }

  /** The services the mesh config declares: only they are watched and get endpoints. */
  setDeclared(names: Iterable<string>): void {
    const next = new Set(names);
    if (next.size === this.#declared.size && [...next].every((n) => this.#declared.has(n))) return;
    this.#declared = next;
    this.#reconcile();
  }

  /** True once every catalog watch and the health watch of every listed, declared service have answered. */
  synced(): boolean {
    if (this.#listed.size < this.#dcs.length) return false;
    for (const key of this.#healthWatches.keys()) if (!this.#endpoints.has(key)) return false;
    return true;
  }

  /** Services with at least one endpoint from Consul. */
  servicesWithEndpoints(): Set<string> {
    const out = new Set<string>();
    for (const [key, eps] of this.#endpoints) if (eps.length > 0) out.add(key.slice(0, key.lastIndexOf('@')));
    return out;
  }

  /**
   * `base` with Consul's instances added to each declared service's endpoints
   * (static endpoints first; an address already listed is not added twice).
   */
  apply(base: MeshModel): MeshModel {
    const byService = new Map<string, EndpointModel[]>();
    for (const [key, eps] of this.#endpoints) {
      const name = key.slice(0, key.lastIndexOf('@'));
      if (!base.services.has(name) || eps.length === 0) continue;
      let list = byService.get(name);
      if (list === undefined) byService.set(name, (list = []));
      list.push(...eps);
    }
    if (byService.size === 0) return base;
    const services = new Map<string, ServiceModel>();
    for (const [name, svc] of base.services) {
      const found = byService.get(name);
      if (found === undefined) {
        services.set(name, svc);
        continue;
      }
      const statics = svc.endpoints.filter((e) => e.origin === 'static');
      const taken = new Set(statics.map((e) => `${e.host}:${e.port}`));
      const merged = [...statics];
      for (const e of found.sort(byAddress)) {
        const key = `${e.host}:${e.port}`;
        if (taken.has(key)) continue;
        taken.add(key);
        merged.push(e);
      }
      services.set(name, { ...svc, endpoints: merged });
    }
    return finalizeModel({ source: base.source, mesh: base.mesh, services, policies: base.policies });
  }

  view(): CatalogView {
    const services: Record<string, string[]> = {};
    const undeclared = new Set<string>();
    for (const [dc, names] of this.#listed) {
      services[dc === '' ? 'default' : dc] = [...names].sort();
      for (const n of names) if (!this.#declared.has(n) && n !== 'consul') undeclared.add(n);
    }
    return { services, undeclared: [...undeclared].sort() };
  }

  close(): void {
    this.#closed = true;
    for (const w of this.#catalogWatches) w.close();
    for (const w of this.#healthWatches.values()) w.close();
    this.#healthWatches.clear();
  }

  /** Starts health watches for declared services Consul lists, stops the others. */
  #reconcile(): void {
    if (this.#closed) return;
    const wanted = new Set<string>();
    for (const [dc, names] of this.#listed) for (const n of names) if (this.#declared.has(n)) wanted.add(`${n}@${dc}`);
    let changed = false;
    for (const [key, watch] of this.#healthWatches) {
      if (wanted.has(key)) continue;
      watch.close();
      this.#healthWatches.delete(key);
      if (this.#endpoints.delete(key)) changed = true;
    }
    for (const key of wanted) if (!this.#healthWatches.has(key)) this.#healthWatches.set(key, this.#watchHealth(key));
    if (changed) this.#o.onChange();
  }

  #watchHealth(key: string): BlockingWatch<HealthEntry[]> {
    const at = key.lastIndexOf('@');
    const service = key.slice(0, at);
    const dc = key.slice(at + 1);
    const o = this.#o;
    const passingOnly = o.acceptWarning !== true;
    return new BlockingWatch<HealthEntry[]>({
      name: `health/${service}${dc === '' ? '' : `@${dc}`}`,
      status: o.status,
      ...(o.backoff ? { backoff: o.backoff } : {}),
      read: (index, ctx) =>
        blockingRead(
          (opts) => o.client.health.service(opts as never),
          { service, ...(passingOnly ? { passing: true } : {}), ...(dc === '' ? {} : { dc }) },
          index,
          o.settings,
          ctx,
        ),
      onResult: (body) => {
        if (this.#healthWatches.get(key) === undefined) return;
        const next = toEndpoints(body ?? [], dc, passingOnly);
        const prev = this.#endpoints.get(key);
        if (prev !== undefined && sameEndpoints(prev, next)) return;
        this.#endpoints.set(key, next);
        o.onChange();
      },
      onError: (message, retry) => o.log.warn(`consul health of ${service}${dc === '' ? '' : ` (${dc})`} unavailable, keeping its last endpoints; retry in ${retry} ms: ${message}`),
    });
  }
}

/** Healthy entries → endpoints, sorted, one per address. */
export function toEndpoints(entries: readonly HealthEntry[], dc: string, passingOnly: boolean): EndpointModel[] {
  const out = new Map<string, EndpointModel>();
  for (const e of entries) {
    const s = e.Service;
    if (s === undefined || typeof s.Port !== 'number' || s.Port < 1 || s.Port > 65535) continue;
    const ok = passingOnly ? 'passing' : 'warning';
    if ((e.Checks ?? []).some((c) => c.Status !== 'passing' && c.Status !== ok)) continue;
    const host = s.Address || e.Node?.Address || '';
    if (host === '') continue;
    const labels: Record<string, string> = {};
    for (const tag of s.Tags ?? []) {
      const eq = tag.indexOf('=');
      if (eq > 0) labels[tag.slice(0, eq)] = tag.slice(eq + 1);
    }
    const meta = s.Meta ?? {};
    for (const [k, v] of Object.entries(meta)) if (k !== 'zone') labels[k] = v;
    const weight = s.Weights?.Passing;
    const key = `${host}:${s.Port}`;
    if (out.has(key)) continue;
    out.set(key, {
      host,
      port: s.Port,
      labels,
      weight: typeof weight === 'number' && weight >= 1 ? Math.floor(weight) : 1,
      zone: meta.zone || e.Node?.Datacenter || dc,
      healthy: true,
      origin: 'consul',
    });
  }
  return [...out.values()].sort(byAddress);
}

function sameEndpoints(a: readonly EndpointModel[], b: readonly EndpointModel[]): boolean {
  return a.length === b.length && JSON.stringify(a) === JSON.stringify(b);
}

function byAddress(a: EndpointModel, b: EndpointModel): number {
  const ka = `${a.host}:${a.port}`;
  const kb = `${b.host}:${b.port}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
