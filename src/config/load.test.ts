import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnmeshError } from '../errors.ts';
import { isEnmeshError } from '../errors.ts';
import { loadMeshFile, parseMeshYaml } from './load.ts';
import type { LoadOptions } from './load.ts';

const MINIMAL = 'services:\n  reviews:\n    protocol: http\n    port: 9080\n';

function rejection(text: string, options?: LoadOptions): EnmeshError {
  try {
    parseMeshYaml(text, 'mesh.yaml', options);
  } catch (err) {
    if (isEnmeshError(err)) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('parseMeshYaml', () => {
  it('parses YAML 1.2: `on` is a key, not a boolean', () => {
    const m = parseMeshYaml(`${MINIMAL}    routes:\n      - retries: { on: [reset] }\n`, 'mesh.yaml');
    expect(m.services.get('reviews')!.routes[0].retries!.on).toEqual(['reset']);
  });

  it('reports syntax errors with line and column', () => {
    const err = rejection('services:\n  reviews: { protocol: http\n  ratings: 1\n');
    expect(err.code).toBe('ENMESH_ERR_CONFIG_INVALID');
    expect(err.file).toBe('mesh.yaml');
    expect(err.issues!.length).toBeGreaterThan(0);
    expect(err.issues![0].path).toMatch(/^line \d+, column \d+$/);
    expect(err.issues![0].message).toMatch(/^YAML syntax error: /);
    expect(err.message).toMatch(/^mesh\.yaml: \d+ problems?:\n  - line \d+, column \d+: YAML syntax error/);
  });

  it('reports a bad indentation at the right line', () => {
    const err = rejection('services:\n  reviews:\n    protocol: http\n   port: 9080\n');
    expect(err.issues![0].path).toMatch(/^line 4, column \d+$/);
  });

  it('locates duplicate keys and validation issues', () => {
    const err = rejection('mesh:\n  name: a\n  name: b\nservices:\n  reviews:\n    protocol: http\n    port: abc\n');
    expect(err.issues).toEqual([
      { path: 'mesh.name', message: 'duplicate key "name" (first defined at line 2); keep one of them' },
      { path: 'services.reviews.port', message: 'expected an integer 1..65535, got "abc"' },
    ]);
    expect(err.message).toContain('  - mesh.name: duplicate key "name" (first defined at line 2); keep one of them (mesh.yaml:3:3)');
    expect(err.message).toContain('  - services.reviews.port: expected an integer 1..65535, got "abc" (mesh.yaml:7:5)');
  });

  it('locates a missing key at its parent', () => {
    const err = rejection('services:\n  reviews:\n    protocol: http\n');
    expect(err.message).toBe('mesh.yaml: 1 problem:\n  - services.reviews.port: missing required key "port": set it to the port clients call, 1..65535 (mesh.yaml:2:3)');
  });

  it('follows aliases when locating issues', () => {
    const text = [
      'services:',
      '  a:',
      '    protocol: http',
      '    port: 1',
      '    routes:',
      '      - retries: &r { attempts: -1 }',
      '      - name: again',
      '        retries: *r',
      '',
    ].join('\n');
    const err = rejection(text);
    expect(err.issues!.map((i) => i.path)).toEqual(['services.a.routes[0].retries.attempts', 'services.a.routes[1].retries.attempts']);
    expect(err.message).toMatch(/routes\[0\]\.retries\.attempts: .*\(mesh\.yaml:6:\d+\)\n.*routes\[1\]\.retries\.attempts: .*\(mesh\.yaml:6:\d+\)$/);
  });

  it('rejects more than one document', () => {
    const err = rejection(`${MINIMAL}---\n${MINIMAL}`);
    expect(err.issues![0].message).toMatch(/found 2 YAML documents/);
  });

  it('allows aliases for reuse but stops alias bombs', () => {
    const reuse = `${MINIMAL}    routes:\n${Array.from({ length: 20 }, (_, i) => `      - { name: r${i}, retries: ${i === 0 ? '&std ' : '*std'}${i === 0 ? '{ attempts: 3 }' : ''} }`).join('\n')}\n`;
    const m = parseMeshYaml(reuse, 'mesh.yaml');
    expect(m.services.get('reviews')!.routes[19].retries!.attempts).toBe(3);

    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(', ')}]`);
    const err = rejection(`${lines.join('\n')}\n`);
    expect(err.issues![0].message).toMatch(/cannot expand aliases/);
  });

  it('names an alias without an anchor, where it is used', () => {
    const err = rejection(`${MINIMAL}    subsets:\n      v1: &v1 { version: v1 }\n      v2: *nope\n      v3: *v1\n`);
    expect(err.issues).toEqual([{ path: 'services.reviews.subsets.v2', message: 'unknown alias *nope: define &nope before using it' }]);
    expect(err.message).toMatch(/\(mesh\.yaml:7:11\)$/);
    // An anchor defined after its alias does not count.
    expect(rejection('services: *s\nx: &s {}\n').issues![0]).toEqual({ path: 'services', message: 'unknown alias *s: define &s before using it' });
  });

  it('enforces the size limit before parsing', () => {
    const err = rejection(`${MINIMAL}# ${'x'.repeat(200)}\n`, { maxBytes: 100 });
    expect(err.issues).toEqual([{ path: '', message: expect.stringMatching(/^the document is \d+ bytes; the limit is 100 bytes/) }]);
    expect(err.message).toMatch(/^mesh\.yaml: 1 problem:\n  - \(document\): the document is/);
    // The default limit is 1 MiB.
    expect(rejection(`#${'x'.repeat(1024 * 1024)}\n`).issues![0].message).toMatch(/limit is 1048576 bytes/);
  });

  it('enforces the depth limit on block and flow nesting, quickly', () => {
    const started = Date.now();
    const flow = rejection(`x: ${'['.repeat(100_000)}`);
    expect(flow.issues![0].message).toMatch(/nesting is deeper than 32 levels/);
    const block = Array.from({ length: 12 }, (_, i) => `${'  '.repeat(i)}k${i}:`).join('\n');
    expect(rejection(`${block} 1\n`, { maxDepth: 10 }).issues![0].message).toMatch(/deeper than 10 levels/);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('positions of refusals before parsing', () => {
  it('counts lines from 1, on the first line too', () => {
    // The 33rd `[` is at offset 35: column 36.
    expect(rejection(`x: ${'['.repeat(40)}`).message).toMatch(/\(mesh\.yaml:1:36\)$/);
    expect(rejection(`a: 1\nb: 2\nx: ${'['.repeat(40)}`).message).toMatch(/\(mesh\.yaml:3:36\)$/);
  });
});

describe('loadMeshFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'enmesh-load-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads and parses a file, naming it as the source', async () => {
    const file = join(dir, 'mesh.yaml');
    await writeFile(file, MINIMAL);
    const m = await loadMeshFile(file);
    expect(m.source).toBe(file);
    expect(m.services.get('reviews')!.port).toBe(9080);
  });

  it('names the file in validation errors', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'services:\n  reviews: { protocol: http }\n');
    await expect(loadMeshFile(file)).rejects.toMatchObject({ code: 'ENMESH_ERR_CONFIG_INVALID', file, message: expect.stringMatching(new RegExp(`^${file.replace(/[.\\/]/g, '\\$&')}: 1 problem`)) });
  });

  it('refuses a file over the size limit from its size', async () => {
    const file = join(dir, 'big.yaml');
    await writeFile(file, `${MINIMAL}#${'x'.repeat(300)}\n`);
    await expect(loadMeshFile(file, { maxBytes: 200 })).rejects.toMatchObject({
      code: 'ENMESH_ERR_CONFIG_INVALID',
      file,
      issues: [{ path: '', message: expect.stringMatching(/^the document is 3\d\d bytes; the limit is 200 bytes/) }],
    });
  });

  it('refuses bytes that are not UTF-8 instead of replacing them', async () => {
    const file = join(dir, 'latin1.yaml');
    // A Latin-1 "é" (0xE9) in a label on line 5; a valid "é" before it on line 1 does not count.
    await writeFile(file, Buffer.concat([Buffer.from(`# café\n${MINIMAL}    endpoints: [{ address: "127.0.0.1:1", labels: { a: "`), Buffer.from([0xe9]), Buffer.from('" } }]\n')]));
    await expect(loadMeshFile(file)).rejects.toMatchObject({
      code: 'ENMESH_ERR_CONFIG_INVALID',
      file,
      message: `${file}: 1 problem:\n  - (document): not valid UTF-8 at line 6; save the file as UTF-8 (${file}:6:1)`,
    });
    await writeFile(file, `\ufeff# café\n${MINIMAL}`);
    expect((await loadMeshFile(file)).services.has('reviews')).toBe(true);
  });

  it('an unreadable file is ENMESH_ERR_CONFIG_READ naming the path', async () => {
    const file = join(dir, 'missing.yaml');
    const err = await loadMeshFile(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isEnmeshError(err) && err.code).toBe('ENMESH_ERR_CONFIG_READ');
    expect((err as Error).message).toBe(`cannot read mesh config ${file}: ENOENT`);
    expect((err as EnmeshError).file).toBe(file);
  });
});
