/**
 * Bad security settings fail init() with an error that says what to set,
 * and leave nothing hooked; the ENMESH_* variables map onto the options.
 */
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { getGlobalDispatcher } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init } from '../../../src/index.ts';
import { optionsFromEnv } from '../../../src/env.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let file: MeshFile;

beforeAll(async () => {
  file = await createMeshFile('mesh: { trustDomain: demo.local, mtls: strict }\nservices:\n  reviews: { protocol: http, port: 9080 }\n');
});
afterAll(async () => {
  await file?.remove();
});

async function initError(options: Parameters<typeof init>[0]): Promise<{ code: string; message: string }> {
  const before = getGlobalDispatcher();
  const err = await init(options).then(
    async (m) => {
      await m.close();
      throw new Error('init() accepted');
    },
    (e: unknown) => e as { code: string; message: string },
  );
  // Nothing stays hooked.
  expect(getGlobalDispatcher()).toBe(before);
  return err;
}

it('names the missing or conflicting setting', async () => {
  const noCa = await initError({ service: { name: 'reviews' }, config: file.path, security: { token: 't' } });
  expect(noCa.code).toBe('ENMESH_ERR_INIT');
  expect(noCa.message).toMatch(/caUrl.*ENMESH_CA_URL/);
  const both = await initError({ service: { name: 'reviews' }, config: file.path, security: { token: 't', tokenFile: '/x', caUrl: 'http://127.0.0.1:1' } });
  expect(both.message).toMatch(/either token .* or tokenFile/);
  const noService = await initError({ config: file.path, security: { token: 't', caUrl: 'http://127.0.0.1:1' } });
  expect(noService.message).toMatch(/needs the service it identifies.*ENMESH_SERVICE/);
  const badUrl = await initError({ service: { name: 'reviews' }, config: file.path, security: { token: 't', caUrl: 'ftp://x/y' } });
  expect(badUrl.message).toMatch(/security.caUrl: "ftp:\/\/x\/y" is not a base URL/);
});

it('gives up on an unreachable CA after startTimeoutMs, naming it and its last answer', async () => {
  const s = net.createServer((c) => c.destroy());
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  try {
    const started = Date.now();
    const err = await initError({ service: { name: 'reviews' }, config: file.path, security: { token: 't', caUrl: url, startTimeoutMs: 1500 } });
    expect(err.code).toBe('ENMESH_ERR_SVID_UNAVAILABLE');
    expect(err.message).toContain(`no certificate from the CA at ${url} within 1500 ms`);
    expect(err.message).toMatch(/last error: CA at .* unreachable/);
    expect(Date.now() - started).toBeLessThan(15_000);
  } finally {
    s.close();
  }
});

it('reads ENMESH_TOKEN, ENMESH_TOKEN_FILE, ENMESH_CA_URL and ENMESH_SVID_DIR', () => {
  expect(optionsFromEnv({ ENMESH_SERVICE: 'r', ENMESH_TOKEN: ' abc\n', ENMESH_CA_URL: 'http://cp:15000', ENMESH_SVID_DIR: '/run/svid' }).security).toEqual({
    token: 'abc',
    caUrl: 'http://cp:15000',
    writeFiles: '/run/svid',
  });
  expect(optionsFromEnv({ ENMESH_TOKEN_FILE: '/run/token' }).security).toEqual({ tokenFile: '/run/token' });
  expect(optionsFromEnv({}).security).toBeUndefined();
});
