/**
 * An immutable, versioned set of xDS resources for one client profile: what a
 * client of that profile should hold. Built from a MeshModel through the
 * translator and checked for consistency before anyone may publish it.
 *
 * The version is a hash of every resource version (themselves content hashes),
 * so two control-plane replicas given the same model agree on the version.
 */
import { createHash } from 'node:crypto';
import { EnmeshError } from '../errors.ts';
import type { ConfigIssue } from '../errors.ts';
import { ADS_TYPE_ORDER } from '../xds/type-urls.ts';
import type { AnyMessage } from '../xds/protos.ts';
import { checkConsistency } from './consistency.ts';

/** One resource as the snapshot holds it (the translator's output shape). */
export interface SnapshotResource {
  readonly typeUrl: string;
  readonly name: string;
  /** Content hash of the resource. */
  readonly version: string;
  readonly any: AnyMessage;
}

export type ResourcesByType = ReadonlyMap<string, ReadonlyMap<string, SnapshotResource>>;

export interface Snapshot {
  /** Hash of every resource version: equal content, equal version. */
  readonly version: string;
  /** Version of the model the snapshot was built from. */
  readonly modelVersion: string;
  /** Profile kind the resources were translated for. */
  readonly profile: string;
  /** Resources by type URL, then by name. Every ADS type is present (maybe empty). */
  readonly resources: ResourcesByType;
  /** Per type URL: hash of that type's resource versions. */
  readonly typeVersions: ReadonlyMap<string, string>;
  /** Features of the model this profile cannot express, each a sentence. */
  readonly degradations: readonly string[];
}

const EMPTY: ReadonlyMap<string, SnapshotResource> = new Map();

/**
 * Freezes translated resources into a Snapshot, after the consistency check.
 * Throws ENMESH_ERR_CONTROL_PLANE listing every dangling reference when the
 * resources are inconsistent: such a snapshot must never reach a client.
 */
export function createSnapshot(
  byType: ResourcesByType,
  meta: { readonly modelVersion: string; readonly profile: string; readonly degradations?: readonly string[] },
): Snapshot {
  const issues = checkConsistency(byType);
  if (issues.length > 0) {
    throw new EnmeshError(
      'ENMESH_ERR_CONTROL_PLANE',
      `refusing inconsistent snapshot for model ${meta.modelVersion} (profile ${meta.profile}): ` +
        issues.map((i) => `${i.path}: ${i.message}`).join('; '),
      { issues },
    );
  }
  const resources = new Map<string, ReadonlyMap<string, SnapshotResource>>();
  const typeVersions = new Map<string, string>();
  const types = [...new Set([...ADS_TYPE_ORDER, ...byType.keys()])];
  const all = createHash('sha256');
  for (const typeUrl of types) {
    const byName = byType.get(typeUrl) ?? EMPTY;
    resources.set(typeUrl, byName);
    const v = hashType(typeUrl, byName);
    typeVersions.set(typeUrl, v);
    all.update(`${typeUrl}=${v}\n`);
  }
  return Object.freeze({
    version: all.digest('hex').slice(0, 16),
    modelVersion: meta.modelVersion,
    profile: meta.profile,
    resources,
    typeVersions,
    degradations: Object.freeze([...(meta.degradations ?? [])]),
  });
}

/** Resources of one type (an empty map for a type the snapshot lacks). */
export function resourcesOf(snapshot: Snapshot, typeUrl: string): ReadonlyMap<string, SnapshotResource> {
  return snapshot.resources.get(typeUrl) ?? EMPTY;
}

function hashType(typeUrl: string, byName: ReadonlyMap<string, SnapshotResource>): string {
  const h = createHash('sha256').update(typeUrl);
  for (const name of [...byName.keys()].sort()) h.update(`\n${name}@${byName.get(name)!.version}`);
  return h.digest('hex').slice(0, 16);
}

export type { ConfigIssue };
