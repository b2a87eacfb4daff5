/**
 * WebSockets (HTTP/1.1 upgrades) through the mesh, with the `ws` package's
 * client (it upgrades through node:http) and undici's WebSocket (through the
 * dispatcher): routed to the service's endpoint with its authority as Host,
 * counted once as a 101, and the upgraded socket outlives the route timeout
 * and no longer holds a connection-pool slot. On the server side an upgrade
 * request passes the same admission as any request: authorization denies it
 * before the application's 'upgrade' listener sees it.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket as WsClient, WebSocketServer } from 'ws';
import { WebSocket as UndiciWebSocket, upgrade as undiciUpgrade } from 'undici';
import { init, type Mesh } from '../../src/index.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';

let mesh: Mesh;
let file: MeshFile;
let server: http.Server;
let wss: WebSocketServer;
let port: number;
let shadow: http.Server;
/** What the mirror target received (the route mirrors every request to it). */
const mirrored: { method: string; url: string; upgrade: string | undefined }[] = [];
const upgrades: { url: string; host: string | undefined }[] = [];

beforeAll(async () => {
  server = http.createServer((_req, res) => res.end('plain'));
  wss = new WebSocketServer({ server });
  wss.on('connection', (socket, req) => {
    upgrades.push({ url: req.url ?? '', host: req.headers.host });
    socket.on('message', (data) => socket.send(`echo:${String(data)}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  shadow = http.createServer((req, res) => {
    mirrored.push({ method: req.method ?? '', url: req.url ?? '', upgrade: req.headers.upgrade });
    res.end();
  });
  await new Promise<void>((r) => shadow.listen(0, '127.0.0.1', r));
  file = await createMeshFile(`
mesh: { trustDomain: test.local }
services:
  chat:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:${port} }]
    connectionPool: { maxRequests: 1, maxPendingRequests: 1 }
    routes:
      - name: all
        timeout: 300ms
        backends: [{ service: chat }]
        mirror: { service: shadow }
  shadow:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:${(shadow.address() as AddressInfo).port} }]
  nowhere: { protocol: http, port: 9080 }
policies:
  authorization:
    - name: no-admin
      target: chat
      action: deny
      to: [{ paths: [/admin/*] }]
`);
  // This process is `chat`'s client and its server: outbound routing and inbound admission both apply.
  mesh = await init({ service: { name: 'chat' }, config: file.path, watch: false, metrics: { port: 0, host: '127.0.0.1' } });
});

afterAll(async () => {
  for (const c of wss?.clients ?? []) c.terminate();
  wss?.close();
  server?.closeAllConnections();
  server?.close();
  shadow?.close();
  await mesh?.close();
  await file?.remove();
});

interface Conversation {
  send(text: string): void;
  next(): Promise<string>;
  close(): void;
}

function wsConversation(url: string): Promise<Conversation> {
  const ws = new WsClient(url);
  const inbox: string[] = [];
  const waiting: ((s: string) => void)[] = [];
  ws.on('message', (d) => {
    const w = waiting.shift();
    if (w !== undefined) w(String(d));
    else inbox.push(String(d));
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () =>
      resolve({
        send: (t) => ws.send(t),
        next: () => (inbox.length > 0 ? Promise.resolve(inbox.shift()!) : new Promise((r) => waiting.push(r))),
        close: () => ws.terminate(),
      }),
    );
    ws.once('unexpected-response', (_req, res) => reject(new Error(`refused with ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

function undiciConversation(url: string): Promise<Conversation> {
  const ws = new UndiciWebSocket(url);
  const inbox: string[] = [];
  const waiting: ((s: string) => void)[] = [];
  ws.onmessage = (e) => {
    const w = waiting.shift();
    if (w !== undefined) w(String(e.data));
    else inbox.push(String(e.data));
  };
  return new Promise((resolve, reject) => {
    ws.onopen = () =>
      resolve({
        send: (t) => ws.send(t),
        next: () => (inbox.length > 0 ? Promise.resolve(inbox.shift()!) : new Promise((r) => waiting.push(r))),
        close: () => ws.close(),
      });
    ws.onerror = () => reject(new Error('websocket failed'));
  });
}

describe.each([
  ['ws (node:http upgrade)', wsConversation],
  ['undici WebSocket', undiciConversation],
] as const)('%s', (_name, open) => {
  it('reaches the endpoint through the mesh and outlives the route timeout without holding a pool slot', async () => {
    upgrades.length = 0;
    const a = await open('ws://chat:9080/room/1');
    const b = await open('ws://chat:9080/room/2'); // maxRequests 1: the first upgrade no longer holds its slot
    expect(upgrades).toEqual([
      { url: '/room/1', host: 'chat:9080' },
      { url: '/room/2', host: 'chat:9080' },
    ]);
    a.send('one');
    expect(await a.next()).toBe('echo:one');
    await sleep(450); // past the 300 ms route timeout
    a.send('two');
    b.send('three');
    expect(await a.next()).toBe('echo:two');
    expect(await b.next()).toBe('echo:three');
    const plain = await fetch('http://chat:9080/plain');
    expect(plain.status).toBe(200);
    expect(await plain.text()).toBe('plain');
    a.close();
    b.close();
  });
});

it('mirrors the route\'s plain requests but not its upgrades', async () => {
  mirrored.length = 0;
  const conversation = await wsConversation('ws://chat:9080/room/3');
  conversation.send('hi');
  expect(await conversation.next()).toBe('echo:hi');
  conversation.close();
  expect((await fetch('http://chat:9080/plain')).status).toBe(200);
  const deadline = Date.now() + 2000;
  while (mirrored.length === 0 && Date.now() < deadline) await sleep(20);
  await sleep(100); // a mirrored handshake, sent first, would have arrived by now
  expect(mirrored).toEqual([{ method: 'GET', url: '/plain', upgrade: undefined }]);
});

it('counts each upgrade once, as a 101, on the client side', async () => {
  const text = await mesh.metrics();
  const upgraded = text.split('\n').filter((l) => l.startsWith('istio_requests_total{') && l.includes('reporter="source"') && l.includes('destination_service="chat"') && l.includes('response_code="101"'));
  expect(upgraded).toHaveLength(1);
  expect(Number(upgraded[0]!.split(' ').at(-1))).toBe(5);
});

/** A raw upgrade request, so the path reaches the server exactly as written. */
async function rawUpgrade(path: string): Promise<number> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: chat:9080\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`);
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  socket.destroy();
  return Number(chunk.toString('latin1').slice(9, 12));
}

it('refuses an upgrade that authorization denies before the application sees it, whatever the encoding', async () => {
  upgrades.length = 0;
  await expect(wsConversation('ws://chat:9080/admin/console')).rejects.toThrow('refused with 403');
  for (const path of ['/admin/x', '//admin/x', '/public/../admin/x', '/%61dmin/x', '/admin;p/x']) {
    expect([400, 403], path).toContain(await rawUpgrade(path));
  }
  expect(await rawUpgrade('/public/x')).toBe(101);
  expect(upgrades.map((u) => u.url)).toEqual(['/public/x']);
});

it("fails the caller's upgrade, not the process, when the answer is no 101: refused upstream, or answered by the mesh", async () => {
  // Refused by the server's authorization (403 from upstream), and a service with no endpoint (503 from the mesh).
  for (const url of ['http://chat:9080/admin/x', 'http://nowhere:9080/x']) {
    await expect(undiciUpgrade(url, { protocol: 'websocket' }), url).rejects.toThrow('bad upgrade');
  }
  await expect(wsConversation('ws://nowhere:9080/x')).rejects.toThrow('refused with 503');
});
