/** `bin/enmesh.js control-plane` as a user runs it: a real process, real ports, real signals. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';
import { meshFixture } from '../../helpers/grpc-xds/fixture.ts';
import { RawAds } from '../../helpers/grpc-xds/raw-ads.ts';
import { LISTENER } from '../../../src/xds/type-urls.ts';

const BIN = fileURLToPath(new URL('../../../bin/enmesh.js', import.meta.url));
let file: MeshFile;

beforeAll(async () => {
  file = await createMeshFile(meshFixture('ratings-plain.yaml', { v1: 7201, v2: 7202 }));
});
afterAll(async () => {
  await file?.remove();
});

function run(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const firstLine = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no output within 10 s; stderr: ${err}`)), 10_000);
    child.stdout.on('data', () => {
      if (out.includes('\n')) {
        clearTimeout(timer);
        resolve(out.slice(0, out.indexOf('\n')));
      }
    });
  });
  return { child, exit, firstLine, stderr: () => err };
}

describe('enmesh control-plane (process)', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`serves ADS and the admin API, and exits 0 on ${signal}`, async () => {
      const p = run(['control-plane', '--config', file.path, '--xds-port', '0', '--admin-port', '0']);
      try {
        const line = await p.firstLine;
        const m = /^enmesh control-plane listening: xds 127\.0\.0\.1:(\d+), admin http:\/\/127\.0\.0\.1:(\d+)$/.exec(line);
        expect(m, line).not.toBeNull();
        const health = (await (await fetch(`http://127.0.0.1:${m![2]}/healthz`)).json()) as { status: string };
        expect(health.status).toBe('ok');
        const ads = new RawAds(Number(m![1]), 'sotw');
        ads.send({ node: { id: 'cli-test' }, type_url: LISTENER, resource_names: [] });
        const lds = await ads.next((r) => r.type_url === LISTENER, 5000);
        expect(lds.resources).toHaveLength(2);
        ads.close();
        p.child.kill(signal);
        expect(await p.exit).toBe(0);
        expect(p.stderr()).toMatch(new RegExp(`${signal} received, shutting down`));
      } finally {
        p.child.kill('SIGKILL');
      }
    });
  }

  it('exits 1 and names the problem when the config is invalid', async () => {
    const bad = await createMeshFile('services:\n  ratings: { protocol: grpc }\n');
    try {
      const p = run(['control-plane', '--config', bad.path, '--xds-port', '0', '--admin-port', '0']);
      expect(await p.exit).toBe(1);
      expect(p.stderr()).toMatch(/services\.ratings\.port/);
    } finally {
      await bad.remove();
    }
  });
});
