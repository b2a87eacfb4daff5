/**
 * Request body bytes of outbound calls (access log `bytes_sent`, Istio
 * `istio_request_bytes`) for every way a body reaches the mesh: in memory,
 * streamed with a Content-Length, streamed without one (fetch passes every
 * body as a stream); and the outbound line's request id.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from 'undici';
import { init } from '../../../src/index.ts';
import { startBackend, type Backend } from '../../helpers/http-backend.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let backend: Backend;
let file: MeshFile;
let dir: string;

beforeAll(async () => {
  backend = await startBackend('reviews-v1');
  file = await createMeshFile(`
services:
  reviews:
    protocol: http
    port: 9080
    endpoints: [{ address: ${backend.address} }]
    routes:
      - name: retried
        match: { path: { prefix: /retried } }
        retries: { attempts: 2, methods: [POST], on: [5xx], backoff: { base: 1ms, max: 2ms } }
      - name: api
`);
  dir = await mkdtemp(join(tmpdir(), 'enmesh-bytes-'));
});

afterAll(async () => {
  await backend?.close();
  await file?.remove();
  await rm(dir, { recursive: true, force: true });
});

async function* chunks(parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p);
}

it('counts request body bytes however the body was given, once per call, and logs the request id', async () => {
  const path = join(dir, 'access.log');
  const mesh = await init({ config: file.path, accessLog: { destination: path } });
  try {
    // fetch: a string (Content-Length known), a ReadableStream (no length: counted as streamed).
    await (await fetch('http://reviews:9080/a', { method: 'POST', body: 'x'.repeat(11), headers: { 'x-request-id': 'req-a' } })).text();
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('12345'));
        c.enqueue(new TextEncoder().encode('678'));
        c.close();
      },
    });
    await (await fetch('http://reviews:9080/b', { method: 'POST', body: stream, duplex: 'half' } as RequestInit)).text();
    // undici: an async iterable, a Node stream, a Buffer.
    await (await request('http://reviews:9080/c', { method: 'POST', body: Readable.from(chunks(['abc', 'defg'])) })).body.text();
    await (await request('http://reviews:9080/d', { method: 'POST', body: Readable.from([Buffer.from('0123456789'), Buffer.from('01')]) })).body.text();
    await (await request('http://reviews:9080/e', { method: 'POST', body: Buffer.alloc(13) })).body.text();
    // Retried once: the body is read from the application once, and counted once.
    backend.failNext(1, 503);
    await (await request('http://reviews:9080/retried', { method: 'POST', body: Readable.from(chunks(['1234', '5678', '9'])) })).body.text();
    expect(backend.seen.filter((r) => r.url === '/retried').map((r) => r.body)).toEqual(['123456789', '123456789']);
    const text = await mesh.metrics();
    const sum = /istio_request_bytes_sum\{[^}]*reporter="source"[^}]*\} (\d+)/.exec(text);
    expect(Number(sum?.[1])).toBe(11 + 8 + 7 + 12 + 13 + 9);
  } finally {
    await mesh.close();
  }
  const lines = (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.direction === 'outbound');
  const sent = Object.fromEntries(lines.map((l) => [l.path, l.bytes_sent]));
  expect(sent).toEqual({ '/a': 11, '/b': 8, '/c': 7, '/d': 12, '/e': 13, '/retried': 9 });
  expect(lines.find((l) => l.path === '/a')?.request_id).toBe('req-a');
  expect(lines.find((l) => l.path === '/b')?.request_id).toBeUndefined();
});
