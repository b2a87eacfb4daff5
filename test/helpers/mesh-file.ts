/** A mesh.yaml in a temp directory that tests rewrite to change the live config. */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Mesh } from '../../src/mesh.ts';

export interface MeshFile {
  readonly path: string;
  /** Replaces the file atomically (write + rename, as editors do). */
  write(yaml: string): Promise<void>;
  /** Writes the file and waits until the mesh applies it. */
  apply(mesh: Mesh, yaml: string, timeoutMs?: number): Promise<void>;
  remove(): Promise<void>;
}

export async function createMeshFile(yaml: string): Promise<MeshFile> {
  const dir = await mkdtemp(join(tmpdir(), 'enmesh-test-'));
  const path = join(dir, 'mesh.yaml');
  let n = 0;
  const write = async (text: string): Promise<void> => {
    const tmp = join(dir, `.mesh.yaml.${n++}`);
    await writeFile(tmp, text);
    await rename(tmp, path);
  };
  await write(yaml);
  return {
    path,
    write,
    async apply(mesh, text, timeoutMs = 5000) {
      const applied = new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`config not applied within ${timeoutMs} ms`)), timeoutMs);
        mesh.once('config', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      await write(text);
      await applied;
    },
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
