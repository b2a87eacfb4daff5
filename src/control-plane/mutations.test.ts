import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseMeshYaml } from '../config/load.ts';
import type { MeshModel } from '../model/types.ts';
import { AuditLog } from './audit.ts';
import { FileConfigStore, isConfigConflict } from './config-store.ts';
import { DrainSet } from './drains.ts';
import { ConfigHistory } from './history.ts';
import { MutationError, MutationService } from './mutations.ts';

const TEXT = 'services:\n  reviews:\n    protocol: http\n    port: 9080\n    endpoints: [{ address: "127.0.0.1:1", labels: { v: a } }, { address: "127.0.0.1:2", labels: { v: b } }]\n    subsets: { a: { v: a }, b: { v: b } }\n';

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'enmesh-mutations-'));
  path = join(dir, 'mesh.yaml');
  await writeFile(path, TEXT);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A service whose "control plane" publishes whatever the file holds when asked to wait for it. */
async function setup(): Promise<{ service: MutationService; audit: AuditLog; history: ConfigHistory; drains: DrainSet; published: () => string | undefined; model: () => MeshModel }> {
  const store = new FileConfigStore(path);
  const audit = new AuditLog();
  const history = new ConfigHistory(3);
  const drains = new DrainSet();
  let base = parseMeshYaml(TEXT, path);
  let publishedBase: string | undefined = base.version;
  let model = base;
  const service: MutationService = new MutationService({
    store,
    audit,
    history,
    drains,
    configVersion: () => publishedBase,
    publishedModel: () => model,
    async awaitPublished(version) {
      base = parseMeshYaml(await readFile(path, 'utf8'), path);
      if (base.version !== version) throw new Error('file does not hold it');
      publishedBase = version;
      model = drains.apply(base);
      await service.published(version);
    },
    republish: () => {
      model = drains.apply(base);
    },
  });
  await service.published(base.version);
  return { service, audit, history, drains, published: () => publishedBase, model: () => model };
}

describe('MutationService', () => {
  it('serialises concurrent changes: both land, each audited with its own diff', async () => {
    const { service, audit } = await setup();
    const [a, b] = await Promise.all([
      service.setWeights('reviews', 'default', { a: 1, b: 1 }, { actor: 'one' }),
      service.setRateLimit('reviews', { requestsPerSecond: 9 }, { actor: 'two' }),
    ]);
    const text = await readFile(path, 'utf8');
    expect(text).toContain('weight: 1');
    expect(text).toContain('rateLimit: { requestsPerSecond: 9 }');
    expect(a.version).not.toBe(b.version);
    expect(audit.list().map((e) => `${e.actor} ${e.action} ${e.result}`)).toEqual(['two service.rate-limit applied', 'one route.weights applied']);
    expect(audit.list()[0]!.diff.split('\n').filter((l) => l.startsWith('+ ') || l.startsWith('+  '))).toEqual(['+    rateLimit: { requestsPerSecond: 9 }']);
  });

  it('keeps the file and its mode on a rejected change, with issues carrying line and column', async () => {
    await chmod(path, 0o640);
    const { service, audit, published } = await setup();
    const before = published();
    const err = await service.putConfig('services:\n  reviews:\n    protocol: smtp\n    port: 9080\n').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MutationError);
    expect((err as MutationError).status).toBe(400);
    expect((err as MutationError).issues[0]).toMatchObject({ path: 'services.reviews.protocol', line: 3 });
    expect(await readFile(path, 'utf8')).toBe(TEXT);
    expect(published()).toBe(before);
    expect(audit.list()[0]).toMatchObject({ result: 'rejected', action: 'config.put' });
    await service.setWeights('reviews', 'default', { a: 1 });
    expect((await stat(path)).mode & 0o777).toBe(0o640);
  });

  it('keeps a mode the umask would narrow (0664) on an API write', async () => {
    await chmod(path, 0o664);
    const previous = process.umask(0o022);
    try {
      const { service } = await setup();
      await service.setWeights('reviews', 'default', { a: 3, b: 1 });
      expect(await readFile(path, 'utf8')).toMatch(/weight: 3/);
      expect((await stat(path)).mode & 0o777).toBe(0o664);
    } finally {
      process.umask(previous);
    }
  });

  it('keeps a bounded history and rolls back to a kept version only', async () => {
    const { service, history } = await setup();
    const first = history.current()!.version;
    for (const w of [1, 2, 3]) await service.setWeights('reviews', 'default', { a: w, b: 1 }, { actor: `op${w}` });
    expect(history.list().map((v) => v.actor)).toEqual(['op3', 'op2', 'op1']);
    await expect(service.rollback(first)).rejects.toMatchObject({ status: 404 });
    const target = history.list()[2]!;
    const back = await service.rollback(target.version, { actor: 'undo' });
    expect(back.version).toBe(target.version);
    expect(await readFile(path, 'utf8')).toBe(target.text);
    expect(history.current()).toMatchObject({ version: target.version, actor: 'undo', source: 'rollback' });
  });

  it('refuses a stale expectedVersion with 409 and a store write that lost a race', async () => {
    const { service } = await setup();
    await expect(service.putConfig(TEXT.replace('9080', '9090'), { expectedVersion: 'stale' })).rejects.toMatchObject({ status: 409 });
    const store = new FileConfigStore(path);
    const { version } = await store.read();
    await writeFile(path, `${TEXT}# edited by hand\n`);
    const lost = await store.write(TEXT, { expected: version! }).catch((e: unknown) => e);
    expect(isConfigConflict(lost)).toBe(true);
  });

  it('drains only known endpoints and marks them draining and unhealthy', async () => {
    const { service, model } = await setup();
    await expect(service.drain('reviews', '127.0.0.1:9', true)).rejects.toMatchObject({ status: 404 });
    await expect(service.drain('nope', '127.0.0.1:1', true)).rejects.toMatchObject({ status: 404 });
    const res = await service.drain('reviews', '127.0.0.1:2', true);
    expect(res).toMatchObject({ drained: true, endpoint: '127.0.0.1:2' });
    const eps = model().services.get('reviews')!.endpoints;
    expect(eps.map((e) => [e.port, e.healthy, e.draining === true])).toEqual([
      [1, true, false],
      [2, false, true],
    ]);
    await service.drain('reviews', '127.0.0.1:2', false);
    expect(model().services.get('reviews')!.endpoints.every((e) => e.healthy)).toBe(true);
  });
});
