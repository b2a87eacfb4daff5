/** `enmesh control-plane --consul…` flags and the SDK's `ENMESH_CONSUL*` variables: what they accept and how they refuse. */
import { expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { optionsFromEnv } from '../../../src/env.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import { reviewsYaml } from '../../helpers/cp/reviews-yaml.ts';

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

it('refuses a bad --consul address, a bad consistency, and consul-kv:// without --consul', async () => {
  const file = await createMeshFile(reviewsYaml({}));
  try {
    const bad = captureIo();
    expect(await main(['control-plane', '--config', file.path, '--xds-port', '0', '--admin-port', '0', '--consul', 'ftp://consul:8500'], bad)).toBe(1);
    expect(bad.err).toMatch(/"ftp:\/\/consul:8500" is not a Consul address; expected http:\/\/host:port/);
    const consistency = captureIo();
    expect(await main(['control-plane', '--config', file.path, '--consul', 'http://127.0.0.1:1', '--consul-consistency', 'eventual'], consistency)).toBe(2);
    expect(consistency.err).toMatch(/--consul-consistency must be default, stale or consistent/);
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
