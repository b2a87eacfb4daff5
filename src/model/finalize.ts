import { createHash } from 'node:crypto';
import { EnmeshError } from '../errors.ts';
import type { EndpointModel, MeshModel, ServiceModel } from './types.ts';

/**
 * Turns a draft model into a published one: computes its content `version` and
 * freezes it deeply. Every builder of a MeshModel (mesh.yaml, xDS, the control
 * plane's merges) goes through here so versions are comparable across sources.
 *
 * The draft's nested objects are frozen in place, not copied: hand over a draft
 * you no longer mean to change.
 */
export function finalizeModel(draft: Omit<MeshModel, 'version'>): MeshModel {
  const model: MeshModel = {
    version: contentVersion(draft),
    source: draft.source,
    mesh: draft.mesh,
    services: draft.services,
    policies: draft.policies,
  };
  return deepFreeze(model);
}

/**
 * A new model in which `service`'s endpoint list is `endpoints`; everything else
 * is shared with `model` (it is frozen, so sharing is safe). Used to merge
 * self-registered or discovered instances into the configured model.
 */
export function withEndpoints(model: MeshModel, service: string, endpoints: readonly EndpointModel[]): MeshModel {
  const current = model.services.get(service);
  if (current === undefined) {
    throw new EnmeshError(
      'ENMESH_ERR_REGISTRATION',
      `cannot set endpoints of unknown service "${service}": declare it under services in mesh.yaml first`,
    );
  }
  const services = new Map<string, ServiceModel>();
  for (const [name, svc] of model.services) {
    services.set(name, name === service ? { ...svc, endpoints: endpoints.map((e) => ({ ...e, labels: { ...e.labels } })) } : svc);
  }
  return finalizeModel({ source: model.source, mesh: model.mesh, services, policies: model.policies });
}

/** Short sha256 of the canonical JSON of the content; `source` is not content. */
function contentVersion(draft: Omit<MeshModel, 'version'>): string {
  const text = canonicalJson({ mesh: draft.mesh, services: draft.services, policies: draft.policies });
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * JSON with object keys sorted and Maps written as sorted `[key, value]` pairs,
 * so key order never changes the version. `undefined` members are skipped,
 * as JSON.stringify does.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return value === undefined ? 'null' : JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  }
  if (value instanceof Map) {
    const keys = [...value.keys()].map(String).sort();
    return `{"$map":[${keys.map((k) => `[${JSON.stringify(k)},${canonicalJson(value.get(k))}]`).join(',')}]}`;
  }
  const obj = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(obj).sort()) {
    const v = obj[key];
    if (v === undefined || typeof v === 'function') continue;
    parts.push(`${JSON.stringify(key)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

function refuseMutation(): never {
  throw new TypeError('the mesh model is immutable');
}

/**
 * Object.freeze, recursively. Maps cannot be frozen by Object.freeze, so their
 * mutators are shadowed by own properties that throw; reads (`get`, `has`,
 * iteration) stay the native, fast Map methods.
 */
export function deepFreeze<T>(root: T): T {
  const seen = new WeakSet<object>();
  const visit = (value: unknown): void => {
    if (value === null || typeof value !== 'object' || seen.has(value)) return;
    seen.add(value);
    if (value instanceof Map) {
      for (const [k, v] of value) {
        visit(k);
        visit(v);
      }
      if (!Object.isFrozen(value)) {
        Object.defineProperty(value, 'set', { value: refuseMutation });
        Object.defineProperty(value, 'delete', { value: refuseMutation });
        Object.defineProperty(value, 'clear', { value: refuseMutation });
      }
    } else {
      for (const key of Object.keys(value)) visit((value as Record<string, unknown>)[key]);
    }
    Object.freeze(value);
  };
  visit(root);
  return root;
}
