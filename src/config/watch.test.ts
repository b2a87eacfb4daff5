import { mkdtemp, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import type { MeshModel } from '../model/types.ts';
import { loadMeshFile } from './load.ts';
import { watchMeshFile } from './watch.ts';
import type { MeshFileWatcher } from './watch.ts';

const config = (port: number): string => `services:\n  reviews:\n    protocol: http\n    port: ${port}\n`;
const DEBOUNCE = 30;
/** Long enough for an event, the debounce and a read to have happened if they were going to. */
const QUIET = 300;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('watchMeshFile', () => {
  let dir: string;
  let file: string;
  let watcher: MeshFileWatcher | undefined;
  let models: MeshModel[];
  let errors: unknown[];

  const start = async (knownVersion?: string, debounceMs = DEBOUNCE): Promise<void> => {
    watcher = watchMeshFile(file, {
      onModel: (m) => models.push(m),
      onError: (e) => errors.push(e),
      debounceMs,
      ...(knownVersion === undefined ? {} : { knownVersion }),
    });
  };
  const port = (i: number): number => models[i].services.get('reviews')!.port;
  /** Write-then-rename, so no read can catch the file half-written (in-place writes are tested separately). */
  const replace = async (text: string): Promise<void> => {
    const tmp = join(dir, `.tmp-${Math.random().toString(36).slice(2)}`);
    await writeFile(tmp, text);
    await rename(tmp, file);
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'enmesh-watch-'));
    file = join(dir, 'mesh.yaml');
    models = [];
    errors = [];
    await writeFile(file, config(1000));
  });

  afterEach(async () => {
    watcher?.close();
    watcher = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('emits a model on a valid in-place write', async () => {
    await start((await loadMeshFile(file)).version);
    await writeFile(file, config(1001));
    await until(() => models.length === 1, 'the first model');
    expect(port(0)).toBe(1001);
    expect(models[0].source).toBe(file);
  });

  it('emits an error and no model on invalid content', async () => {
    await start((await loadMeshFile(file)).version);
    await replace(config(1001));
    await until(() => models.length === 1, 'the first model');
    await replace('services:\n  reviews:\n    protocol: http\n    port: nope\n');
    await until(() => errors.length === 1, 'the error');
    expect(isEnmeshError(errors[0]) && errors[0].code).toBe('ENMESH_ERR_CONFIG_INVALID');
    expect((errors[0] as Error).message).toContain('services.reviews.port: expected an integer 1..65535, got "nope"');
    await sleep(QUIET);
    expect(models).toHaveLength(1);
    expect(errors).toHaveLength(1);
  });

  it('picks up an atomic replace by rename', async () => {
    await start((await loadMeshFile(file)).version);
    const tmp = join(dir, '.mesh.yaml.tmp');
    await writeFile(tmp, config(2002));
    await rename(tmp, file);
    await until(() => models.length === 1, 'the renamed-in model');
    expect(port(0)).toBe(2002);

    // A second replace works too: the watch is on the directory, not the replaced inode.
    await writeFile(tmp, config(2003));
    await rename(tmp, file);
    await until(() => models.length === 2, 'the second replace');
    expect(port(1)).toBe(2003);
    expect(errors).toEqual([]);
  });

  it('does not emit when the content (version) is unchanged', async () => {
    await start((await loadMeshFile(file)).version);
    await replace(`# only a comment changed\n${config(1000)}`);
    await writeFile(join(dir, 'other.yaml'), config(5));
    await sleep(QUIET);
    expect(models).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('survives the file being deleted and re-created', async () => {
    await start((await loadMeshFile(file)).version);
    await unlink(file);
    await until(() => errors.length === 1, 'the read error');
    expect(isEnmeshError(errors[0]) && errors[0].code).toBe('ENMESH_ERR_CONFIG_READ');
    await writeFile(file, config(3003));
    await until(() => models.length === 1, 'the re-created model');
    expect(port(0)).toBe(3003);
  });

  it('an emptied file is reported once it stays empty, not at the first (possibly mid-write) read', async () => {
    await start((await loadMeshFile(file)).version);
    await writeFile(file, '');
    await until(() => errors.length === 1, 'the empty-file error');
    expect((errors[0] as Error).message).toMatch(/the document is empty/);
    await sleep(QUIET);
    expect(errors).toHaveLength(1);
    expect(models).toEqual([]);
  });

  it('after an error, the same good content is reported again so the caller can clear the error', async () => {
    await start((await loadMeshFile(file)).version);
    await replace('services: [');
    await until(() => errors.length === 1, 'the syntax error');
    await replace(config(1000));
    await until(() => models.length === 1, 'the recovered model');
    expect(port(0)).toBe(1000);
  });

  it('with a known version, reports a file that changed before watching began', async () => {
    const known = (await loadMeshFile(file)).version;
    await writeFile(file, config(4004));
    await start(known);
    await until(() => models.length === 1, 'the catch-up model');
    expect(port(0)).toBe(4004);
  });

  it('without a known version, the first read is only a baseline', async () => {
    await start();
    await sleep(QUIET);
    expect(models).toEqual([]);
    await replace(config(1005));
    await until(() => models.length === 1, 'the model after the baseline');
    expect(port(0)).toBe(1005);
  });

  it('close() stops events and is idempotent', async () => {
    await start((await loadMeshFile(file)).version);
    watcher!.close();
    watcher!.close();
    await writeFile(file, config(6006));
    await writeFile(file, 'bad: [');
    await sleep(QUIET);
    expect(models).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('close() during a pending debounce cancels it', async () => {
    // A debounce far longer than the write, so close() surely lands inside it even on a busy machine.
    await start((await loadMeshFile(file)).version, 1000);
    await sleep(QUIET); // the start-up catch-up read has settled
    await writeFile(file, config(7007));
    await sleep(20);
    watcher!.close();
    await sleep(1000 + QUIET);
    expect(models).toEqual([]);
  });

  it('a missing directory is ENMESH_ERR_CONFIG_READ at start', () => {
    expect(() => watchMeshFile(join(dir, 'nope', 'mesh.yaml'), { onModel() {}, onError() {} })).toThrow(
      expect.objectContaining({ code: 'ENMESH_ERR_CONFIG_READ' }),
    );
  });
});
