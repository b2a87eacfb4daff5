import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from './io.ts';
import { main } from './main.ts';

interface Captured extends CliIo {
  out: string;
  err: string;
  /** Resolves the pending waitForSignal. */
  signal(name: string): void;
  /** Resolves once stdout contains `text`. */
  printed(text: string): Promise<void>;
}

function io(): Captured {
  let release: ((s: string) => void) | undefined;
  const watchers = new Set<() => void>();
  const c: Captured = {
    out: '',
    err: '',
    stdout(t) {
      c.out += t;
      for (const w of watchers) w();
    },
    stderr(t) {
      c.err += t;
    },
    waitForSignal: () => new Promise((resolve) => (release = resolve)),
    signal: (name) => release?.(name),
    printed: (text) =>
      new Promise((resolve) => {
        const check = (): void => {
          if (c.out.includes(text)) resolve();
        };
        watchers.add(check);
        check();
      }),
  };
  return c;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'enmesh-cli-'));
  await writeFile(join(dir, 'ok.yaml'), 'services:\n  ratings: { protocol: grpc, port: 50051, endpoints: [{ address: 127.0.0.1:7001 }] }\n');
  await writeFile(join(dir, 'bad.yaml'), 'services:\n  ratings: { protocol: smoke-signals, port: 50051 }\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('enmesh CLI', () => {
  it('prints usage for --help (exit 0) and for no command (exit 2)', async () => {
    const a = io();
    expect(await main(['--help'], a)).toBe(0);
    expect(a.out).toMatch(/Usage: enmesh <command>/);
    expect(a.out).toMatch(/control-plane/);
    const b = io();
    expect(await main([], b)).toBe(2);
  });

  it('rejects an unknown command with exit 2', async () => {
    const c = io();
    expect(await main(['conquer'], c)).toBe(2);
    expect(c.err).toMatch(/unknown command "conquer"/);
  });

  it('shows control-plane help', async () => {
    const c = io();
    expect(await main(['control-plane', '--help'], c)).toBe(0);
    expect(c.out).toMatch(/--xds-port <port>/);
  });

  it('exits 2 on usage errors: missing --config, unknown flag, bad port', async () => {
    const saved = process.env.ENMESH_CONFIG;
    delete process.env.ENMESH_CONFIG;
    try {
      const a = io();
      expect(await main(['control-plane'], a)).toBe(2);
      expect(a.err).toMatch(/--config <mesh.yaml> is required/);
    } finally {
      if (saved !== undefined) process.env.ENMESH_CONFIG = saved;
    }
    const b = io();
    expect(await main(['control-plane', '--config', 'x.yaml', '--colour'], b)).toBe(2);
    expect(b.err).toMatch(/--colour/);
    const c = io();
    expect(await main(['control-plane', '--config', 'x.yaml', '--xds-port', '70000'], c)).toBe(2);
    expect(c.err).toMatch(/--xds-port must be an integer from 0 to 65535, got "70000"/);
  });

  it('exits 1 with the file and key path when the config is unreadable or invalid', async () => {
    const a = io();
    expect(await main(['control-plane', '--config', join(dir, 'missing.yaml'), '--xds-port', '0', '--admin-port', '0'], a)).toBe(1);
    expect(a.err).toMatch(/cannot read mesh config .*missing\.yaml/);
    const b = io();
    expect(await main(['control-plane', '--config', join(dir, 'bad.yaml'), '--xds-port', '0', '--admin-port', '0'], b)).toBe(1);
    expect(b.err).toMatch(/bad\.yaml/);
    expect(b.err).toMatch(/services\.ratings\.protocol/);
  });

  it('runs until a signal, printing where it listens, then shuts down with exit 0', async () => {
    const c = io();
    const done = main(['control-plane', '-c', join(dir, 'ok.yaml'), '--xds-port', '0', '--admin-port', '0'], c);
    await c.printed('\n');
    const m = /^enmesh control-plane listening: xds 127\.0\.0\.1:(\d+), admin http:\/\/127\.0\.0\.1:(\d+)\n$/.exec(c.out);
    expect(m).not.toBeNull();
    const health = await fetch(`http://127.0.0.1:${m![2]}/healthz`);
    expect(await health.json()).toMatchObject({ status: 'ok' });
    c.signal('SIGTERM');
    expect(await done).toBe(0);
    expect(c.err).toMatch(/SIGTERM received, shutting down/);
    await expect(fetch(`http://127.0.0.1:${m![2]}/healthz`)).rejects.toThrow();
  });
});
