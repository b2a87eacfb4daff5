/**
 * `enmesh control-plane` as the demo runs it: the real CLI (bin/enmesh.js) in
 * a child process, on ports the OS picks, and what the demo reads from its
 * admin API.
 */
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Supervisor } from './processes.ts';

export interface ControlPlaneProcess {
  readonly xdsAddress: string;
  readonly adminUrl: string;
  /** The control plane's last log lines (stderr), to show when something goes wrong. */
  logTail(): string;
}

const LISTENING = /listening: xds (\S+), admin (http:\/\/\S+)/;
const TAIL = 20;

export async function startControlPlane(supervisor: Supervisor, root: string, meshFile: string, timeoutMs = 20_000): Promise<ControlPlaneProcess> {
  const child = supervisor.spawn(
    'control plane',
    [join(root, 'bin', 'enmesh.js'), 'control-plane', '--config', meshFile, '--xds-port', '0', '--admin-port', '0'],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    1,
  );
  // Read both pipes for the whole run: a full pipe would block the control plane.
  const tail: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    if (tail.push(line) > TAIL) tail.shift();
  });
  const logTail = (): string => tail.join('\n');
  const lines = createInterface({ input: child.stdout! });
  const ports = await new Promise<{ xdsAddress: string; adminUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the control plane did not start within ${timeoutMs / 1000} s\n${logTail()}`)), timeoutMs);
    lines.on('line', (line) => {
      const m = LISTENING.exec(line);
      if (m === null) return;
      clearTimeout(timer);
      resolve({ xdsAddress: m[1]!, adminUrl: m[2]! });
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`the control plane exited before listening\n${logTail()}`));
    });
  });
  return { ...ports, logTail };
}

export interface EndpointView {
  readonly address: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly origin: 'static' | 'registered' | 'consul';
}

/** `service → endpoints` as the control plane serves them now (`GET /api/v1/services`). */
export async function servedEndpoints(adminUrl: string): Promise<Map<string, readonly EndpointView[]>> {
  const res = await fetch(`${adminUrl}/api/v1/services`, { signal: AbortSignal.timeout(2000) });
  const body = (await res.json()) as { services: { name: string; endpoints: EndpointView[] }[] };
  return new Map(body.services.map((s) => [s.name, s.endpoints]));
}

/** The control plane's current config problem (a rejected edit of mesh.yaml), or null. */
export async function configError(adminUrl: string): Promise<string | null> {
  const res = await fetch(`${adminUrl}/api/v1/config/errors`, { signal: AbortSignal.timeout(2000) });
  const body = (await res.json()) as { error: { message: string } | null };
  return body.error?.message ?? null;
}
