/**
 * The access log: one JSON line per outbound call and per inbound request,
 * Envoy/Istio fields, the errors-only filter applying to both directions.
 * (The test backend runs in this process, so its requests are inbound lines.)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
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
      - name: api
        match: { path: { prefix: /api } }
`);
  dir = await mkdtemp(join(tmpdir(), 'enmesh-log-'));
});

afterAll(async () => {
  await backend?.close();
  await file?.remove();
  await rm(dir, { recursive: true, force: true });
});

async function linesAfter(filter: 'all' | 'errors'): Promise<Record<string, unknown>[]> {
  const path = join(dir, `${filter}.log`);
  const mesh = await init({ config: file.path, accessLog: { destination: path, filter } });
  try {
    for (let i = 0; i < 5; i++) await (await fetch('http://reviews:9080/api/items?id=1', { headers: { 'user-agent': 'log-test' } })).text();
    await (await fetch('http://reviews:9080/nowhere')).text(); // 404 NR
  } finally {
    await mesh.close(); // flushes
  }
  return (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.direction === 'outbound');
}

it('writes one JSON line per call with the upstream, route and flags', async () => {
  const lines = await linesAfter('all');
  expect(lines).toHaveLength(6);
  const ok = lines[0]!;
  expect(JSON.stringify(ok)).toContain(backend.address);
  expect(JSON.stringify(ok)).toContain('"api"');
  expect(JSON.stringify(ok)).toContain('log-test');
  expect(Object.values(ok)).toContain(200);
  expect(JSON.stringify(lines[5])).toContain('NR');
});

it('with the errors filter, logs only failed calls', async () => {
  const lines = await linesAfter('errors');
  expect(lines).toHaveLength(1);
  expect(Object.values(lines[0]!)).toContain(404);
});

it('writes one line per inbound request with the caller, its trace id and request id, filtered like outbound ones', async () => {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const status = req.url === '/boom' ? 500 : 200;
      res.setHeader('content-length', '5');
      res.writeHead(status).end('hello');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const read = async (name: string, filter: 'all' | 'errors', tracing: boolean): Promise<Record<string, unknown>[]> => {
    const path = join(dir, name);
    const mesh = await init({ config: file.path, accessLog: { destination: path, filter }, ...(tracing ? { tracing: { exporter: 'memory' as const, sampleRate: 1 } } : {}) });
    try {
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const r1 = await fetch(`http://127.0.0.1:${port}/items?id=7`, { method: 'POST', body: 'abc', headers: { traceparent, 'x-request-id': 'req-1', 'user-agent': 'inbound-test' } });
      await r1.text();
      await (await fetch(`http://127.0.0.1:${port}/boom`, { headers: { b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1' } })).text();
      await (await fetch(`http://127.0.0.1:${port}/plain`)).text();
    } finally {
      await mesh.close();
    }
    return (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  try {
    for (const tracing of [false, true]) {
      const lines = await read(`inbound-${tracing}.log`, 'all', tracing);
      expect(lines, `tracing ${tracing}`).toHaveLength(3);
      expect(lines[0], `tracing ${tracing}`).toMatchObject({
        direction: 'inbound',
        method: 'POST',
        authority: `127.0.0.1:${port}`,
        path: '/items?id=7',
        protocol: 'HTTP/1.1',
        response_code: 200,
        response_flags: '-',
        bytes_received: 3,
        bytes_sent: 5,
        trace_id: '0af7651916cd43dd8448eb211c80319c',
        request_id: 'req-1',
        downstream_remote_address: '127.0.0.1',
        user_agent: 'inbound-test',
      });
      expect(typeof lines[0]!.duration).toBe('number');
      expect(Date.now() - Date.parse(String(lines[0]!.start_time))).toBeLessThan(60_000);
      expect(lines[1]).toMatchObject({ path: '/boom', response_code: 500, trace_id: '80f198ee56343ba864fe8b2a57d3eff7' });
      // Without trace headers: a trace id only when tracing started a trace for the request.
      if (tracing) expect(lines[2]!.trace_id).toMatch(/^[0-9a-f]{32}$/);
      else expect(lines[2]!.trace_id).toBeUndefined();
    }
    const errors = await read('inbound-errors.log', 'errors', false);
    expect(errors.map((l) => [l.direction, l.path, l.response_code])).toEqual([['inbound', '/boom', 500]]);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

it('reports an inbound request whose caller went away before the answer as response code 0, flags DC (metrics, log, span)', async () => {
  const server = http.createServer((_req, res) => {
    setTimeout(() => {
      if (!res.destroyed) res.end('late');
    }, 300);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const path = join(dir, 'inbound-dc.log');
  const mesh = await init({ config: file.path, accessLog: { destination: path, filter: 'errors' }, metrics: { port: 0, host: '127.0.0.1' }, tracing: { exporter: 'memory', sampleRate: 1 } });
  try {
    const { connect } = await import('node:net');
    const socket = connect(port, '127.0.0.1', () => socket.write('GET /gone HTTP/1.1\r\nHost: x\r\n\r\n'));
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const dc = (await mesh.metrics()).split('\n').filter((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="destination"'));
    expect(dc).toHaveLength(1);
    expect(dc[0]).toContain('response_code="0"');
    expect(dc[0]).toContain('response_flags="DC"');
    // The server span ends too, with the same flags.
    const spans = mesh.telemetry()!.tracing!.memory!.getFinishedSpans().filter((sp) => sp.attributes['url.path'] === '/gone');
    expect(spans.map((sp) => sp.attributes['enmesh.response_flags'])).toEqual(['DC']);
  } finally {
    await mesh.close();
    server.closeAllConnections();
    server.close();
  }
  const lines = (await readFile(path, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ direction: 'inbound', path: '/gone', response_code: 0, response_flags: 'DC' });
});
