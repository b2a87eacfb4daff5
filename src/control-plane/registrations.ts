/**
 * Self-registration: instances an SDK announced in its ADS node metadata
 * (`enmesh.registration` = `{ service, host, port, labels, zone }`), merged
 * into the configured model as endpoints with origin `registered`.
 *
 * Lifetime follows the ADS stream that announced the instance:
 * - the stream ends (close, error, keepalive failure): the endpoint goes after
 *   a grace period, so an instance that restarts and registers again within it
 *   never leaves the endpoint set;
 * - the SDK sends `enmesh.draining: true` before closing: it goes at once.
 * Several streams may announce the same instance; it stays while any does.
 */
import { finalizeModel } from '../model/finalize.ts';
import type { EndpointModel, MeshModel, ServiceModel } from '../model/types.ts';
import { REGISTRATION_KEY, readRegistration } from '../xds/client/node.ts';
import type { Registration } from '../xds/client/node.ts';
import { fromStruct } from '../xds/client/struct.ts';
import type { Logger } from './log.ts';
import { silentLogger } from './log.ts';
import type { NodeLike } from './messages.ts';

export interface RegistrationsOptions {
  /** Called whenever the set of registered endpoints changes. */
  readonly onChange: () => void;
  /** How long an instance whose stream ended stays registered. Default 2000 ms. */
  readonly graceMs?: number;
  readonly log?: Logger;
}

export interface RegistrationError {
  /** `service/host:port`, or the node id when the registration could not be read. */
  readonly instance: string;
  readonly nodeId: string;
  readonly message: string;
  /** Epoch ms. */
  readonly at: number;
}

export interface RegisteredInstanceView {
  readonly instance: string;
  readonly service: string;
  readonly host: string;
  readonly port: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly zone: string;
  readonly nodeIds: readonly string[];
  readonly since: string;
  /** Set while the instance is in its grace period after its stream ended. */
  readonly leavingAt: string | null;
}

interface Instance {
  readonly key: string;
  readonly endpoint: EndpointModel;
  readonly service: string;
  /** Stream ids that announced it, with their node ids. */
  readonly owners: Map<string, string>;
  readonly since: number;
  removal: ReturnType<typeof setTimeout> | undefined;
  leavingAt: number | undefined;
}

export class Registrations {
  readonly #onChange: () => void;
  readonly #graceMs: number;
  readonly #log: Logger;
  readonly #instances = new Map<string, Instance>();
  /** Stream id → instance key. */
  readonly #byStream = new Map<string, string>();
  /** Problems with registrations read from nodes, by stream id. */
  readonly #readErrors = new Map<string, RegistrationError>();
  /** Instances of services the model lacks, recomputed by `apply`. */
  #unknown: RegistrationError[] = [];

  constructor(options: RegistrationsOptions) {
    this.#onChange = options.onChange;
    this.#graceMs = options.graceMs ?? 2000;
    this.#log = options.log ?? silentLogger;
  }

  /**
   * Reads the registration contract from a node. Returns the instance key
   * when this stream (now) owns a registration.
   */
  onNode(streamId: string, nodeId: string, node: NodeLike, first: boolean): string | undefined {
    const { registration, draining } = readRegistration(node);
    if (first && registration === undefined && hasRegistrationKey(node)) {
      this.#readErrors.set(streamId, {
        instance: nodeId,
        nodeId,
        message: `node metadata "${REGISTRATION_KEY}" is malformed: expected { service, host, port (1-65535), labels, zone }`,
        at: Date.now(),
      });
    }
    if (registration !== undefined && !this.#byStream.has(streamId)) this.#add(streamId, nodeId, registration);
    if (draining) {
      this.#release(streamId, true);
      return undefined;
    }
    return this.#byStream.get(streamId);
  }

  /** The stream ended: its instance leaves after the grace period (unless announced again). */
  onStreamClosed(streamId: string): void {
    this.#readErrors.delete(streamId);
    this.#release(streamId, false);
  }

  /**
   * `base` with every registered instance added to its service's endpoints
   * (static endpoints first; an instance already listed statically is not
   * added twice). Instances of services `base` lacks are skipped and reported
   * by `errors()`.
   */
  apply(base: MeshModel): MeshModel {
    const byService = new Map<string, EndpointModel[]>();
    const unknown: RegistrationError[] = [];
    for (const inst of this.#instances.values()) {
      if (!base.services.has(inst.service)) {
        unknown.push({
          instance: inst.key,
          nodeId: [...inst.owners.values()].join(','),
          message: `service "${inst.service}" is not declared in the mesh config; declare it under services to route to this instance`,
          at: inst.since,
        });
        continue;
      }
      let list = byService.get(inst.service);
      if (list === undefined) byService.set(inst.service, (list = []));
      list.push(inst.endpoint);
    }
    this.#unknown = unknown;
    if (byService.size === 0) return base;
    // One new model for all services at once: finalizing hashes the whole model,
    // so a model per service would cost services × model size on every change.
    const services = new Map<string, ServiceModel>();
    for (const [name, svc] of base.services) {
      const registered = byService.get(name);
      if (registered === undefined) {
        services.set(name, svc);
        continue;
      }
      const statics = svc.endpoints.filter((e) => e.origin !== 'registered');
      const taken = new Set(statics.map((e) => `${e.host}:${e.port}`));
      const merged = [...statics];
      for (const e of registered.sort(byAddress)) if (!taken.has(`${e.host}:${e.port}`)) merged.push(e);
      services.set(name, { ...svc, endpoints: merged });
    }
    return finalizeModel({ source: base.source, mesh: base.mesh, services, policies: base.policies });
  }

  errors(): RegistrationError[] {
    return [...this.#readErrors.values(), ...this.#unknown];
  }

  list(): RegisteredInstanceView[] {
    return [...this.#instances.values()].map((i) => ({
      instance: i.key,
      service: i.service,
      host: i.endpoint.host,
      port: i.endpoint.port,
      labels: i.endpoint.labels,
      zone: i.endpoint.zone,
      nodeIds: [...new Set(i.owners.values())],
      since: new Date(i.since).toISOString(),
      leavingAt: i.leavingAt === undefined ? null : new Date(i.leavingAt).toISOString(),
    }));
  }

  /** Drops every registration and pending timer. */
  close(): void {
    for (const i of this.#instances.values()) if (i.removal !== undefined) clearTimeout(i.removal);
    this.#instances.clear();
    this.#byStream.clear();
  }

  #add(streamId: string, nodeId: string, r: Registration): void {
    const key = `${r.service}/${r.host}:${r.port}`;
    this.#byStream.set(streamId, key);
    const existing = this.#instances.get(key);
    if (existing !== undefined) {
      existing.owners.set(streamId, nodeId);
      if (existing.removal !== undefined) {
        clearTimeout(existing.removal);
        existing.removal = undefined;
        existing.leavingAt = undefined;
        this.#log.info(`instance ${key} registered again by ${nodeId} within its grace period`);
      }
      return;
    }
    const endpoint: EndpointModel = Object.freeze({
      host: r.host,
      port: r.port,
      labels: Object.freeze({ ...r.labels }),
      weight: 1,
      zone: r.zone ?? '',
      healthy: true,
      origin: 'registered' as const,
    });
    this.#instances.set(key, {
      key,
      endpoint,
      service: r.service,
      owners: new Map([[streamId, nodeId]]),
      since: Date.now(),
      removal: undefined,
      leavingAt: undefined,
    });
    this.#log.info(`instance ${key} registered by ${nodeId}`);
    this.#onChange();
  }

  #release(streamId: string, immediate: boolean): void {
    const key = this.#byStream.get(streamId);
    if (key === undefined) return;
    this.#byStream.delete(streamId);
    const inst = this.#instances.get(key);
    if (inst === undefined) return;
    inst.owners.delete(streamId);
    if (inst.owners.size > 0) return;
    if (immediate || this.#graceMs <= 0) {
      this.#remove(inst, immediate ? 'drained' : 'stream ended');
      return;
    }
    if (inst.removal !== undefined) return;
    inst.leavingAt = Date.now() + this.#graceMs;
    inst.removal = setTimeout(() => this.#remove(inst, 'stream ended'), this.#graceMs);
    inst.removal.unref?.();
  }

  #remove(inst: Instance, why: string): void {
    if (inst.removal !== undefined) clearTimeout(inst.removal);
    inst.removal = undefined;
    if (this.#instances.get(inst.key) !== inst) return;
    this.#instances.delete(inst.key);
    this.#log.info(`instance ${inst.key} deregistered (${why})`);
    this.#onChange();
  }
}

function hasRegistrationKey(node: NodeLike): boolean {
  return REGISTRATION_KEY in fromStruct(node.metadata);
}

function byAddress(a: EndpointModel, b: EndpointModel): number {
  const ka = `${a.host}:${a.port}`;
  const kb = `${b.host}:${b.port}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
