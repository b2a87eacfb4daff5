/**
 * A bare ADS client (grpc-js + the Envoy protos) for tests that drive the
 * protocol by hand: every request is written explicitly, every response kept.
 */
import * as grpc from '@grpc/grpc-js';
import { serviceDefinitions } from '../../../src/xds/protos.ts';
import type {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
} from '../../../src/control-plane/messages.ts';

type Kind = 'sotw' | 'delta';
type Req<K extends Kind> = K extends 'sotw' ? DiscoveryRequest : DeltaDiscoveryRequest;
type Res<K extends Kind> = K extends 'sotw' ? DiscoveryResponse : DeltaDiscoveryResponse;

let Ctor: grpc.ServiceClientConstructor | undefined;

export class RawAds<K extends Kind> {
  readonly responses: Res<K>[] = [];
  readonly #client: grpc.Client;
  readonly #call: grpc.ClientDuplexStream<Req<K>, Res<K>>;
  readonly #waiters = new Set<() => void>();
  #status: grpc.StatusObject | undefined;

  constructor(port: number, kind: K) {
    Ctor ??= grpc.makeClientConstructor(
      serviceDefinitions()['envoy.service.discovery.v3.AggregatedDiscoveryService'] as grpc.ServiceDefinition,
      'AggregatedDiscoveryService',
    );
    this.#client = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const method = kind === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources';
    this.#call = (this.#client as unknown as Record<string, () => grpc.ClientDuplexStream<Req<K>, Res<K>>>)[method]!.call(this.#client);
    this.#call.on('data', (r: Res<K>) => {
      // The loader leaves empty repeated fields undefined; tests compare with [].
      const loose = r as { resources?: unknown[]; removed_resources?: string[] };
      loose.resources ??= [];
      if (kind === 'delta') loose.removed_resources ??= [];
      this.responses.push(r);
      for (const w of this.#waiters) w();
    });
    this.#call.on('status', (s: grpc.StatusObject) => {
      this.#status = s;
      for (const w of this.#waiters) w();
    });
    this.#call.on('error', () => {});
  }

  get status(): grpc.StatusObject | undefined {
    return this.#status;
  }

  send(req: Req<K>): void {
    this.#call.write(req);
  }

  /** Responses of one type so far. */
  of(typeUrl: string): Res<K>[] {
    return this.responses.filter((r) => r.type_url === typeUrl);
  }

  /** Resolves with the first response (after `from`) matching `predicate`. */
  next(predicate: (r: Res<K>) => boolean, timeoutMs = 3000, from = 0): Promise<Res<K>> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.responses.slice(from).find(predicate);
        if (hit !== undefined) {
          done();
          resolve(hit);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching response within ${timeoutMs} ms; got ${this.responses.length} responses`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Half-closes the stream (what a well-behaved client does last). */
  end(): void {
    this.#call.end();
  }

  close(): void {
    this.#call.cancel();
    this.#client.close();
  }
}
