/**
 * Endpoint churn through the self-registration path: each instance is an ADS
 * stream whose node carries `enmesh.registration`, as an SDK with a
 * `registration` option opens it; it leaves gracefully with one last request
 * marked `enmesh.draining: true`, then half-closes. This is what instances
 * starting and stopping look like to the control plane, with none of the
 * file watcher's debounce (which is for human edits, not for churn).
 */
import * as grpc from '@grpc/grpc-js';
import { buildNode } from '../../src/xds/client/node.ts';
import type { Registration } from '../../src/xds/client/node.ts';
import { serviceDefinitions } from '../../src/xds/protos.ts';
import { churnLabels, serviceName, servicePort } from './mesh.ts';

export interface Change {
  /** `service/host:port`, as the control plane keys registered instances. */
  readonly key: string;
  readonly op: 'add' | 'remove';
  /** Date.now() just before the request was written. */
  readonly t0: number;
}

interface Instance {
  readonly key: string;
  readonly nodeId: string;
  readonly registration: Registration;
  readonly call: grpc.ClientDuplexStream<unknown, Buffer>;
}

const ADS = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

export class Registrar {
  readonly #client: grpc.Client;
  readonly #services: number;
  /** Registered instances, oldest first. */
  readonly #live: Instance[] = [];
  #seq = 0;
  #next = 0;

  constructor(port: number, services: number) {
    this.#client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    this.#services = services;
  }

  get size(): number {
    return this.#live.length;
  }

  /** Registers a new instance of the next service (round-robin). */
  add(): Change {
    const s = this.#next++ % this.#services;
    const n = this.#seq++;
    const registration: Registration = {
      service: serviceName(s),
      host: `10.200.${Math.floor(n / 250) % 250}.${(n % 250) + 1}`,
      port: servicePort(s),
      labels: churnLabels(s),
      zone: n % 2 === 0 ? 'zone-a' : 'zone-b',
    };
    const key = `${registration.service}/${registration.host}:${registration.port}`;
    const m = (serviceDefinitions()[ADS] as grpc.ServiceDefinition).DeltaAggregatedResources!;
    const call = this.#client.makeBidiStreamRequest(m.path, m.requestSerialize, (b: Buffer) => b);
    call.on('error', () => {});
    call.on('data', () => {});
    const nodeId = `instance-${n}`;
    this.#live.push({ key, nodeId, registration, call });
    const t0 = Date.now();
    call.write({ node: buildNode({ id: nodeId }, registration, false) });
    return { key, op: 'add', t0 };
  }

  /** Drains the oldest instance: `enmesh.draining`, then half-close. */
  remove(): Change | undefined {
    const inst = this.#live.shift();
    if (inst === undefined) return undefined;
    const t0 = Date.now();
    inst.call.write({ node: buildNode({ id: inst.nodeId }, inst.registration, true) });
    inst.call.end();
    return { key: inst.key, op: 'remove', t0 };
  }

  /**
   * `rate` changes per second for `durationMs`, alternating add and remove so
   * the endpoint count stays level. Ticks are scheduled against the start
   * time, so a late tick does not shift the rest.
   */
  async churn(rate: number, durationMs: number): Promise<Change[]> {
    const changes: Change[] = [];
    const interval = 1000 / rate;
    const total = Math.max(1, Math.round((durationMs / 1000) * rate));
    const start = performance.now();
    for (let k = 0; k < total; k++) {
      const wait = start + k * interval - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const c = k % 2 === 0 ? this.add() : this.remove();
      if (c !== undefined) changes.push(c);
    }
    return changes;
  }

  close(): void {
    for (const i of this.#live) i.call.cancel();
    this.#live.length = 0;
    this.#client.close();
  }
}
