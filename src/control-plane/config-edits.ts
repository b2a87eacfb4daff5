/**
 * Targeted edits of mesh.yaml text for the admin API: a route's weights, its
 * fault, a service's rate limit. The edit is made on the YAML document (so
 * comments survive) and carried over to the original text line by line (so
 * the layout of everything the edit did not touch stays as written).
 * Validation is not done here: the caller parses the result like any edit.
 */
import { isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, YAMLMap, YAMLSeq } from 'yaml';
import type { MeshModel } from '../model/types.ts';
import { carryEdit } from './text-diff.ts';

/** An edit the request itself makes impossible (unknown service or route, bad shape): HTTP status and issues. */
export class EditError extends Error {
  readonly status: number;
  readonly issues: readonly { path: string; message: string }[];

  constructor(status: number, message: string, issues: readonly { path: string; message: string }[] = []) {
    super(message);
    this.name = 'EditError';
    this.status = status;
    this.issues = issues;
  }
}

const RENDER = { lineWidth: 0 } as const;

type Edit = (doc: Document.Parsed) => void;

/** Applies `edit` to the document of `text`; returns the new text, layout kept where untouched. */
export function editYaml(text: string, edit: Edit): string {
  const doc = parseDocument(text, { keepSourceTokens: false });
  if (doc.errors.length > 0) {
    throw new EditError(400, `the current config does not parse as YAML (${doc.errors[0]!.message.split('\n')[0]}); fix it with PUT /api/v1/config first`);
  }
  const rendered = doc.toString(RENDER);
  edit(doc);
  return carryEdit(text, rendered, doc.toString(RENDER));
}

function serviceNode(doc: Document.Parsed, service: string): YAMLMap {
  const node = doc.getIn(['services', service], true);
  if (!isMap(node)) {
    const services = doc.get('services', true);
    const known = isMap(services) ? services.items.map((p) => String(isScalar(p.key) ? p.key.value : p.key)) : [];
    throw new EditError(404, `no service "${service}" in the config; services: ${known.join(', ') || '(none)'}`);
  }
  return node;
}

/**
 * The route named `route` of `service`: by its `name`, by its generated name
 * (`route-<index>`), or, for `default`, the last route without a match (the
 * catch-all), created when the service declares no routes.
 */
function routeNode(doc: Document.Parsed, service: string, route: string, create: boolean): YAMLMap {
  const svc = serviceNode(doc, service);
  let routes: unknown = svc.get('routes', true);
  if (routes === undefined || routes === null || (isSeq(routes) && routes.items.length === 0)) {
    if (route !== 'default') throw new EditError(404, `service "${service}" declares no routes; use the route name "default" for its implicit route`);
    if (!create) throw new EditError(404, `service "${service}" has only its implicit default route`);
    const seq = doc.createNode([{ name: 'default' }]) as YAMLSeq;
    svc.set('routes', seq);
    routes = seq;
  }
  if (!isSeq(routes)) throw new EditError(400, `services.${service}.routes is not a list; fix the config first`);
  const names: string[] = [];
  let catchAll: YAMLMap | undefined;
  for (let i = 0; i < routes.items.length; i++) {
    const item = routes.items[i];
    if (!isMap(item)) continue;
    const name = item.get('name');
    const effective = typeof name === 'string' ? name : `route-${i}`;
    names.push(effective);
    if (effective === route) return item;
    if (!item.has('match')) catchAll = item;
  }
  if (route === 'default' && catchAll !== undefined) return catchAll;
  throw new EditError(404, `no route "${route}" in service "${service}"; routes: ${names.join(', ')}`);
}

/** Backend key → YAML backend reference: a subset of the service, a service, or `service/subset`. */
function backendRef(model: MeshModel | undefined, owner: string, key: string): { service?: string; subset?: string } | undefined {
  const svc = model?.services.get(owner);
  if (svc?.subsets.has(key)) return { subset: key };
  if (key === owner) return {};
  if (model?.services.has(key)) return { service: key };
  const slash = key.indexOf('/');
  if (slash > 0) {
    const service = key.slice(0, slash);
    const subset = key.slice(slash + 1);
    const target = model?.services.get(service);
    if (target?.subsets.has(subset)) return service === owner ? { subset } : { service, subset };
  }
  return undefined;
}

function sameRef(item: unknown, ref: { service?: string; subset?: string }, owner: string): boolean {
  if (!isMap(item)) return false;
  const service = item.get('service');
  const subset = item.get('subset');
  return (typeof service === 'string' ? service : owner) === (ref.service ?? owner) && (typeof subset === 'string' ? subset : undefined) === ref.subset;
}

/**
 * Sets a route's backends to exactly `weights` (subset, service or
 * `service/subset` → weight): listed backends keep their place and get the
 * new weight, missing ones are appended, unlisted ones are removed.
 */
export function setRouteWeights(text: string, model: MeshModel | undefined, service: string, route: string, weights: Readonly<Record<string, unknown>>): string {
  const keys = Object.keys(weights);
  if (keys.length === 0) throw new EditError(400, 'weights is empty: give at least one backend, e.g. {"weights": {"v1": 90, "v2": 10}}', [{ path: 'weights', message: 'empty' }]);
  if (model !== undefined && !model.services.has(service)) {
    throw new EditError(404, `no service "${service}" in the config; services: ${[...model.services.keys()].join(', ') || '(none)'}`);
  }
  const refs = new Map<string, { service?: string; subset?: string }>();
  const issues: { path: string; message: string }[] = [];
  for (const key of keys) {
    const ref = backendRef(model, service, key);
    if (ref === undefined) {
      const subsets = [...(model?.services.get(service)?.subsets.keys() ?? [])];
      issues.push({ path: `weights.${key}`, message: `"${key}" is neither a subset of ${service} (${subsets.join(', ') || 'none'}) nor a service of the mesh` });
    } else {
      refs.set(key, ref);
    }
  }
  if (issues.length > 0) throw new EditError(400, `unknown backend in weights: ${issues.map((i) => i.message).join('; ')}`, issues);
  return editYaml(text, (doc) => {
    const node = routeNode(doc, service, route, true);
    const existing: unknown = node.get('backends', true);
    let seq: YAMLSeq;
    if (isSeq(existing)) {
      seq = existing;
    } else {
      seq = doc.createNode([], { flow: true }) as YAMLSeq;
      node.set('backends', seq);
    }
    const flow = seq.flow === true || seq.items.length === 0;
    const placed = new Set<string>();
    seq.items = seq.items.filter((item) => {
      for (const [key, ref] of refs) {
        if (placed.has(key) || !sameRef(item, ref, service)) continue;
        (item as YAMLMap).set('weight', weights[key]);
        placed.add(key);
        return true;
      }
      return false;
    });
    for (const [key, ref] of refs) {
      if (placed.has(key)) continue;
      seq.items.push(doc.createNode({ ...ref, weight: weights[key] }, { flow }));
    }
  });
}

/** Sets (or with `undefined`, removes) a route's `fault`. */
export function setRouteFault(text: string, service: string, route: string, fault: Readonly<Record<string, unknown>> | undefined): string {
  return editYaml(text, (doc) => {
    if (fault === undefined) {
      let node: YAMLMap;
      try {
        node = routeNode(doc, service, route, false);
      } catch (err) {
        // No such route beyond the implicit default: nothing to turn off.
        if (err instanceof EditError && route === 'default' && err.status === 404 && isMap(doc.getIn(['services', service], true))) return;
        throw err;
      }
      node.delete('fault');
      return;
    }
    routeNode(doc, service, route, true).set('fault', doc.createNode(fault));
  });
}

/** Merges `limit` into a service's `rateLimit` (or with `undefined`, removes it). */
export function setRateLimit(text: string, service: string, limit: Readonly<Record<string, unknown>> | undefined): string {
  return editYaml(text, (doc) => {
    const svc = serviceNode(doc, service);
    if (limit === undefined) {
      svc.delete('rateLimit');
      return;
    }
    const current = svc.get('rateLimit', true);
    if (isMap(current)) {
      for (const [k, v] of Object.entries(limit)) current.set(k, v);
    } else {
      svc.set('rateLimit', doc.createNode(limit, { flow: true }));
    }
  });
}
