/**
 * Endpoints an operator drained: operational state of the control plane, not
 * config. A drained endpoint stays in its service's endpoint list but is
 * published unhealthy with EDS health DRAINING, so clients (enmesh and
 * grpc-js-xds alike) send it no new requests. Kept across config reloads and
 * re-registrations of the same address; cleared by undraining.
 */
import { withEndpoints } from '../model/finalize.ts';
import type { EndpointModel, MeshModel } from '../model/types.ts';

/** `host:port` as the admin API names an endpoint (IPv6 in brackets). */
export function endpointAddress(e: Pick<EndpointModel, 'host' | 'port'>): string {
  return `${e.host.includes(':') ? `[${e.host}]` : e.host}:${e.port}`;
}

/**
 * An endpoint address as given to the admin API, in the form
 * {@link endpointAddress} makes: an IPv6 host without brackets (`::1:9081`,
 * the last `:` before the port) gets them (`[::1]:9081`).
 */
export function normalizeEndpointAddress(address: string): string {
  const last = address.lastIndexOf(':');
  if (address.startsWith('[') || address.indexOf(':') === last) return address;
  return `[${address.slice(0, last)}]:${address.slice(last + 1)}`;
}

export class DrainSet {
  /** service → drained addresses. */
  readonly #drained = new Map<string, Set<string>>();

  /** Marks or clears; true when that changed anything. */
  set(service: string, address: string, drained: boolean): boolean {
    let set = this.#drained.get(service);
    if (drained) {
      if (set === undefined) this.#drained.set(service, (set = new Set()));
      if (set.has(address)) return false;
      set.add(address);
      return true;
    }
    if (set === undefined || !set.delete(address)) return false;
    if (set.size === 0) this.#drained.delete(service);
    return true;
  }

  has(service: string, address: string): boolean {
    return this.#drained.get(service)?.has(address) ?? false;
  }

  list(): { service: string; address: string }[] {
    const out: { service: string; address: string }[] = [];
    for (const [service, set] of this.#drained) for (const address of set) out.push({ service, address });
    return out;
  }

  /** `model` with drained endpoints marked (the same object when none applies). */
  apply(model: MeshModel): MeshModel {
    let out = model;
    for (const [service, set] of this.#drained) {
      const svc = out.services.get(service);
      if (svc === undefined || !svc.endpoints.some((e) => set.has(endpointAddress(e)))) continue;
      out = withEndpoints(
        out,
        service,
        svc.endpoints.map((e) => (set.has(endpointAddress(e)) ? { ...e, healthy: false, draining: true } : e)),
      );
    }
    return out;
  }
}
