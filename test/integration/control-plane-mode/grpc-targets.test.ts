/**
 * gRPC target names against the control plane: both `xds:///ratings` and
 * `xds:///ratings:50051` resolve, for an application in control-plane mode
 * (init() points grpc-js-xds at the control plane) and for a plain
 * grpc-js-xds client with its own bootstrap; in control-plane mode the plain
 * names (`ratings:50051`) are routed through grpc-js-xds too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';
import { meshFixture } from '../../helpers/grpc-xds/fixture.ts';
import { startRatingsBackend } from '../../helpers/grpc-xds/server.ts';
import type { RatingsBackend } from '../../helpers/grpc-xds/server.ts';
import { spawnXdsClient } from '../../helpers/grpc-xds/spawn-client.ts';
import { spawnControlPlane } from '../../helpers/cp/control-plane-process.ts';
import type { ControlPlaneProcess } from '../../helpers/cp/control-plane-process.ts';
import { spawnSdk } from '../../helpers/cp/sdk-process.ts';
import type { SdkProcess } from '../../helpers/cp/sdk-process.ts';

const TARGETS = ['xds:///ratings', 'xds:///ratings:50051'] as const;
let v1: RatingsBackend;
let v2: RatingsBackend;
let file: MeshFile;
let cp: ControlPlaneProcess;
let sdk: SdkProcess | undefined;

beforeAll(async () => {
  v1 = await startRatingsBackend('v1');
  v2 = await startRatingsBackend('v2');
  file = await createMeshFile(meshFixture('ratings-plain.yaml', { v1: v1.port, v2: v2.port }));
  cp = await spawnControlPlane({ config: file.path });
});

afterAll(async () => {
  await sdk?.kill();
  await cp?.kill();
  await file?.remove();
  await v1?.close();
  await v2?.close();
});

describe('gRPC xds: targets', () => {
  it('resolve in an application started in control-plane mode', async () => {
    sdk = await spawnSdk({ controlPlane: [cp.url], service: 'productpage' });
    for (const target of TARGETS) {
      const r = await sdk.grpc(target, 20);
      expect(r.errors, target).toEqual([]);
      expect(r.ok, target).toBe(20);
      expect(Object.keys(r.byBackend).sort(), target).toEqual(['v1', 'v2']);
    }
    // grpc-js-xds connected with the node id init() gave it, and took the gRPC profile.
    const { clients } = await cp.admin<{ clients: { nodeId: string; profile: string }[] }>('/api/v1/clients');
    const grpcClient = clients.find((c) => c.nodeId.includes(`~${sdk!.child.pid}~`) && c.nodeId.endsWith('~grpc'));
    expect(grpcClient?.profile, JSON.stringify(clients.map((c) => [c.nodeId, c.profile]))).toBe('grpc-xds');
  });

  it('routes the names an application calls without xds: (ratings:50051, dns:///ratings:50051, ratings) the same way', async () => {
    sdk ??= await spawnSdk({ controlPlane: [cp.url], service: 'productpage' });
    for (const target of ['ratings:50051', 'dns:///ratings:50051', 'ratings']) {
      const r = await sdk.grpc(target, 20);
      expect(r.errors, target).toEqual([]);
      expect(r.ok, target).toBe(20);
      // Both versions answer: the calls went through the control plane's endpoints, not a DNS name.
      expect(Object.keys(r.byBackend).sort(), target).toEqual(['v1', 'v2']);
    }
  });

  it.each(TARGETS)('%s resolves for a plain grpc-js-xds client', async (target) => {
    const run = spawnXdsClient({ xdsPort: cp.xdsPort, nodeId: `plain-${target}`, calls: 20, target });
    const lines = await run.done;
    expect(lines.filter((l) => l.code !== 0)).toEqual([]);
    expect(lines).toHaveLength(20);
    expect(new Set(lines.map((l) => l.backend))).toEqual(new Set(['v1', 'v2']));
  });
});
