/**
 * Authorization policies enforced in-process on inbound HTTP before the
 * application sees the request, on the normalised path the application then
 * receives: deny wins, encodings cannot bypass, dry-run only counts.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init, type Mesh } from '../../../src/index.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let mesh: Mesh;
let file: MeshFile;
let server: http.Server;
let port: number;
const seen: string[] = [];

beforeAll(async () => {
  file = await createMeshFile(`
mesh: { trustDomain: test.local }
services:
  details: { protocol: http, port: 9080 }
policies:
  authorization:
    - name: no-admin
      target: details
      action: deny
      to: [{ paths: [/admin/*] }]
    - name: no-delete-dry
      target: details
      action: deny
      dryRun: true
      to: [{ methods: [DELETE] }]
`);
  mesh = await init({ service: { name: 'details' }, config: file.path });
  server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await mesh?.close();
  await file?.remove();
});

/** A raw request line, so the path reaches the server exactly as written (no client normalisation). */
function raw(method: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${method} ${path} HTTP/1.1\r\nHost: details\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (c) => (text += c));
    socket.on('end', () => resolve(Number(text.slice(9, 12))));
    socket.on('error', reject);
  });
}

it('denies matching requests before the application, whatever the encoding', async () => {
  seen.length = 0;
  expect(await raw('GET', '/public/a')).toBe(200);
  for (const path of ['/admin/x', '//admin/x', '/public/../admin/x', '/%61dmin/x', '/admin/./x', '/admin;p/x']) {
    const status = await raw('GET', path);
    expect([400, 403], path).toContain(status);
  }
  expect(seen).toEqual(['/public/a']);
});

it('hands the application the normalised path it authorised', async () => {
  seen.length = 0;
  expect(await raw('GET', '/public//b/./c')).toBe(200);
  expect(seen).toEqual(['/public/b/c']);
});

it('lets the would-be denials of a dry-run policy through', async () => {
  seen.length = 0;
  expect(await raw('DELETE', '/public/x')).toBe(200);
  expect(seen).toEqual(['/public/x']);
});

it("applies the same checks to requests a server takes through 'checkContinue' (Expect: 100-continue)", async () => {
  const continued: string[] = [];
  const onContinue = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    continued.push(req.url ?? '');
    res.writeContinue();
    req.resume();
    req.on('end', () => res.end('ok'));
  };
  server.on('checkContinue', onContinue);
  try {
    const expectRequest = (path: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () =>
          socket.write(`PUT ${path} HTTP/1.1\r\nHost: details\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\n`),
        );
        let text = '';
        socket.on('data', (c) => {
          text += c;
          if (text.startsWith('HTTP/1.1 100')) {
            text = '';
            socket.write('hi');
          }
        });
        socket.on('end', () => resolve(Number(text.slice(9, 12))));
        socket.on('error', reject);
      });
    expect(await expectRequest('/admin/x')).toBe(403);
    expect(await expectRequest('/%61dmin/x')).toBe(403);
    expect(await expectRequest('/public/y')).toBe(200);
    expect(continued).toEqual(['/public/y']);
  } finally {
    server.off('checkContinue', onContinue);
  }
});

it('decides authorization in the same tick: the handler runs inside the request event, as without policies', () => {
  // A request event as Node's server emits it, on a socket that goes nowhere.
  const socket = new net.Socket();
  const req = new http.IncomingMessage(socket);
  req.method = 'GET';
  req.url = '/products/1';
  req.headers = { host: 'details' };
  const res = new http.ServerResponse(req);
  const before = seen.length;
  server.emit('request', req, res);
  expect(seen.slice(before)).toEqual(['/products/1']);
  socket.destroy();
});
