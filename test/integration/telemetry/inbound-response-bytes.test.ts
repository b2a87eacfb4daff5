/**
 * Inbound response bytes (access log `bytes_sent`, `istio_response_bytes` of
 * reporter="destination") are the body bytes the server sent, however the
 * application framed them: a body handed whole to end() (Node computes the
 * Content-Length), a declared Content-Length written in pieces, a chunked
 * body of several writes, a streamed body under backpressure, a body ended by
 * closing the connection (HTTP/1.0), and none at all for HEAD.
 */
import http from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { init } from '../../../src/index.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

const STREAM_CHUNK = 64 * 1024;
const STREAM_CHUNKS = 16;

let file: MeshFile;
let dir: string;
let server: http.Server;
let port: number;

beforeAll(async () => {
  file = await createMeshFile(`
services:
  reviews:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:1 }]
`);
  dir = await mkdtemp(join(tmpdir(), 'enmesh-bytes-'));
  // Each path answers with its own status, so each has its own metric series.
  server = http.createServer((req, res) => {
    const path = req.url ?? '/';
    if (path === '/whole') res.end('hello'); // 200, HEAD too
    else if (path === '/declared') {
      res.setHeader('content-length', '10');
      res.writeHead(201);
      res.write('hello');
      res.end('world');
    } else if (path === '/chunked') {
      res.writeHead(202);
      res.write('hel');
      res.write(Buffer.from('lo '));
      res.end('wörld', 'utf8'); // ö is two bytes
    } else if (path === '/stream') {
      res.writeHead(203);
      let sent = 0;
      // Far beyond the socket's buffer: pipe() has to wait for drain.
      Readable.from(
        (function* () {
          for (; sent < STREAM_CHUNKS; sent++) yield Buffer.alloc(STREAM_CHUNK, 0x61);
        })(),
      ).pipe(res);
    } else if (path === '/closing') {
      res.writeHead(206);
      res.write('close-');
      res.end('delimited');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  server?.closeAllConnections();
  server?.close();
  await file?.remove();
  await rm(dir, { recursive: true, force: true });
});

/** `GET /closing` over HTTP/1.0: no chunking, the body ends when the server closes the connection. */
function http10(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(`GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

function sample(text: string, name: string, labels: Record<string, string>): number {
  const lines = text.split('\n').filter((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

it('counts the response body bytes sent, in the access log and istio_response_bytes', async () => {
  const logPath = join(dir, 'access.log');
  const mesh = await init({ config: file.path, accessLog: { destination: logPath } });
  let metrics: string;
  try {
    const base = `http://127.0.0.1:${port}`;
    expect(await (await fetch(`${base}/whole`)).text()).toBe('hello');
    expect(await (await fetch(`${base}/whole`, { method: 'HEAD' })).text()).toBe('');
    expect(await (await fetch(`${base}/declared`)).text()).toBe('helloworld');
    const chunked = await fetch(`${base}/chunked`);
    expect(chunked.headers.get('transfer-encoding')).toBe('chunked');
    expect(await chunked.text()).toBe('hello wörld');
    expect((await (await fetch(`${base}/stream`)).arrayBuffer()).byteLength).toBe(STREAM_CHUNK * STREAM_CHUNKS);
    const raw = await http10('/closing');
    expect(raw).not.toMatch(/content-length|transfer-encoding/i);
    expect(raw.endsWith('\r\n\r\nclose-delimited')).toBe(true);
    metrics = await mesh.metrics();
  } finally {
    await mesh.close(); // flushes the log
  }
  const inbound = (await readFile(logPath, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.direction === 'inbound');
  expect(inbound.map((l) => [l.method, l.path, l.response_code, l.bytes_sent])).toEqual([
    ['GET', '/whole', 200, 5],
    ['HEAD', '/whole', 200, 0],
    ['GET', '/declared', 201, 10],
    ['GET', '/chunked', 202, 12],
    ['GET', '/stream', 203, STREAM_CHUNK * STREAM_CHUNKS],
    ['GET', '/closing', 206, 15],
  ]);

  const sum = (code: string): number => sample(metrics, 'istio_response_bytes_sum', { reporter: 'destination', response_code: code });
  expect(sample(metrics, 'istio_response_bytes_count', { reporter: 'destination', response_code: '200' })).toBe(2);
  expect(sum('200')).toBe(5 + 0); // GET and HEAD
  expect(sum('201')).toBe(10);
  expect(sum('202')).toBe(12);
  expect(sum('203')).toBe(STREAM_CHUNK * STREAM_CHUNKS);
  expect(sum('206')).toBe(15);
});

it('leaves ServerResponse.prototype as it found it when the mesh closes', async () => {
  const { write, end } = http.ServerResponse.prototype;
  const mesh = await init({ config: file.path });
  expect(http.ServerResponse.prototype.write).not.toBe(write);
  await mesh.close();
  expect(http.ServerResponse.prototype.write).toBe(write);
  expect(http.ServerResponse.prototype.end).toBe(end);
  expect(Object.hasOwn(http.ServerResponse.prototype, 'write')).toBe(false);
});
