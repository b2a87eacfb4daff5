import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { EventHub } from './events.ts';

let server: http.Server | undefined;
let hub: EventHub | undefined;
afterEach(async () => {
  hub?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r) ?? r(undefined));
  server = undefined;
  hub = undefined;
});

async function serve(h: EventHub): Promise<string> {
  server = http.createServer((req, res) => h.attach(req, res));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function readUntil(res: http.IncomingMessage, pattern: RegExp, ms = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${ms} ms: ${text}`)), ms);
    res.setEncoding('utf8').on('data', (d: string) => {
      text += d;
      if (pattern.test(text)) {
        clearTimeout(timer);
        resolve(text);
      }
    });
  });
}

describe('EventHub', () => {
  it('sends the connect state, then published events and pings, as text/event-stream', async () => {
    hub = new EventHub({ pingMs: 50 });
    hub.onConnect((send) => send('snapshot', { modelVersion: 'v1' }));
    const base = await serve(hub);
    const res = await new Promise<http.IncomingMessage>((r) => http.get(base, r));
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const first = readUntil(res, /: ping\n\n[\s\S]*event: audit/);
    await new Promise((r) => setTimeout(r, 120));
    hub.publish('audit', { entry: { id: 1 } });
    const text = await first;
    expect(text).toContain('event: snapshot\ndata: {"modelVersion":"v1"}\n\n');
    expect(text).toContain('event: audit\ndata: {"entry":{"id":1}}\n\n');
    expect(hub.size).toBe(1);
    res.destroy();
  });

  it('drops a client that does not read instead of buffering for it', async () => {
    hub = new EventHub({ maxBufferedBytes: 64 * 1024, pingMs: 60_000 });
    const base = await serve(hub);
    const res = await new Promise<http.IncomingMessage>((r) => http.get(base, r));
    res.pause(); // a stalled dashboard
    const big = { blob: 'x'.repeat(16 * 1024) };
    for (let i = 0; i < 2000 && hub.size > 0; i++) {
      hub.publish('load', big);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(hub.size).toBe(0);
    expect(hub.dropped).toBe(1);
    res.destroy();
  });

  it('refuses clients beyond the limit', async () => {
    hub = new EventHub({ maxClients: 1 });
    const base = await serve(hub);
    const a = await new Promise<http.IncomingMessage>((r) => http.get(base, r));
    const b = await new Promise<http.IncomingMessage>((r) => http.get(base, r));
    expect(a.statusCode).toBe(200);
    expect(b.statusCode).toBe(503);
    a.destroy();
    b.resume();
  });
});
