/**
 * node:http requests whose body is still being written when the answer comes:
 * after `flushHeaders()` the request is on the wire at once and streamed, so a
 * server that answers on the headers (an event stream, an attach/exec style
 * protocol) is reached through the mesh as without it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../src/index.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';

let server: http.Server;
let mesh: Mesh;
let file: MeshFile;
const received: string[] = [];

beforeAll(async () => {
  // Answers as soon as the headers are in, then records the body as it arrives.
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write(`host ${req.headers.host}\n`);
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      received.push(body);
      res.end('done\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  file = await createMeshFile(`
services:
  attach:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:${(server.address() as AddressInfo).port} }]
`);
  mesh = await init({ config: file.path, watch: false });
});

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await mesh?.close();
  await file?.remove();
});

it('flushHeaders() puts the request on the wire before the body ends: the answer starts first, the body follows', async () => {
  const text = await new Promise<string>((resolve, reject) => {
    const req = http.request('http://attach:9080/session', { method: 'POST' });
    req.on('error', reject);
    req.on('response', (res) => {
      let out = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        out += c;
        if (out === 'host attach:9080\n') req.end('second'); // the body ends only once the answer started
      });
      res.on('end', () => resolve(out));
    });
    req.flushHeaders();
    req.write('first;');
  });
  expect(text).toBe('host attach:9080\ndone\n');
  expect(received).toEqual(['first;second']);
});
