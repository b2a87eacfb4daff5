/**
 * Network namespaces joined to this one by veth pairs, for partitions:
 * `ip netns` + veth, link down / up. Needs root and iproute2.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Zone {
  readonly ns: string;
  /** The veth end in this (the root) namespace, and the one inside `ns`. */
  readonly hostIf: string;
  readonly nsIf: string;
  readonly hostIp: string;
  /** Where processes in the namespace listen. */
  readonly ip: string;
  /** `ip netns exec <ns>`: prefix to run a command inside. */
  readonly exec: readonly string[];
  /** Takes the link down inside the namespace: packets to it are dropped, not refused. */
  down(): Promise<void>;
  up(): Promise<void>;
}

/** Why namespaces cannot be made here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  if (!['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].some((p) => existsSync(p))) return 'the ip command (iproute2) is not installed';
  return undefined;
}

async function ip(...args: string[]): Promise<void> {
  try {
    await run('ip', args);
  } catch (err) {
    throw new Error(`ip ${args.join(' ')} failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`);
  }
}

/** Creates namespace `<tag>-<n>` with a /30 link 10.<second>.<third>.0 (host .1, namespace .2). */
export async function createZone(tag: string, n: number, second: number, third: number): Promise<Zone> {
  const ns = `${tag}-${n}`;
  const hostIf = `${tag}h${n}`.slice(0, 15);
  const nsIf = `${tag}n${n}`.slice(0, 15);
  const hostIp = `10.${second}.${third}.1`;
  const nsIp = `10.${second}.${third}.2`;
  await ip('netns', 'add', ns);
  await ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
  await ip('link', 'set', nsIf, 'netns', ns);
  await ip('addr', 'add', `${hostIp}/30`, 'dev', hostIf);
  await ip('link', 'set', hostIf, 'up');
  await ip('-n', ns, 'addr', 'add', `${nsIp}/30`, 'dev', nsIf);
  await ip('-n', ns, 'link', 'set', nsIf, 'up');
  await ip('-n', ns, 'link', 'set', 'lo', 'up');
  return {
    ns,
    hostIf,
    nsIf,
    hostIp,
    ip: nsIp,
    exec: ['ip', 'netns', 'exec', ns],
    down: () => ip('-n', ns, 'link', 'set', nsIf, 'down'),
    up: () => ip('-n', ns, 'link', 'set', nsIf, 'up'),
  };
}

/** Deletes the namespace (its veth pair goes with it); never throws, for afterAll. */
export async function deleteZone(ns: string, hostIf: string): Promise<void> {
  await run('ip', ['netns', 'del', ns]).catch(() => {});
  await run('ip', ['link', 'del', hostIf]).catch(() => {});
}
