/**
 * node:http's documented semantics, through the mesh as without it. Each case
 * runs against a real server directly (Node's own client) and through the
 * mesh, and the two must show the same thing:
 * - the request's events in Node's exact order, whichever way it ends
 *   ('socket' first; 'continue' after it; 'close' after the response's
 *   unless its connection goes back to the pool; a request destroyed, aborted or
 *   losing its socket during the response: its 'error', the response's
 *   'aborted', its 'close', the response's "aborted" error and 'close');
 * - a signal already aborted: nothing sent, no 'finish';
 * - the header API as OutgoingMessage's (values as given, names as written,
 *   Node's order, headersSent from the first write);
 * - the idle timeout refreshed by the body being written, the response's own
 *   'timeout', write() backpressure, an upgrade's `head`;
 * - what already behaved as Node (HEAD, 204, 304, setEncoding, Set-Cookie,
 *   http.get, errors emitted once...), kept so.
 * On the server side, the inbound hook (with an asynchronous inbound check)
 * leaves every response byte as Node writes it.
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, type Mesh } from '../../src/index.ts';
import { createMeshFile, type MeshFile } from '../helpers/mesh-file.ts';

let server: http.Server;
let appServer: http.Server;
let appPort: number;
let mesh: Mesh;
let file: MeshFile;
let direct: string;
const viaMesh = 'http://sem:9080';
/** Raw responses of `appServer` before the mesh was installed, by case. */
const rawBefore: Record<string, string> = {};

const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  server = http.createServer((req, res) => {
    switch (req.url) {
      case '/trickle': {
        // A chunk every 15 ms for 150 ms.
        let n = 0;
        const t = setInterval(() => {
          if (++n === 10) {
            clearInterval(t);
            res.end('.');
          } else res.write('.');
        }, 15);
        res.on('close', () => clearInterval(t));
        return;
      }
      case '/big':
        res.end(Buffer.alloc(200_000, 97));
        return;
      case '/204':
        res.writeHead(204).end();
        return;
      case '/304':
        res.writeHead(304, { etag: '"x"' }).end();
        return;
      case '/close':
        res.setHeader('Connection', 'close');
        res.end('bye');
        return;
      case '/cookies':
        res.setHeader('Set-Cookie', ['a=1', 'b=2']);
        res.end('c');
        return;
      case '/echo': {
        let bytes = 0;
        req.on('data', (c: Buffer) => (bytes += c.length));
        req.on('end', () => res.end(JSON.stringify({ url: req.url, bytes })));
        return;
      }
      default:
        res.setHeader('Content-Type', 'text/plain');
        res.end(`hello ${req.url}`);
    }
  });
  server.on('upgrade', (_req, socket) => {
    // The first bytes of the new protocol come in the same packet as the 101.
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nHELLO');
    socket.on('data', (d: Buffer) => socket.write(`echo:${d}`));
  });
  // Idle keep-alive connections stay open through the run: Node's client never races the server closing one.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  direct = `http://127.0.0.1:${port}`;

  appServer = http.createServer(appHandler);
  appServer.on('checkContinue', (req, res) => {
    res.writeContinue();
    req.resume();
    req.on('end', () => res.end('continued'));
  });
  appServer.on('upgrade', (_req, socket, head) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\nhead=${head}|`);
    socket.once('data', (d: Buffer) => socket.end(`data=${d}`));
  });
  await new Promise<void>((r) => appServer.listen(0, '127.0.0.1', r));
  appPort = (appServer.address() as AddressInfo).port;
  for (const [name, payload] of Object.entries(RAW_CASES)) rawBefore[name] = await raw(appPort, payload);

  file = await createMeshFile(`
services:
  sem:
    protocol: http
    port: 9080
    endpoints: [{ address: 127.0.0.1:${port} }]
  semsrv:
    protocol: http
    port: 9081
    endpoints: [{ address: 127.0.0.1:${appPort} }]
    inboundFault: { delay: { percent: 100, duration: 5ms } }
`);
  // appServer is this process's service: its requests pass an asynchronous inbound check (the delay).
  mesh = await init({ config: file.path, watch: false, service: { name: 'semsrv', port: appPort } });
});

afterAll(async () => {
  for (const s of [server, appServer]) {
    s?.closeAllConnections();
    s?.close();
  }
  await mesh?.close();
  await file?.remove();
});

type Log = (line: string) => void;

/** Records the request's and its response's events ('res data' left out: how many chunks is timing). */
function track(req: http.ClientRequest, log: Log): void {
  for (const ev of ['socket', 'prefinish', 'finish', 'continue', 'abort', 'timeout', 'close']) req.on(ev, () => log(`req ${ev}`));
  req.on('error', (e: NodeJS.ErrnoException) => log(`req error ${e.name} ${e.code} ${e.message}`));
  req.on('response', (res) => {
    log(`response ${res.statusCode}`);
    res.on('end', () => log('res end'));
    res.on('aborted', () => log('res aborted'));
    res.on('error', (e: NodeJS.ErrnoException) => log(`res error ${e.code} ${e.message}`));
    res.on('close', () => log('res close'));
  });
}

/** What `scenario` logs directly and through the mesh. */
async function both(scenario: (base: string, log: Log) => Promise<void>): Promise<[string[], string[]]> {
  const run = async (base: string): Promise<string[]> => {
    const lines: string[] = [];
    await scenario(base, (l) => lines.push(l));
    return lines;
  };
  return [await run(direct), await run(viaMesh)];
}

const closed = (req: http.ClientRequest): Promise<void> => new Promise((r) => (req.closed ? r() : req.once('close', () => r())));

describe("the request's events, in Node's order", () => {
  it("'socket' first, then the body's 'prefinish'/'finish', 'response', and 'close'", async () => {
    const [d, m] = await both(async (base, log) => {
      const req = http.request(`${base}/`);
      track(req, log);
      req.on('response', (res) => res.resume());
      req.end();
      await closed(req);
      await wait(20);
    });
    expect(d).toEqual(['req socket', 'req prefinish', 'req finish', 'response 200', 'res end', 'req close', 'res close']);
    expect(m).toEqual(d);
  });

  it("the response closes first when its connection does not go back to the pool", async () => {
    // A connection that does not go back to the pool (a HEAD, a `Connection: close` answer): the response closes first.
    for (const [method, path] of [['HEAD', '/'], ['GET', '/close']]) {
      const [dh, mh] = await both(async (base, log) => {
        const req = http.request(`${base}${path}`, { method });
        track(req, log);
        req.on('response', (res) => res.resume());
        req.end();
        await closed(req);
        await wait(20);
      });
      const fromResponse = (l: string[]): string[] => l.slice(l.indexOf('response 200'));
      expect(fromResponse(dh)).toEqual(['response 200', 'res end', 'res close', 'req close']);
      expect(fromResponse(mh)).toEqual(fromResponse(dh));
    }
  });

  it("'continue' comes after 'socket'", async () => {
    const [dc, mc] = await both(async (base, log) => {
      const req = http.request(`${base}/echo`, { method: 'POST', headers: { Expect: '100-continue' } });
      track(req, log);
      req.on('response', (res) => res.resume());
      req.on('continue', () => req.end('body'));
      await closed(req);
      await wait(20);
    });
    expect(dc.slice(0, 2)).toEqual(['req socket', 'req continue']);
    expect(mc.slice(0, 2)).toEqual(dc.slice(0, 2));
  });

  const during: Array<[string, (req: http.ClientRequest, res: http.IncomingMessage, ac: AbortController) => void]> = [
    ['destroy()', (req) => req.destroy()],
    ['destroy(err)', (req) => req.destroy(new Error('boom'))],
    ['abort()', (req) => req.abort()],
    ['socket.destroy()', (req) => req.socket!.destroy()],
    ['res.destroy()', (_req, res) => res.destroy()],
    ['signal abort', (_req, _res, ac) => ac.abort()],
  ];
  for (const [what, act] of during) {
    it(`${what} during the response`, async () => {
      const [d, m] = await both(async (base, log) => {
        const ac = new AbortController();
        const req = http.request(`${base}/trickle`, { signal: ac.signal });
        track(req, log);
        req.on('response', (res) => {
          res.resume();
          setTimeout(() => {
            log('act');
            act(req, res, ac);
            log('act returned');
          }, 50);
        });
        req.end();
        await closed(req);
        await wait(40);
      });
      // From the act on ('socket'/'prefinish' order is the first test's).
      const fromAct = (l: string[]): string[] => l.slice(l.indexOf('act'));
      expect(fromAct(d)).toContain('res aborted');
      expect(fromAct(m)).toEqual(fromAct(d));
    });
  }

  it("abort() before the socket: 'close', then 'abort'; a signal already aborted: nothing sent, no 'finish'", async () => {
    const [d, m] = await both(async (base, log) => {
      const req = http.request(`${base}/`);
      track(req, log);
      req.abort();
      await wait(30);
      const pre = http.request(`${base}/`, { signal: AbortSignal.abort() });
      track(pre, (l) => log(`pre ${l}`));
      pre.end();
      await wait(30);
    });
    expect(d).toEqual(['req close', 'req abort', 'pre req error AbortError ABORT_ERR The operation was aborted', 'pre req close']);
    expect(m).toEqual(d);
  });
});

describe("the request's header API, as OutgoingMessage's", () => {
  it('values as given, names as written, in order, headersSent from the first write', async () => {
    const show = async (base: string): Promise<Record<string, unknown>> => {
      const req = http.request(`${base}/echo`, { method: 'POST', headers: { 'X-Opt': 'a', 'content-length': 3 }, auth: 'u:p', timeout: 5000 });
      req.on('error', () => {});
      req.setHeader('X-Num', 5);
      req.setHeader('X-Arr', ['1', '2']);
      const headers = req.getHeaders();
      // Node sets both; its typings have neither.
      const untyped = req as unknown as { timeout?: number; res: http.IncomingMessage | null };
      const out: Record<string, unknown> = {
        contentLength: req.getHeader('content-length'),
        num: req.getHeader('x-num'),
        rawNames: req.getRawHeaderNames(),
        names: req.getHeaderNames(),
        proto: Object.getPrototypeOf(headers),
        timeout: untyped.timeout,
        res: untyped.res,
        sentBefore: req.headersSent,
      };
      req.write('abc');
      out.sentAfterWrite = req.headersSent;
      out.lateSet = (() => {
        try {
          req.setHeader('x-late', '1');
          return 'accepted';
        } catch (e) {
          return (e as NodeJS.ErrnoException).code;
        }
      })();
      req.end();
      const [res] = (await once(req, 'response')) as [http.IncomingMessage];
      out.resIsReqRes = untyped.res === res;
      res.resume();
      await closed(req);
      return out;
    };
    const [d, m] = [await show(direct), await show(viaMesh)];
    expect(d).toEqual({
      contentLength: 3,
      num: 5,
      rawNames: ['X-Opt', 'content-length', 'Host', 'Authorization', 'X-Num', 'X-Arr'],
      names: ['x-opt', 'content-length', 'host', 'authorization', 'x-num', 'x-arr'],
      proto: null,
      timeout: 5000,
      res: null,
      sentBefore: false,
      sentAfterWrite: true,
      lateSet: 'ERR_HTTP_HEADERS_SENT',
      resIsReqRes: true,
    });
    expect(m).toEqual(d);
  });

  it('appendHeader() and setHeaders(), as in Node', () => {
    const show = (base: string): unknown => {
      const req = http.request(`${base}/`);
      req.on('error', () => {});
      req.setHeader('X-Num', 5);
      req.appendHeader('X-Num', '6');
      req.appendHeader('x-new', ['a', 'b']);
      const headers = new Headers([['x-h', '1']]);
      headers.append('set-cookie', 'a=1');
      headers.append('set-cookie', 'b=2');
      req.setHeaders(headers);
      req.setHeaders(new Map([['X-Map', 'm']]));
      const out = { ...req.getHeaders(), host: undefined, rawNames: req.getRawHeaderNames() };
      req.destroy();
      return out;
    };
    const d = show(direct);
    expect(d).toEqual({
      'x-num': [5, '6'],
      'x-new': ['a', 'b'],
      'x-h': '1',
      'set-cookie': ['a=1', 'b=2'],
      'x-map': 'm',
      host: undefined,
      rawNames: ['Host', 'X-Num', 'x-new', 'x-h', 'set-cookie', 'X-Map'],
    });
    expect(show(viaMesh)).toEqual(d);
  });

  it("an empty path is '/', as in Node", async () => {
    const get = async (base: string): Promise<string> => {
      const u = new URL(base);
      const req = http.request({ hostname: u.hostname, port: u.port, path: '' });
      req.end();
      const [res] = (await once(req, 'response')) as [http.IncomingMessage];
      res.setEncoding('utf8');
      let body = '';
      for await (const c of res) body += c;
      return body;
    };
    expect(await get(direct)).toBe('hello /');
    expect(await get(viaMesh)).toBe('hello /');
  });
});

describe('timeouts, backpressure and upgrades', () => {
  it('a body being written keeps the idle timeout from firing, as socket writes do', async () => {
    const [d, m] = await both(async (base, log) => {
      const req = http.request(`${base}/echo`, { method: 'POST' });
      track(req, log);
      req.on('response', (res) => res.resume());
      req.setTimeout(200, () => {
        log('timed out');
        req.destroy();
      });
      // 400 ms of body, a chunk every 40 ms: never 200 ms idle.
      for (let i = 0; i < 10 && !req.destroyed; i++) {
        req.write('x');
        await wait(40);
      }
      req.end();
      await closed(req);
    });
    expect(d).not.toContain('timed out');
    expect(m).toEqual(d);
  });

  it("res.setTimeout()'s callback listens for the response's own 'timeout'", async () => {
    const [d, m] = await both(async (base, log) => {
      const req = http.get(`${base}/big`, (res) => {
        res.pause();
        res.on('timeout', () => log('res timeout'));
        res.setTimeout(50, () => {
          log('callback');
          req.destroy();
        });
      });
      req.on('timeout', () => log('req timeout'));
      req.on('error', () => {});
      await closed(req);
    });
    expect(d).toEqual(['req timeout', 'res timeout', 'callback']);
    expect(m).toEqual(d);
  });

  it("write() says false past the high-water mark and 'drain' follows", async () => {
    const [d, m] = await both(async (base, log) => {
      const req = http.request(`${base}/echo`, { method: 'POST' });
      req.on('error', (e) => log(`error ${e.message}`));
      req.on('response', (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => log(`${res.statusCode} ${body}`));
      });
      log(`small: ${req.write(Buffer.alloc(1024))}`);
      log(`past the mark: ${req.write(Buffer.alloc(64 * 1024))}`);
      log(await Promise.race([new Promise<string>((r) => req.once('drain', () => r('drain'))), wait(1000).then(() => 'no drain within 1 s')]));
      req.end();
      await closed(req);
    });
    expect(d).toEqual(['small: true', 'past the mark: false', 'drain', `200 {"url":"/echo","bytes":${65 * 1024}}`]);
    expect(m).toEqual(d);
  });

  it("an upgrade hands over the bytes that came with the 101 as 'head', as Node does", async () => {
    const [d, m] = await both(async (base, log) => {
      const req = http.request(`${base}/up`, { headers: { Connection: 'Upgrade', Upgrade: 'echo' } });
      req.end();
      const [res, socket, head] = (await once(req, 'upgrade')) as [http.IncomingMessage, net.Socket, Buffer];
      log(`${res.statusCode} head=${head}`);
      socket.write('hi');
      const [reply] = (await once(socket, 'data')) as [Buffer];
      log(`reply=${reply}`);
      socket.destroy();
    });
    expect(d).toEqual(['101 head=HELLO', 'reply=echo:hi']);
    expect(m).toEqual(d);
  });
});

describe('what already behaved as Node', () => {
  const cases: Record<string, (base: string, log: Log) => Promise<void>> = {
    'HEAD, 204 and 304 have no body': async (base, log) => {
      for (const [path, method] of [['/', 'HEAD'], ['/204', 'GET'], ['/304', 'GET']] as const) {
        const req = http.request(`${base}${path}`, { method });
        req.end();
        const [res] = (await once(req, 'response')) as [http.IncomingMessage];
        let bytes = 0;
        res.on('data', (c: Buffer) => (bytes += c.length));
        await once(res, 'end');
        log(`${method} ${path} ${res.statusCode} ${bytes} bytes`);
      }
    },
    'setEncoding, several Set-Cookie, http.get with a callback': async (base, log) => {
      await new Promise<void>((resolve) =>
        http.get(`${base}/cookies`, (res) => {
          res.setEncoding('hex');
          log(JSON.stringify(res.headers['set-cookie']));
          res.on('data', (c: string) => log(`${typeof c} ${c}`));
          res.on('end', resolve);
        }),
      );
    },
    'resume() without reading ends the response': async (base, log) => {
      const req = http.get(`${base}/big`, (res) => {
        res.resume();
        res.on('end', () => log('end'));
      });
      await closed(req);
      log('close');
    },
    "the timeout option: 'timeout', then destroy() is a socket hang up, emitted once": async (base, log) => {
      const req = http.request(`${base}/trickle`, { timeout: 5 });
      req.on('response', (res) => res.resume());
      req.on('timeout', () => {
        log('timeout');
        req.destroy();
        req.destroy(new Error('second'));
      });
      req.on('error', (e: NodeJS.ErrnoException) => log(`error ${e.code} ${e.message}`));
      req.end();
      await closed(req);
      await wait(20);
    },
    'write() after end() fails the write, as a stream does': async (base, log) => {
      const req = http.request(`${base}/`, (res) => res.resume());
      req.on('error', (e: NodeJS.ErrnoException) => log(`error ${e.code}`));
      req.end();
      log(`write returned ${req.write('x', (e) => log(`callback ${(e as NodeJS.ErrnoException | null)?.code}`))}`);
      await closed(req);
    },
  };
  for (const [name, scenario] of Object.entries(cases)) {
    it(name, async () => {
      const [d, m] = await both(scenario);
      expect(d.length).toBeGreaterThan(0);
      expect(m).toEqual(d);
    });
  }
});

// ---- server side ----

function appHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  switch (req.url) {
    case '/raw':
      res.writeHead(201, 'Made', ['X-Case', 'a', 'x-case', 'b', 'Set-Cookie', 'c=1', 'Set-Cookie', 'd=2', 'Content-Length', '2']);
      res.end('ok');
      return;
    case '/flush':
      res.flushHeaders();
      setTimeout(() => res.end('late'), 20);
      return;
    case '/stream':
      res.write('a');
      setTimeout(() => res.end(`b${res.write(Buffer.alloc(10, 98))}`), 10);
      return;
    case '/close':
      res.setHeader('Connection', 'close');
      res.end('bye');
      return;
    case '/head':
      res.setHeader('Content-Type', 'text/plain');
      res.end('not sent');
      return;
    default:
      res.end('k');
  }
}

const get = (path: string, method = 'GET', extra = ''): string => `${method} ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
const RAW_CASES: Record<string, string> = {
  'writeHead with a raw header array': get('/raw'),
  flushHeaders: get('/flush'),
  'a streamed response': get('/stream'),
  'Connection: close from the handler': get('/close'),
  'Connection: close from the client': get('/k', 'GET', 'Connection: close\r\n'),
  HEAD: get('/head', 'HEAD'),
  'two requests on one keep-alive connection': get('/k') + get('/k'),
  'HTTP/1.0': 'GET /k HTTP/1.0\r\n\r\n',
  "Expect: 100-continue with a 'checkContinue' listener": 'POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nab',
  'an upgrade, with the bytes after it': get('/u', 'GET', 'Connection: Upgrade\r\nUpgrade: foo\r\n') + 'FRAME',
};

/** Everything the server writes back on one connection (Date headers blanked), and whether it closed it. */
function raw(port: number, payload: string): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d: Buffer) => (out += d.toString('latin1')));
    s.write(payload);
    const done = (how: string): void => resolve(`${out.replace(/Date: [^\r]*\r\n/g, '')}<${how}>`);
    const t = setTimeout(() => {
      s.destroy();
      done('open');
    }, 150);
    s.on('close', () => {
      clearTimeout(t);
      done('closed');
    });
  });
}

describe('node:http servers under the mesh', () => {
  it('write every response byte as Node does without it, behind an asynchronous inbound check', async () => {
    const after: Record<string, string> = {};
    for (const [name, payload] of Object.entries(RAW_CASES)) after[name] = await raw(appPort, payload);
    expect(rawBefore['two requests on one keep-alive connection']).toMatch(/k.*HTTP\/1\.1 200.*k<open>$/s);
    expect(rawBefore['writeHead with a raw header array']).toContain('X-Case: a\r\nx-case: b\r\nSet-Cookie: c=1\r\nSet-Cookie: d=2');
    expect(after).toEqual(rawBefore);
    const inbound = (mesh.policies() as { inbound: { fault: { counters: { delays: number } } } }).inbound;
    expect(inbound.fault.counters.delays).toBeGreaterThanOrEqual(Object.keys(RAW_CASES).length);
  });
});
