/**
 * An ADS server whose snapshots the test chooses, including broken ones the
 * real control plane would never publish. It is the production AdsServer
 * (same stream state machine, ACK/NACK bookkeeping, client registry) fed by a
 * hand-driven cache instead of the snapshot cache.
 */
import { parseMeshYaml } from '../../../src/config/load.ts';
import { AdsServer } from '../../../src/control-plane/ads-server.ts';
import { ClientRegistry } from '../../../src/control-plane/client-registry.ts';
import type { ClientView } from '../../../src/control-plane/client-registry.ts';
import { buildSnapshot } from '../../../src/control-plane/snapshot-builder.ts';
import { createSnapshot } from '../../../src/control-plane/snapshot.ts';
import type { Snapshot, SnapshotResource } from '../../../src/control-plane/snapshot.ts';
import type { ChangeListener } from '../../../src/control-plane/snapshot-cache.ts';
import { fromAny } from '../../../src/xds/protos.ts';
import { ENMESH_PROFILE, profileForNode } from '../../../src/xds/translate/index.ts';
import type { ClientProfile } from '../../../src/xds/translate/index.ts';
import { makeResource } from '../../../src/xds/translate/resource.ts';

export interface ScriptedAds {
  readonly port: number;
  /** `xds://127.0.0.1:<port>`. */
  readonly url: string;
  /** Serves `snapshot` from now on: every open stream is pushed what changed. */
  serve(snapshot: Snapshot): void;
  /** The registry's view of the streams whose node id contains `part`. */
  clients(part: string): ClientView[];
  close(): Promise<void>;
}

export async function startScriptedAds(first: Snapshot): Promise<ScriptedAds> {
  let current = first;
  const listeners = new Set<ChangeListener>();
  const registry = new ClientRegistry();
  const ads = new AdsServer<ClientProfile>({
    cache: {
      current: () => current,
      onChange(listener) {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
    registry,
    profileForNode,
  });
  const port = await ads.listen('127.0.0.1', 0);
  return {
    port,
    url: `xds://127.0.0.1:${port}`,
    serve(snapshot) {
      const previousModelVersion = current.modelVersion;
      current = snapshot;
      for (const l of listeners) l({ modelVersion: snapshot.modelVersion, previousModelVersion });
    },
    clients: (part) => registry.list().filter((c) => c.nodeId.includes(part)),
    close: () => ads.close(0),
  };
}

/** The snapshot the control plane would serve an enmesh SDK for this mesh.yaml text. */
export function snapshotOf(yaml: string): Snapshot {
  return buildSnapshot(parseMeshYaml(yaml, 'mesh.yaml'), ENMESH_PROFILE);
}

/**
 * A copy of `snapshot` in which the resource `typeUrl`/`name` is decoded,
 * changed by `edit` (which may make it invalid for a client) and re-encoded
 * with a new content version. Cross references must stay intact.
 */
export function tamper(snapshot: Snapshot, typeUrl: string, name: string, edit: (message: Record<string, unknown>) => void): Snapshot {
  const byType = new Map<string, Map<string, SnapshotResource>>();
  for (const [t, byName] of snapshot.resources) byType.set(t, new Map(byName));
  const target = byType.get(typeUrl)?.get(name);
  if (target === undefined) throw new Error(`no ${typeUrl} "${name}" in the snapshot; it has ${[...(byType.get(typeUrl)?.keys() ?? [])].join(', ')}`);
  const message = fromAny(target.any);
  edit(message);
  byType.get(typeUrl)!.set(name, makeResource(typeUrl, name, message));
  return createSnapshot(byType, { modelVersion: `${snapshot.modelVersion}-tampered`, profile: snapshot.profile });
}

/** Names of a type's resources in a snapshot. */
export function namesOf(snapshot: Snapshot, typeUrl: string): string[] {
  return [...(snapshot.resources.get(typeUrl)?.keys() ?? [])];
}
