import { afterEach, describe, expect, it } from 'vitest';
import { AdminServer, HANDLED, Reply, ReplyError, readJsonBody } from './admin.ts';

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

describe('AdminServer routes with parameters, guards and JSON bodies', () => {
  async function startWith(setup: (a: AdminServer) => void): Promise<string> {
    admin = new AdminServer();
    setup(admin);
    const port = await admin.listen('127.0.0.1', 0);
    return `http://127.0.0.1:${port}`;
  }

  it('matches {name} segments, decodes them, and lists the route table', async () => {
    const base = await startWith((a) =>
      a
        .route('GET', '/api/v1/services/{service}/endpoints/{endpoint}', (_req, _url, { params }) => ({ ...params }))
        .route('GET', '/api/v1/services', () => ({ exact: true })),
    );
    expect(await (await fetch(`${base}/api/v1/services/reviews/endpoints/%5B%3A%3A1%5D%3A80`)).json()).toEqual({ service: 'reviews', endpoint: '[::1]:80' });
    expect(await (await fetch(`${base}/api/v1/services`)).json()).toEqual({ exact: true });
    expect((await fetch(`${base}/api/v1/services/reviews/endpoints`)).status).toBe(404);
    expect((await fetch(`${base}/api/v1/services/reviews/endpoints/a/b`)).status).toBe(404);
    expect(admin!.routes()).toEqual([
      { method: 'GET', path: '/api/v1/services' },
      { method: 'GET', path: '/api/v1/services/{service}/endpoints/{endpoint}' },
    ]);
  });

  it('answers with a guard reply instead of the handler', async () => {
    let ran = 0;
    const base = await startWith((a) =>
      a.guard((req) => (req.headers['x-ok'] === 'yes' ? undefined : new Reply(401, { error: 'no' }))).route('POST', '/x', () => ({ ran: ++ran })),
    );
    expect((await fetch(`${base}/x`, { method: 'POST' })).status).toBe(401);
    expect(ran).toBe(0);
    expect(await (await fetch(`${base}/x`, { method: 'POST', headers: { 'x-ok': 'yes' } })).json()).toEqual({ ran: 1 });
  });

  it('reads JSON object bodies with a size limit and clear refusals', async () => {
    const base = await startWith((a) => a.route('POST', '/echo', async (req) => ({ got: await readJsonBody(req, 64) })));
    const post = (body: string, type = 'application/json'): Promise<Response> => fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': type }, body });
    expect(await (await post('{"a":1}')).json()).toEqual({ got: { a: 1 } });
    const big = await post(JSON.stringify({ a: 'x'.repeat(100) }));
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: string }).error).toMatch(/64-byte limit/);
    expect((await post('{nope')).status).toBe(400);
    expect((await post('[1]')).status).toBe(400);
    expect((await post('')).status).toBe(400);
    // curl -d sends a form content type: a JSON body is still read, anything else is refused.
    expect(await (await post('{"b":2}', 'application/x-www-form-urlencoded')).json()).toEqual({ got: { b: 2 } });
    expect((await post('a=1', 'application/x-www-form-urlencoded')).status).toBe(400);
  });

  it('leaves the response to a handler that returns HANDLED', async () => {
    const base = await startWith((a) =>
      a.route('GET', '/raw', (_req, _url, { res }) => {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<p>hi</p>');
        return HANDLED;
      }),
    );
    const res = await fetch(`${base}/raw`);
    expect(res.headers.get('content-type')).toBe('text/html');
    expect(await res.text()).toBe('<p>hi</p>');
  });

  it('turns a thrown ReplyError into its reply', async () => {
    const base = await startWith((a) =>
      a.route('GET', '/teapot', () => {
        throw new ReplyError(new Reply(418, { error: 'short' }));
      }),
    );
    const res = await fetch(`${base}/teapot`);
    expect(res.status).toBe(418);
    expect(await res.json()).toEqual({ error: 'short' });
  });
});
