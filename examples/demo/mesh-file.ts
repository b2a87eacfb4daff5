/**
 * The demo's own copy of examples/bookinfo/mesh.yaml: with static endpoints
 * added in local-file mode, and the reviews split rewritten for canary steps.
 * Edits go through the YAML document, so the file keeps its comments and
 * layout, and land with a rename, so a watcher never reads half a file.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';
import { isMap, isSeq, parseDocument, type Document } from 'yaml';

export interface StaticEndpoint {
  readonly service: string;
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Writes `template` to `path`, with `endpoints` listed under their services. */
export async function writeMeshFile(path: string, template: string, endpoints: readonly StaticEndpoint[] = []): Promise<void> {
  const doc = parseDocument(template);
  for (const e of endpoints) {
    const at = ['services', e.service, 'endpoints'];
    if (!doc.hasIn(at)) doc.setIn(at, doc.createNode([]));
    doc.addIn(at, doc.createNode({ address: e.address, labels: e.labels }, { flow: true }));
  }
  await replace(path, doc);
}

/** Sets the weight of each subset in the `default` route of reviews, e.g. `{ v1: 50, v2: 50 }`. */
export async function setReviewsSplit(path: string, weights: Readonly<Record<string, number>>): Promise<void> {
  const doc = parseDocument(await readFile(path, 'utf8'));
  const routes = doc.getIn(['services', 'reviews', 'routes']);
  const index = isSeq(routes) ? routes.items.findIndex((r) => isMap(r) && r.get('name') === 'default') : -1;
  if (index < 0) throw new Error(`${path}: services.reviews.routes has no route named "default" to shift`);
  const at = ['services', 'reviews', 'routes', index, 'backends'];
  const backends = doc.getIn(at);
  if (!isSeq(backends)) throw new Error(`${path}: the default route of reviews has no backends to shift`);
  backends.items.forEach((b, i) => {
    const weight = isMap(b) ? weights[String(b.get('subset'))] : undefined;
    if (weight !== undefined) doc.setIn([...at, i, 'weight'], weight);
  });
  await replace(path, doc);
}

let writes = 0;

async function replace(path: string, doc: Document): Promise<void> {
  const tmp = `${path}.${process.pid}.${writes++}.tmp`;
  await writeFile(tmp, doc.toString());
  await rename(tmp, path);
}
