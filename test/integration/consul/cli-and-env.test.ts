/**
 * `enmesh control-plane --consul…` flags and the SDK's `ENMESH_CONSUL*` variables: what they accept
 * and how they refuse, and that each flag (and its environment variable) reaches the control plane
 * it starts, against the Consul double.
 */
import { expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { optionsFromEnv } from '../../../src/env.ts';
import { startConsulDouble } from '../../helpers/consul-double.ts';
import { freePort } from '../../helpers/free-port.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';
import { until } from '../../helpers/cp/wait.ts';

function captureIo(): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout: (t: string) => void (io.out += t),
    stderr: (t: string) => void (io.err += t),
    waitForSignal: () => new Promise<string>(() => undefined),
  };
  return io;
}

it('refuses a bad --consul address, a bad consistency, and Consul flags or consul-kv:// without --consul', async () => {
  const file = await createMeshFile(reviewsYaml({}));
  try {
    const bad = captureIo();
    expect(await main(['control-plane', '--config', file.path, '--xds-port', '0', '--admin-port', '0', '--consul', 'ftp://consul:8500'], bad)).toBe(1);
    expect(bad.err).toMatch(/"ftp:\/\/consul:8500" is not a Consul address; expected http:\/\/host:port/);
    const consistency = captureIo();
    expect(await main(['control-plane', '--config', file.path, '--consul', 'http://127.0.0.1:1', '--consul-consistency', 'eventual'], consistency)).toBe(2);
    expect(consistency.err).toMatch(/--consul-consistency must be default, stale or consistent/);
    for (const flag of [['--consul-token', 't'], ['--consul-dc', 'dc2'], ['--consul-consistency', 'stale'], ['--consul-accept-warning']]) {
      const orphan = captureIo();
      expect(await main(['control-plane', '--config', file.path, '--xds-port', '0', '--admin-port', '0', ...flag], orphan)).toBe(2);
      expect(orphan.err).toContain(`${flag[0]} needs --consul <url> (or $ENMESH_CONSUL)`);
    }
    const kv = captureIo();
    expect(await main(['control-plane', '--config', 'consul-kv://enmesh/mesh.yaml', '--xds-port', '0', '--admin-port', '0'], kv)).toBe(1);
    expect(kv.err).toMatch(/give the Consul address too \(--consul http:\/\/127\.0\.0\.1:8500\)/);
    const help = captureIo();
    expect(await main(['control-plane', '--help'], help)).toBe(0);
    expect(help.out).toMatch(/--consul <url>/);
  } finally {
    await file.remove();
  }
});

it('reads ENMESH_CONSUL, ENMESH_CONSUL_TOKEN and ENMESH_CONSUL_CHECK', () => {
  expect(optionsFromEnv({ ENMESH_SERVICE: 'reviews', ENMESH_PORT: '9080', ENMESH_CONSUL: 'http://127.0.0.1:8500', ENMESH_CONSUL_TOKEN: 't', ENMESH_CONSUL_CHECK: 'http' }).consul).toEqual({
    address: 'http://127.0.0.1:8500',
    token: 't',
    check: 'http',
  });
  expect(optionsFromEnv({ ENMESH_CONSUL: 'http://127.0.0.1:8500' }).consul).toEqual({ address: 'http://127.0.0.1:8500' });
  expect(() => optionsFromEnv({ ENMESH_CONSUL: 'http://127.0.0.1:8500', ENMESH_CONSUL_CHECK: 'tcp' })).toThrow(/ENMESH_CONSUL_CHECK must be "ttl" or "http", got "tcp"/);
});

/** `enmesh control-plane …` run in process until `stop()` (the signal it waits for). */
async function runControlPlane(args: readonly string[]) {
  let signal!: (name: string) => void;
  const io = captureIo();
  io.waitForSignal = () => new Promise<string>((r) => (signal = r));
  let exited = false;
  const exit = main(['control-plane', '--xds-port', '0', '--admin-port', '0', '--startup-hold', '0', ...args], io).finally(() => (exited = true));
  await until(() => /admin http:\/\/127\.0\.0\.1:\d+/.test(io.out) || exited, 10_000, 'control plane listening');
  const admin = /admin (http:\/\/127\.0\.0\.1:\d+)/.exec(io.out)?.[1];
  if (admin === undefined) throw new Error(`control plane did not start: ${io.err}`);
  const get = async <T>(path: string): Promise<T> => (await (await fetch(`${admin}${path}`)).json()) as T;
  type Ep = { address: string; zone: string };
  const endpoints = async (service: string): Promise<Ep[]> =>
    ((await get<{ services: { name: string; endpoints: Ep[] }[] }>('/api/v1/services')).services.find((s) => s.name === service)?.endpoints ?? []);
  const source = async () => (await get<{ sources: { up: boolean; knownLeader: boolean; error: string | null }[] }>('/api/v1/sources')).sources[0]!;
  return {
    endpoints,
    source,
    async stop(): Promise<number> {
      signal('SIGTERM');
      return exit;
    },
  };
}

it('--consul-token, --consul-dc, --consul-consistency stale and --consul-accept-warning reach the control plane', async () => {
  const consul = await startConsulDouble({ aclToken: 'tok', datacenters: ['east', 'west'] });
  const file = await createMeshFile(reviewsYaml({}));
  consul.register({ id: 'r-east', name: 'reviews', address: '127.0.0.1', port: 9301, tags: ['version=v1'], dc: 'east' });
  consul.register({ id: 'r-west', name: 'reviews', address: '127.0.0.1', port: 9302, tags: ['version=v1'], dc: 'west', status: 'warning' });
  consul.register({ id: 'r-down', name: 'reviews', address: '127.0.0.1', port: 9303, tags: ['version=v1'], dc: 'east', status: 'critical' });
  const args = ['--config', file.path, '--consul', consul.url, '--consul-token', 'tok', '--consul-dc', 'east,west'];
  try {
    const cp = await runControlPlane([...args, '--consul-consistency', 'stale', '--consul-accept-warning']);
    try {
      // The token is accepted (the double answers 403 without it), both datacenters are read as
      // zones, and the warning instance gets traffic; the critical one never does.
      await until(async () => (await cp.endpoints('reviews')).length === 2, 5000, 'instances of both datacenters');
      expect(await cp.endpoints('reviews')).toMatchObject([
        { address: '127.0.0.1:9301', zone: 'east' },
        { address: '127.0.0.1:9302', zone: 'west' },
      ]);
      // Stale reads go on without a leader.
      consul.loseLeader();
      consul.setStatus('r-east', 'critical');
      await until(async () => (await cp.endpoints('reviews')).length === 1, 5000, 'change followed without a leader');
      expect(await cp.source()).toMatchObject({ up: true, knownLeader: false });
      consul.regainLeader();
      consul.setStatus('r-east', 'passing');
    } finally {
      expect(await cp.stop()).toBe(0);
    }

    // Without --consul-accept-warning: passing instances only.
    const strict = await runControlPlane(args);
    try {
      await until(async () => (await strict.endpoints('reviews')).length > 0, 5000, 'passing instance');
      expect((await strict.endpoints('reviews')).map((e) => e.address)).toEqual(['127.0.0.1:9301']);
      // Default consistency needs a leader: without one the source is down, the view kept.
      consul.loseLeader();
      consul.setStatus('r-west', 'passing');
      await until(async () => (await strict.source()).up === false, 5000, 'source down without a leader');
      expect((await strict.source()).error).toMatch(/No cluster leader/);
      expect((await strict.endpoints('reviews')).map((e) => e.address)).toEqual(['127.0.0.1:9301']);
      consul.regainLeader();
    } finally {
      expect(await strict.stop()).toBe(0);
    }
  } finally {
    await file.remove();
    await consul.close();
  }
});

it('reads ENMESH_CONSUL, ENMESH_CONSUL_TOKEN and ENMESH_CONFIG (consul-kv://) for the control plane', async () => {
  const consul = await startConsulDouble({ aclToken: 'tok' });
  consul.putKv('enmesh/mesh.yaml', reviewsYaml({}));
  consul.register({ id: 'r1', name: 'reviews', address: '127.0.0.1', port: 9401, tags: ['version=v1'] });
  const saved = { ...process.env };
  Object.assign(process.env, { ENMESH_CONSUL: consul.url, ENMESH_CONSUL_TOKEN: 'tok', ENMESH_CONFIG: 'consul-kv://enmesh/mesh.yaml' });
  try {
    const cp = await runControlPlane([]);
    try {
      await until(async () => (await cp.endpoints('reviews')).length === 1, 5000, 'instance from the catalog');
    } finally {
      expect(await cp.stop()).toBe(0);
    }
  } finally {
    for (const k of ['ENMESH_CONSUL', 'ENMESH_CONSUL_TOKEN', 'ENMESH_CONFIG']) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
    await consul.close();
  }
});

it('with --config consul-kv:// and Consul unreachable at start, exits 1 naming the key and the error', async () => {
  const port = await freePort();
  const io = captureIo();
  const code = await main(['control-plane', '--config', 'consul-kv://enmesh/mesh.yaml', '--consul', `http://127.0.0.1:${port}`, '--xds-port', '0', '--admin-port', '0'], io);
  expect(code).toBe(1);
  expect(io.err).toMatch(new RegExp(`cannot read consul-kv://enmesh/mesh\\.yaml from Consul at http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
});
