/**
 * An SDK registering its own instance in Consul (`init({ consul })` /
 * `ENMESH_CONSUL`) instead of with the control plane: an agent service
 * registration with a TTL check this process keeps passing, or an HTTP check
 * the agent runs against the instance. `mesh.close()` deregisters it, so it
 * leaves every replica's endpoints within one blocking round trip; a process
 * that dies stops passing its TTL and turns critical within the TTL.
 */
import { EnmeshError } from '../../errors.ts';
import type { InitOptions } from '../../init-options.ts';
import type { Mesh } from '../../mesh.ts';
import { AgentRegistrar } from './agent-registrar.ts';
import { createConsulClient } from './client.ts';
import { instanceDefinition } from './write-through.ts';

export interface ConsulRegistrationOptions {
  /** `http://host:port` of the local Consul agent. `ENMESH_CONSUL`. */
  readonly address: string;
  /** ACL token. `ENMESH_CONSUL_TOKEN`. */
  readonly token?: string;
  /** `ttl` (default): this process passes a TTL check; `http`: the agent polls `http://host:port<httpPath>`. `ENMESH_CONSUL_CHECK`. */
  readonly check?: 'ttl' | 'http';
  /** Path the HTTP check requests. Default `/`. */
  readonly httpPath?: string;
  /** TTL check period (passed every third), or HTTP check interval. Default 10 s. */
  readonly intervalMs?: number;
}

/** Starts the registration; it is removed by `mesh.close()`. */
export function startConsulRegistration(mesh: Mesh, options: InitOptions): AgentRegistrar {
  const consul = options.consul!;
  const svc = options.service;
  if (svc === undefined || svc.port === undefined) {
    throw new EnmeshError('ENMESH_ERR_INIT', 'consul registration needs this instance\'s service name and port: init({ service: { name, port }, consul }) or ENMESH_SERVICE and ENMESH_PORT');
  }
  const client = createConsulClient({ address: consul.address, ...(consul.token ? { token: consul.token } : {}) }, 'consul.address');
  const host = svc.host ?? '127.0.0.1';
  const intervalMs = consul.intervalMs ?? 10_000;
  const check =
    consul.check === 'http'
      ? ({ kind: 'http', url: `http://${host.includes(':') ? `[${host}]` : host}:${svc.port}${consul.httpPath ?? '/'}`, intervalMs } as const)
      : ({ kind: 'ttl' } as const);
  const registrar = new AgentRegistrar({
    client,
    ttlMs: intervalMs,
    log: {
      info() {},
      warn: (m) => mesh.reportError(new EnmeshError('ENMESH_ERR_REGISTRATION', `${m} (Consul at ${consul.address})`)),
      error: (m) => mesh.reportError(new EnmeshError('ENMESH_ERR_REGISTRATION', `${m} (Consul at ${consul.address})`)),
    },
  });
  registrar.set([instanceDefinition({ service: svc.name, host, port: svc.port, labels: svc.labels ?? {}, zone: svc.zone ?? '' }, `${svc.name}-${host}-${svc.port}`, check)]);
  mesh.onClose(async () => {
    await registrar.close();
    client.destroy();
  });
  return registrar;
}
