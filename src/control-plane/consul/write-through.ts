/**
 * With Consul configured, instances that registered with this replica over
 * their ADS stream are written through to Consul (agent registration with a
 * TTL check this replica keeps passing while the stream lives), so every
 * replica sees them through the catalog and serves the same endpoints.
 *
 * Each replica registers under its own service id (`…~<replica>`): when an
 * instance moves to another replica, the new replica's entry appears before
 * the old one's grace period removes the old entry, and the catalog source
 * merges the two (same address) into one endpoint.
 */
import type { RegisteredInstanceView } from '../registrations.ts';
import type { AgentCheck, AgentInstance } from './agent-registrar.ts';

/** Consul accepts Meta keys of letters, digits, `_` and `-` (up to 128 chars); other labels travel as `k=v` tags. */
const META_KEY = /^[A-Za-z0-9_-]{1,128}$/;

export function agentInstanceOf(r: RegisteredInstanceView, replicaId: string): AgentInstance {
  return instanceDefinition(r, `enmesh-${r.service}-${r.host}-${r.port}~${replicaId}`, { kind: 'ttl' });
}

/** One instance as a Consul agent service: labels as Meta (or `k=v` tags), zone as Meta `zone`. */
export function instanceDefinition(
  r: { readonly service: string; readonly host: string; readonly port: number; readonly labels: Readonly<Record<string, string>>; readonly zone: string },
  id: string,
  check: AgentCheck,
): AgentInstance {
  const meta: Record<string, string> = {};
  const tags: string[] = [];
  for (const [k, v] of Object.entries(r.labels)) {
    if (META_KEY.test(k) && k !== 'zone') meta[k] = v;
    else tags.push(`${k}=${v}`);
  }
  if (r.zone !== '') meta.zone = r.zone;
  return { id, name: r.service, address: r.host, port: r.port, tags: tags.sort(), meta, check };
}
