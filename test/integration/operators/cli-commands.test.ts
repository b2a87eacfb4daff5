/**
 * The operator commands of the `enmesh` CLI against a real control plane on
 * listen(0): help, tables and JSON, the config workflow (validate, diff,
 * apply, rollback), tokens, usage errors and an unreachable server.
 */
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join, dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import { captureIo, type CapturedIo } from '../../helpers/cli-io.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';

const TOKEN = 'cli-test-token';
const MESH = `
services:
  reviews:
    protocol: http
    port: 9080
    endpoints:
      - { address: 127.0.0.1:9081, labels: { version: v1 } }
      - { address: 127.0.0.1:9082, labels: { version: v2 } }
    subsets:
      v1: { version: v1 }
      v2: { version: v2 }
    routes:
      - name: default
        backends: [{ subset: v1, weight: 90 }, { subset: v2, weight: 10 }]
        timeout: 2s
  ratings:
    protocol: grpc
    port: 50051
    endpoints: [{ address: 127.0.0.1:9091 }]
`;

interface Run {
  code: number;
  out: string;
  err: string;
}

const capture = (colour = false): CapturedIo => captureIo({ colour, interactive: false });

async function enmesh(args: readonly string[], colour = false): Promise<Run> {
  const io = capture(colour);
  const code = await main(args, io);
  return { code, out: io.out, err: io.err };
}

let file: MeshFile;
let cp: ControlPlane;
let server: string;
let deadPort: number;

beforeAll(async () => {
  file = await createMeshFile(MESH);
  cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, startupHoldMs: 0, adminToken: TOKEN, log: silentLogger });
  server = `http://127.0.0.1:${cp.adminPort}`;
  // A port nothing listens on: bound, then closed.
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  deadPort = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
});

afterAll(async () => {
  await cp?.close();
  await file?.remove();
});

const at = (...args: string[]): string[] => [...args, '--server', server];
const withToken = (...args: string[]): string[] => [...at(...args), '--token', TOKEN];

describe('help and usage', () => {
  it('lists every operator command in `enmesh --help`', async () => {
    const r = await enmesh(['--help']);
    expect(r.code).toBe(0);
    for (const name of ['control-plane', 'status', 'get', 'validate', 'diff', 'apply', 'rollback', 'canary', 'token']) expect(r.out).toMatch(new RegExp(`^  ${name} `, 'm'));
  });

  for (const cmd of ['status', 'get', 'validate', 'diff', 'apply', 'rollback', 'canary']) {
    it(`shows --help for ${cmd} (exit 0)`, async () => {
      const r = await enmesh([cmd, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^Usage: enmesh ${cmd}`));
      expect(r.out).toMatch(/--output <format>|-o, --output/);
      if (cmd !== 'validate') expect(r.out).toMatch(/Exit codes: 0 done, 1 refused or invalid, 2 usage error, 3 control plane unreachable/);
    });
  }

  it('exits 2 on usage errors, naming the problem', async () => {
    const cases: [string[], RegExp][] = [
      [at('status', '--colour'), /Unknown option '--colour'/],
      [at('get'), /name what to get: services, endpoints, clients, routes/],
      [at('get', 'widgets'), /cannot get "widgets"/],
      [at('status', '-o', 'yaml'), /--output must be table or json, got "yaml"/],
      [['validate'], /name the mesh.yaml to validate/],
      [at('apply'), /name the mesh.yaml to apply: enmesh apply -f mesh.yaml/],
      [at('rollback'), /name the version to roll back to/],
      [at('canary'), /expected start, status or abort/],
      [at('canary', 'start', 'reviews'), /--to <version> is required/],
      [at('canary', 'start', 'reviews', '--to', 'v2', '--steps', '5,x'), /--steps must be whole percentages/],
      [at('canary', 'start', 'reviews', '--to', 'v2', '--max-error-rate', '150%'), /--max-error-rate must be below 100%/],
      [at('canary', 'start', 'reviews', '--to', 'v2', '--interval', '30'), /--interval: invalid duration "30"/],
      [['status', '--server', 'ftp://x'], /--server must be an http:\/\/ or https:\/\/ address/],
    ];
    for (const [args, message] of cases) {
      const r = await enmesh(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err, args.join(' ')).toMatch(message);
    }
  });
});

describe('an unreachable control plane', () => {
  it('exits 3 and says which address and what to do, for every command that needs it', async () => {
    const dead = `http://127.0.0.1:${deadPort}`;
    for (const args of [['status'], ['get', 'services'], ['diff', '-f', file.path], ['apply', '-f', file.path], ['rollback', 'abc'], ['canary', 'status']]) {
      const r = await enmesh([...args, '--server', dead]);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.err).toContain(`cannot reach the control plane at ${dead} (ECONNREFUSED)`);
      expect(r.err).toMatch(/--server <url> or ENMESH_ADMIN/);
    }
  });

  it('finds the control plane through ENMESH_ADMIN', async () => {
    const saved = process.env.ENMESH_ADMIN;
    try {
      process.env.ENMESH_ADMIN = `127.0.0.1:${deadPort}`;
      expect((await enmesh(['status'])).code).toBe(3);
      process.env.ENMESH_ADMIN = server;
      const r = await enmesh(['status']);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`control plane  ${server}`);
    } finally {
      if (saved === undefined) delete process.env.ENMESH_ADMIN;
      else process.env.ENMESH_ADMIN = saved;
    }
  });
});

describe('reading the mesh', () => {
  it('status: one row per service, plain without a terminal, JSON with -o json', async () => {
    const r = await enmesh(at('status'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^SERVICE\s+PROTOCOL\s+PORT\s+ENDPOINTS\s+RPS\s+SUCCESS\s+P99\s+CANARY$/m);
    expect(r.out).toMatch(/^reviews\s+http\s+9080\s+2\/2\s/m);
    expect(r.out).toMatch(/^ratings\s+grpc\s+50051\s+1\/1\s/m);
    expect(r.out).not.toContain('\u001b[');
    const j = await enmesh(at('status', '-o', 'json'));
    const body = JSON.parse(j.out) as { modelVersion: string; services: { service: string; endpoints: { healthy: number; total: number } }[] };
    expect(body.modelVersion).toBe(cp.cache.model()?.version);
    expect(body.services.find((s) => s.service === 'reviews')?.endpoints).toEqual({ healthy: 2, total: 2 });
  });

  it('colours only when the output is a terminal', async () => {
    const r = await enmesh(at('status'), true);
    expect(r.out).toContain('\u001b[1mSERVICE');
  });

  it('get services, endpoints, clients and routes, as tables and JSON', async () => {
    const svc = await enmesh(at('get', 'services'));
    expect(svc.code).toBe(0);
    expect(svc.out).toMatch(/^reviews\s+http\s+9080\s+round-robin\s+v1,v2\s+default\s+2$/m);
    const ep = await enmesh(at('get', 'endpoints', 'reviews'));
    expect(ep.out).toMatch(/^reviews\s+127\.0\.0\.1:9082\s+version=v2\s+-\s+1\s+healthy\s+static$/m);
    expect(ep.out).not.toContain('ratings');
    const epJson = JSON.parse((await enmesh(at('get', 'ep', '-o', 'json'))).out) as { endpoints: { service: string; address: string }[] };
    expect(epJson.endpoints.map((e) => `${e.service} ${e.address}`)).toEqual(['reviews 127.0.0.1:9081', 'reviews 127.0.0.1:9082', 'ratings 127.0.0.1:9091']);
    const clients = await enmesh(at('get', 'clients', '-o', 'json'));
    expect(JSON.parse(clients.out)).toEqual({ clients: [] });
    const routes = await enmesh(at('get', 'routes'));
    expect(routes.out).toMatch(/^reviews\s+default\s+\*\s+v1 90%, v2 10%\s+2000ms$/m);
    const missing = await enmesh(at('get', 'routes', 'nope'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/no service "nope"; services: reviews, ratings/);
  });
});

describe('drained endpoints', () => {
  it('show as draining in get endpoints and do not count as healthy in status', async () => {
    const drain = (drained: boolean) =>
      fetch(`${server}/api/v1/services/reviews/endpoints/127.0.0.1:9082/drain`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ drained }),
      });
    expect((await drain(true)).status).toBe(200);
    try {
      expect((await enmesh(at('get', 'endpoints', 'reviews'))).out).toMatch(/^reviews\s+127\.0\.0\.1:9082\s+version=v2\s+-\s+1\s+draining\s+static$/m);
      expect((await enmesh(at('status'))).out).toMatch(/^reviews\s+http\s+9080\s+1\/2\s/m);
    } finally {
      expect((await drain(false)).status).toBe(200);
    }
  });
});

describe('validate (offline)', () => {
  it('accepts a good file and rejects a bad one with file:line:column and key path', async () => {
    const ok = await enmesh(['validate', file.path]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/valid: .*mesh\.yaml: 2 services \(reviews, ratings\), model version \w+/);
    const bad = join(dirname(file.path), 'bad.yaml');
    await writeFile(bad, 'services:\n  reviews:\n    protocol: http\n    port: 9080\n    routes:\n      - backends: [{ subset: v1, weigth: 5 }]\n');
    const r = await enmesh(['validate', bad]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/services\.reviews\.routes\[0\]\.backends\[0\]/);
    expect(r.err).toMatch(/bad\.yaml:6:\d+/);
    const j = await enmesh(['validate', '-f', bad, '-o', 'json']);
    expect(j.code).toBe(1);
    const body = JSON.parse(j.out) as { valid: boolean; issues: { path: string }[] };
    expect(body.valid).toBe(false);
    expect(body.issues.length).toBeGreaterThan(0);
    const missing = await enmesh(['validate', join(dirname(file.path), 'missing.yaml')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/missing\.yaml/);
  });
});

describe('changing the mesh', () => {
  it('diff shows the change without applying it; apply pushes it; a second apply has nothing to do', async () => {
    const next = join(dirname(file.path), 'next.yaml');
    await writeFile(next, MESH.replace('{ subset: v1, weight: 90 }, { subset: v2, weight: 10 }', '{ subset: v1, weight: 50 }, { subset: v2, weight: 50 }'));
    const before = cp.cache.model()?.version;

    const d = await enmesh(withToken('diff', '-f', next));
    expect(d.code, d.err).toBe(0);
    expect(d.out).toMatch(/^-.*weight: 90/m);
    expect(d.out).toMatch(/^\+.*weight: 50/m);
    expect(cp.cache.model()?.version).toBe(before);
    const dj = JSON.parse((await enmesh(withToken('diff', '-f', next, '-o', 'json'))).out) as { changed: boolean; diff: string };
    expect(dj.changed).toBe(true);

    const a = await enmesh(withToken('apply', '-f', next));
    expect(a.code, a.err).toBe(0);
    expect(a.out).toMatch(/^\+.*weight: 50/m);
    expect(a.out).toMatch(/applied: .*next\.yaml, model version \w+/);
    expect(cp.cache.model()?.version).not.toBe(before);
    const routes = await enmesh(at('get', 'routes', 'reviews'));
    expect(routes.out).toMatch(/v1 50%, v2 50%/);

    const again = await enmesh(withToken('apply', '-f', next, '-o', 'json'));
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out)).toMatchObject({ changed: false });
  });

  it('refuses a change, and a diff, without the admin token (exit 1, says how to give it), and an invalid file before sending it', async () => {
    const next = join(dirname(file.path), 'next2.yaml');
    await writeFile(next, MESH.replace('timeout: 2s', 'timeout: 3s'));
    const saved = process.env.ENMESH_ADMIN_TOKEN;
    delete process.env.ENMESH_ADMIN_TOKEN;
    try {
      const r = await enmesh(at('apply', '-f', next));
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/--token <token> or ENMESH_ADMIN_TOKEN/);
      // diff is a dry run of apply on the control plane: it needs the token too, and says so.
      const d = await enmesh(at('diff', '-f', next));
      expect(d.code).toBe(1);
      expect(d.out).toBe('');
      expect(d.err).toMatch(/^enmesh diff: no admin token: the control plane computes the diff as a dry run of apply \(nothing is changed\), which needs the admin token as apply does\. Give it with --token <token> or ENMESH_ADMIN_TOKEN/);
      const wrong = await enmesh([...at('apply', '-f', next), '--token', 'nope']);
      expect(wrong.code).toBe(1);
      expect(wrong.err).toMatch(/wrong admin token/);
    } finally {
      if (saved !== undefined) process.env.ENMESH_ADMIN_TOKEN = saved;
    }
    const bad = join(dirname(file.path), 'bad2.yaml');
    await writeFile(bad, 'services:\n  reviews: { protocol: http }\n');
    const invalid = await enmesh(withToken('apply', '-f', bad));
    expect(invalid.code).toBe(1);
    expect(invalid.err).toMatch(/services\.reviews\.port/);
  });

  it('rollback --list shows the versions; rollback <version> puts one back', async () => {
    const list = await enmesh(at('rollback', '--list', '-o', 'json'));
    expect(list.code, list.err).toBe(0);
    const history = JSON.parse(list.out) as { current: string; versions: { version: string }[] };
    expect(history.versions.length).toBeGreaterThanOrEqual(2);
    const oldest = history.versions.at(-1)!.version;
    const table = await enmesh(at('rollback', '--list'));
    expect(table.out).toMatch(/^VERSION\s+AT\s+ACTOR\s+SOURCE\s+SUMMARY$/m);

    const r = await enmesh(withToken('rollback', oldest));
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^\+.*weight: 90/m);
    expect(r.out).toMatch(new RegExp(`rolled back to the config of ${oldest}`));
    expect((await enmesh(at('get', 'routes', 'reviews'))).out).toMatch(/v1 90%, v2 10%/);

    const unknown = await enmesh(withToken('rollback', 'feedface'));
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/feedface is not in the history/);
  });
});

describe('canary commands', () => {
  it('start, status (table and JSON), abort: weights back to the baseline', async () => {
    const s = await enmesh(withToken('canary', 'start', 'reviews', '--to', 'v2', '--from', 'v1', '--steps', '10,50,100', '--interval', '30s', '--max-error-rate', '2%', '--max-p99', '250ms'));
    expect(s.code, s.err).toBe(0);
    expect(s.out).toMatch(/canary of reviews started: v1→v2 at 10% \(steps 10,50,100%, every 30s\)/);
    expect((await enmesh(at('get', 'routes', 'reviews'))).out).toMatch(/v1 90%, v2 10%/);

    const again = await enmesh(withToken('canary', 'start', 'reviews', '--to', 'v2'));
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already progressing at 10%/);

    const st = await enmesh(at('canary', 'status', 'reviews'));
    expect(st.code).toBe(0);
    expect(st.out).toMatch(/progressing: reviews v1→v2 at 10% \(step 1\/3\)/);
    expect(st.out).toMatch(/bounds: error rate ≤ 2%, p99 ≤ 250ms, ≥ 20 requests per step/);
    const all = JSON.parse((await enmesh(at('canary', 'status', '-o', 'json'))).out) as { canaries: { service: string; state: string; maxErrorRate: number }[] };
    expect(all.canaries).toMatchObject([{ service: 'reviews', state: 'progressing', maxErrorRate: 0.02 }]);
    const st2 = await enmesh(at('status'));
    expect(st2.out).toMatch(/^reviews\s.*v1→v2 10% progressing$/m);

    const a = await enmesh(withToken('canary', 'abort', 'reviews'));
    expect(a.code, a.err).toBe(0);
    expect(a.out).toMatch(/canary of reviews aborted: v1 back to 100%/);
    expect((await enmesh(at('get', 'routes', 'reviews'))).out).toMatch(/v1 100%, v2 0%/);

    const none = await enmesh(withToken('canary', 'abort', 'ratings'));
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/no canary for service "ratings"/);
    const unknown = await enmesh(withToken('canary', 'start', 'nope', '--to', 'v2'));
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/unknown service "nope"/);
  });
});
