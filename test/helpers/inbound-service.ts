/**
 * A process's own service under the mesh (`init({ service: { name: 'ratings' } })`),
 * answered by a plain node:http server on 127.0.0.1, for tests of the inbound checks.
 * `handled` counts the requests the application saw; `delayMs` delays its answers.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { init, type Mesh } from '../../src/index.ts';
import { createMeshFile, type MeshFile } from './mesh-file.ts';

export interface InboundService {
  readonly mesh: Mesh;
  readonly file: MeshFile;
  readonly port: number;
  handled: number;
  delayMs: number;
  /** mesh.yaml of the `ratings` service with `extra` lines under it. */
  yaml(extra: string): string;
  close(): Promise<void>;
}

const yaml = (extra: string): string => `
services:
  ratings:
    protocol: http
    port: 9080
${extra}`;

export async function startInboundService(extra = ''): Promise<InboundService> {
  const file = await createMeshFile(yaml(extra));
  const mesh = await init({ service: { name: 'ratings' }, config: file.path });
  const server = http.createServer((_req, res) => {
    svc.handled++;
    setTimeout(() => res.end('ok'), svc.delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const svc: InboundService = {
    mesh,
    file,
    port: (server.address() as AddressInfo).port,
    handled: 0,
    delayMs: 0,
    yaml,
    async close() {
      server.closeAllConnections();
      server.close();
      await mesh.close();
      await file.remove();
    },
  };
  return svc;
}
