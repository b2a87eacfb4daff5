/**
 * A service process under init() for the certificate-rotation scenario, configured only by
 * ENMESH_* variables (ENMESH_SERVICE, ENMESH_PORT, ENMESH_CONFIG, ENMESH_TOKEN, ENMESH_CA_URL,
 * ENMESH_METRICS_PORT). On its service port it answers every request with the verified caller's
 * SPIFFE ID and closes the connection, so every call to it is a new mTLS handshake. On
 * CONTROL_PORT, a server that is not the service's (no mTLS), the test drives it:
 *   GET /load?url=&rps=&ms=&expect=  open-loop calls through the mesh, each on a new connection;
 *                                    JSON { ok, failed, errors } (the first few errors)
 *   GET /call?url=                   one call; JSON { status, body } or { error: { code, message, cause } }
 *   GET /state                       JSON: this process's certificate, the handshakes its service port
 *                                    accepted and the mesh's last error events
 * It prints "ready" once init() resolved and both servers listen.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { request } from 'undici';
import { init } from '../../../src/index.ts';
import { serveUntilTerminated } from '../../helpers/service-process.ts';

const mesh = await init();
const svids = mesh.security().svids!;
/** The mesh's own error events (the fail-closed one among them), the last few. */
const meshErrors: string[] = [];
mesh.on('error', (err: Error) => {
  meshErrors.push(err.message);
  if (meshErrors.length > 10) meshErrors.shift();
});
const serials = new Set<string>();
const first = svids.current();
if (first !== undefined) serials.add(first.serial);
svids.on('rotated', (s: { serial: string }) => serials.add(s.serial));

/** Connections whose handshake completed and whose first request arrived: one per call when callers close after each. */
let handshakes = 0;
let unverified = 0;
const seen = new WeakSet<Socket>();
const server = http.createServer((req, res) => {
  if (!seen.has(req.socket)) {
    seen.add(req.socket);
    handshakes++;
  }
  const peer = mesh.peer(req)?.spiffeId;
  if (peer === undefined) unverified++;
  res.setHeader('connection', 'close');
  res.end(peer ?? 'plaintext');
});

interface CallError {
  readonly code: string;
  readonly message: string;
  readonly cause: string;
}

function describeError(err: unknown): CallError {
  const e = err as Error & { code?: string; cause?: Error & { code?: string } };
  return { code: e.code ?? '', message: e.message, cause: e.cause === undefined ? '' : `${e.cause.code ?? ''} ${e.cause.message}` };
}

async function load(url: string, rps: number, ms: number, expected: string): Promise<{ ok: number; failed: number; errors: string[] }> {
  let ok = 0;
  let failed = 0;
  const errors: string[] = [];
  const total = Math.floor((rps * ms) / 1000);
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  // Open loop, bounded in count and time: call i is due at started + i / rps.
  for (let i = 0; i < total && performance.now() - started < ms + 30_000; i++) {
    const wait = started + (i * 1000) / rps - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const p = request(url, { reset: true, headersTimeout: 10_000, bodyTimeout: 10_000 })
      .then(async (r) => {
        const body = await r.body.text();
        if (r.statusCode === 200 && body === expected) ok++;
        else {
          failed++;
          if (errors.length < 5) errors.push(`${r.statusCode} ${body.slice(0, 200)}`);
        }
      })
      .catch((err: unknown) => {
        failed++;
        if (errors.length < 5) {
          const e = describeError(err);
          errors.push(`${e.code} ${e.message} ${e.cause}`);
        }
      })
      .finally(() => pending.delete(p));
    pending.add(p);
  }
  await Promise.all(pending);
  return { ok, failed, errors };
}

const control = http.createServer((req, res) => {
  const q = new URL(req.url ?? '/', 'http://local');
  const json = (value: unknown): void => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(value));
  };
  const url = q.searchParams.get('url') ?? '';
  if (q.pathname === '/load') {
    void load(url, Number(q.searchParams.get('rps')), Number(q.searchParams.get('ms')), q.searchParams.get('expect') ?? '').then(json);
  } else if (q.pathname === '/call') {
    request(url, { reset: true, headersTimeout: 10_000, bodyTimeout: 10_000 }).then(
      async (r) => json({ status: r.statusCode, body: await r.body.text() }),
      (err: unknown) => json({ error: describeError(err) }),
    );
  } else if (q.pathname === '/state') {
    const svid = svids.current();
    json({ ready: svids.ready, renewals: svids.renewals, failures: svids.failures, serials: serials.size, notAfter: svid?.notAfter ?? 0, handshakes, unverified, meshErrors });
  } else {
    res.statusCode = 404;
    res.end();
  }
});

await serveUntilTerminated(mesh, server, control);
