/**
 * `enmesh control-plane --ca-dir --ca-ttl`: the CA keeps its root in the
 * directory across restarts, tokens minted from that directory are
 * accepted, and SVIDs get the configured lifetime. Bad values are refused
 * with the flag named.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import type { CliIo } from '../../../src/cli/io.ts';
import { httpCaClient } from '../../../src/security/ca-client.ts';
import { makeCsr } from '../../fixtures/security/pki.ts';
import { createMeshFile, type MeshFile } from '../../helpers/mesh-file.ts';

let file: MeshFile;
let caDir: string;

function io(): CliIo & { out: string; err: string; stop: () => void } {
  let stop: (s: string) => void = () => undefined;
  const signal = new Promise<string>((r) => (stop = r));
  const o = {
    out: '',
    err: '',
    stdout: (t: string) => void (o.out += t),
    stderr: (t: string) => void (o.err += t),
    waitForSignal: () => signal,
    stop: () => stop('SIGTERM'),
  };
  return o;
}

/** Runs the control plane until `fn` is done; returns its admin URL's bundle and fn's result. */
async function withControlPlane<T>(extra: string[], fn: (adminUrl: string) => Promise<T>): Promise<T> {
  const cli = io();
  const running = main(['control-plane', '--config', file.path, '--xds-port', '0', '--admin-port', '0', '--startup-hold', '0', '--ca-dir', caDir, ...extra], cli);
  const deadline = Date.now() + 20_000;
  while (!/admin (http:\/\/\S+)/.test(cli.out)) {
    if (Date.now() > deadline) throw new Error(`control plane did not start: ${cli.err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  try {
    return await fn(/admin (http:\/\/\S+)/.exec(cli.out)![1]!);
  } finally {
    cli.stop();
    expect(await running).toBe(0);
  }
}

async function token(): Promise<string> {
  const cli = io();
  expect(await main(['token', 'create', '--service', 'reviews', '--ca-dir', caDir, '--config', file.path], cli), cli.err).toBe(0);
  return cli.out.trim();
}

beforeAll(async () => {
  file = await createMeshFile('mesh: { trustDomain: demo.local }\nservices:\n  reviews: { protocol: http, port: 9080 }\n');
  caDir = `${file.path}.ca`;
});
afterAll(async () => {
  await file?.remove();
});

it('keeps the root in --ca-dir across restarts and signs SVIDs with the --ca-ttl lifetime', async () => {
  const first = await withControlPlane(['--ca-ttl', '10m'], async (url) => {
    const ca = httpCaClient({ url, token: await token() });
    try {
      const signed = await ca.sign((await makeCsr()).pem);
      const leaf = new X509Certificate(signed.certChainPem);
      const lifetime = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
      // 10 min plus the back-dating for clock skew (at most 10 % of it).
      expect(lifetime).toBeGreaterThanOrEqual(10 * 60_000);
      expect(lifetime).toBeLessThanOrEqual(11 * 60_000 + 1000);
      return signed.bundlePem;
    } finally {
      await ca.close();
    }
  });
  expect(existsSync(join(caDir, 'ca-cert.pem'))).toBe(true);
  expect(existsSync(join(caDir, 'ca-key.pem'))).toBe(true);
  const second = await withControlPlane([], async (url) => (await (await fetch(`${url}/api/v1/ca/bundle`)).json()) as { pem: string });
  expect(second.pem).toBe(first);
});

it('refuses bad CA flags, naming them', async () => {
  for (const [args, pattern] of [
    [['--ca-ttl', '5'], /--ca-ttl must be a duration/],
    [['--ca-ttl', '10ms'], /--ca-ttl must be a duration of at least 1s/],
    [['--ca-cert', '/nonexistent.pem'], /--ca-cert and --ca-key go together/],
  ] as const) {
    const cli = io();
    const code = await main(['control-plane', '--config', file.path, '--xds-port', '0', '--admin-port', '0', ...args], cli);
    expect(code).toBe(2);
    expect(cli.err).toMatch(pattern);
  }
  const cli = io();
  const code = await main(['control-plane', '--config', file.path, '--xds-port', '0', '--admin-port', '0', '--ca-cert', join(caDir, 'missing.pem'), '--ca-key', join(caDir, 'ca-key.pem')], cli);
  expect(code).toBe(1);
  expect(cli.err).toMatch(/missing\.pem cannot be read/);
});
