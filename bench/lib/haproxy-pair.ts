/**
 * The sidecar comparison: two HAProxy processes in HTTP mode, one in front
 * of the client ("outbound sidecar") and one in front of the server
 * ("inbound sidecar"), with keep-alive and connection reuse on both hops:
 * client → haproxy A → haproxy B → upstream, as a sidecar mesh routes it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TASKSET } from './upstream.ts';

export const HAPROXY = ['/usr/sbin/haproxy', '/usr/bin/haproxy'].find((p) => existsSync(p));

export interface ProxyPair {
  /** Port of the first hop (where the client sends). */
  readonly port: number;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function config(listen: number, target: number): string {
  return `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend in
  bind 127.0.0.1:${listen}
  default_backend out
backend out
  server upstream 127.0.0.1:${target}
`;
}

async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`haproxy exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`haproxy did not listen on ${port}`);
}

/** Starts the pair in front of `upstreamPort`, both hops pinned to `core` (with the upstream, away from the client). */
export async function startHaproxyPair(upstreamPort: number, core = 1): Promise<ProxyPair> {
  if (HAPROXY === undefined) throw new Error('haproxy is not installed (Debian package haproxy)');
  const dir = await mkdtemp(join(tmpdir(), 'enmesh-bench-haproxy-'));
  const [a, b] = [await freePort(), await freePort()];
  const children: ChildProcess[] = [];
  for (const [name, listen, target] of [['inbound', b, upstreamPort], ['outbound', a, b]] as const) {
    const file = join(dir, `${name}.cfg`);
    await writeFile(file, config(listen, target));
    const cmd = TASKSET !== undefined ? TASKSET : HAPROXY;
    const args = TASKSET !== undefined ? ['-c', String(core), HAPROXY, '-db', '-f', file] : ['-db', '-f', file];
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    children.push(child);
    await waitForPort(listen, child);
  }
  return {
    port: a,
    async stop() {
      for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
      await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
