/**
 * node:http's client semantics through the mesh, where libraries rely on them:
 * - after `flushHeaders()` the request is on the wire at once and streamed, so
 *   a server that answers on the headers (an event stream, an attach/exec
 *   style protocol) is reached;
 * - no event comes from inside `end()`, even when the mesh answers itself;
 * - aborting a request whose response is unread emits no unhandled 'error'
 *   (the `ws` client does this on any answer other than 101).
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
  nowhere: { protocol: http, port: 9080 }
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

it("emits nothing from inside end(), even when the mesh answers at once (503, no endpoint)", async () => {
  const order: string[] = [];
  const done = new Promise<void>((resolve) => {
    const req = http.request('http://nowhere:9080/x', (res) => {
      order.push(`response ${res.statusCode}`);
      res.resume();
      res.on('end', resolve);
    });
    order.push('end called');
    req.end();
    order.push('end returned');
  });
  await done;
  expect(order).toEqual(['end called', 'end returned', 'response 503']);
});

it("aborting a request in its 'response' handler, the response unread, emits 'aborted' and no unhandled error", async () => {
  const events: string[] = [];
  await new Promise<void>((resolve) => {
    const req = http.request('http://nowhere:9080/x', (res) => {
      res.on('aborted', () => events.push('aborted'));
      res.on('close', () => {
        events.push('res close');
        resolve();
      });
      req.abort();
    });
    req.on('abort', () => events.push('abort'));
    req.end();
  });
  await new Promise((r) => setImmediate(r)); // an unhandled 'error' would fail the run here
  expect(events).toContain('abort');
  expect(events).toContain('aborted');
});
