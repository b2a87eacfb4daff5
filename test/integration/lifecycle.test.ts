/**
 * init() and close() are symmetric and idempotent: close() puts back exactly
 * what init() hooked, a second close() is a no-op, and a new init() works.
 */
import http from 'node:http';
import https from 'node:https';
import * as namedHttp from 'node:http';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { getGlobalDispatcher } from 'undici';
import { init, isEnmeshError } from '../../src/index.ts';
import { startBackend, type Backend } from '../helpers/http-backend.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';

let backend: Backend;
let file: MeshFile;

beforeAll(async () => {
  backend = await startBackend('details');
  file = await createMeshFile(`services:\n  details:\n    protocol: http\n    port: 9080\n    endpoints: [{ address: ${backend.address} }]\n`);
});

afterAll(async () => {
  await backend?.close();
  await file?.remove();
});

it('restores every hook on close, refuses a second hooked mesh, and can start again', async () => {
  const original = { request: http.request, get: http.get, httpsRequest: https.request, dispatcher: getGlobalDispatcher(), emit: http.Server.prototype.emit };
  const mesh = await init({ config: file.path });
  expect(http.request).not.toBe(original.request);
  expect(namedHttp.request).toBe(http.request); // named ESM imports see the hook too
  expect(getGlobalDispatcher()).not.toBe(original.dispatcher);
  expect(await (await fetch('http://details:9080/')).text()).toBe('details');
  await expect(init({ config: file.path })).rejects.toSatisfy((e: unknown) => isEnmeshError(e) && (e as { code: string }).code === 'ENMESH_ERR_INIT');

  await mesh.close();
  await mesh.close(); // idempotent
  expect(http.request).toBe(original.request);
  expect(http.get).toBe(original.get);
  expect(https.request).toBe(original.httpsRequest);
  expect(namedHttp.request).toBe(original.request);
  expect(getGlobalDispatcher()).toBe(original.dispatcher);
  expect(http.Server.prototype.emit).toBe(original.emit);
  await expect(fetch('http://details:9080/')).rejects.toThrow(); // no mesh: the name does not resolve

  const again = await init({ config: file.path });
  try {
    expect(await (await fetch('http://details:9080/')).text()).toBe('details');
  } finally {
    await again.close();
  }
});

it('refuses two config sources rather than silently using one', async () => {
  const err = await init({ config: file.path, controlPlane: 'xds://127.0.0.1:1' }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isEnmeshError(err) && (err as { code: string }).code).toBe('ENMESH_ERR_INIT');
  expect((err as Error).message).toMatch(/two config sources: config ".*mesh.*" and controlPlane "xds:\/\/127\.0\.0\.1:1"; pass one of them/);
  // Nothing was hooked: a mesh can start afterwards.
  const mesh = await init({ config: file.path });
  await mesh.close();
});
