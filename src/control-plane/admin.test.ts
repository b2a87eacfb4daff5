import { afterEach, describe, expect, it } from 'vitest';
import { AdminServer, Reply } from './admin.ts';

let admin: AdminServer | undefined;
afterEach(async () => {
  await admin?.close();
  admin = undefined;
});

async function start(): Promise<string> {
  admin = new AdminServer()
    .route('GET', '/api/v1/thing', (_req, url) => ({ thing: url.searchParams.get('q') }))
    .route('GET', '/api/v1/teapot', () => new Reply(418, { error: 'short and stout' }))
    .route('GET', '/api/v1/broken', () => {
      throw new Error('it broke');
    })
    .route('GET', '/api/v1/slow', async () => ({ slow: true }));
  const port = await admin.listen('127.0.0.1', 0);
  return `http://127.0.0.1:${port}`;
}

describe('AdminServer', () => {
  it('answers routes with JSON, ignoring a trailing slash', async () => {
    const base = await start();
    const res = await fetch(`${base}/api/v1/thing/?q=x`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    expect(await res.json()).toEqual({ thing: 'x' });
    expect(await (await fetch(`${base}/api/v1/slow`)).json()).toEqual({ slow: true });
  });

  it('uses the status of a Reply, 404 for unknown paths, 405 for other methods, 500 on a throw', async () => {
    const base = await start();
    expect((await fetch(`${base}/api/v1/teapot`)).status).toBe(418);
    const missing = await fetch(`${base}/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: 'no such endpoint: /nope' });
    const post = await fetch(`${base}/api/v1/thing`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    const broken = await fetch(`${base}/api/v1/broken`);
    expect(broken.status).toBe(500);
    expect(await broken.json()).toEqual({ error: 'it broke' });
  });

  it('reports a port already in use', async () => {
    const base = await start();
    const port = Number(new URL(base).port);
    const other = new AdminServer();
    await expect(other.listen('127.0.0.1', port)).rejects.toThrow(/cannot listen for the admin API on 127\.0\.0\.1:\d+/);
    await other.close();
  });
});
