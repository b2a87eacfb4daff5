/** A control plane on ephemeral ports over a mesh file the test rewrites. */
import { parseMeshYaml } from '../../../src/config/load.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane, ControlPlaneOptions } from '../../../src/control-plane/server.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import { expect } from 'vitest';
import type { ClientView } from '../../../src/control-plane/client-registry.ts';
import { ADS_TYPE_ORDER } from '../../../src/xds/type-urls.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';

export interface Harness {
  readonly cp: ControlPlane;
  readonly file: MeshFile;
  /** Writes the mesh file and waits until the control plane publishes it. */
  apply(yaml: string, timeoutMs?: number): Promise<void>;
  /** GET on the admin API, parsed as JSON. */
  admin<T = unknown>(path: string): Promise<T>;
  close(): Promise<void>;
}

export async function startHarness(yaml: string, options: Partial<ControlPlaneOptions> = {}): Promise<Harness> {
  const file = await createMeshFile(yaml);
  const cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ...options });
  return {
    cp,
    file,
    async apply(text, timeoutMs = 3000) {
      const want = parseMeshYaml(text, file.path).version;
      await file.write(text);
      await until(() => cp.configError() === null && cp.configVersion() === want, timeoutMs, `config ${want} not published`);
    },
    async admin<T>(path: string): Promise<T> {
      const res = await fetch(`http://127.0.0.1:${cp.adminPort}${path}`);
      return (await res.json()) as T;
    },
    async close() {
      await cp.close();
      await file.remove();
    },
  };
}

export async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The control plane's registry view of a connected client, by node id. */
export async function clientView(h: Harness, nodeId: string): Promise<ClientView> {
  const { clients } = await h.admin<{ clients: ClientView[] }>('/api/v1/clients');
  const view = clients.find((c) => c.nodeId === nodeId);
  if (view === undefined) throw new Error(`no client ${nodeId} in ${JSON.stringify(clients.map((c) => c.nodeId))}`);
  return view;
}

/** Every ADS type was ACKed and never NACKed by this client. */
export function expectEveryTypeAcked(view: ClientView): void {
  for (const typeUrl of ADS_TYPE_ORDER) {
    const t = view.types[typeUrl];
    expect(t, typeUrl).toBeDefined();
    expect(t!.lastNack, `${typeUrl} NACKed`).toBeNull();
    expect(t!.nacks).toBe(0);
    expect(t!.ackedVersion, `${typeUrl} never ACKed`).not.toBe('');
  }
}
