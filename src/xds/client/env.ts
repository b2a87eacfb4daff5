/**
 * Reads the control-plane settings from the environment:
 * - `ENMESH_CONTROL_PLANE`: comma-separated `xds://host:port` list (several for failover);
 * - `ENMESH_XDS_MODE`: `delta` (default) or `sotw`.
 */
import { EnmeshError } from '../../errors.ts';

export type XdsMode = 'delta' | 'sotw';

/** `xds://a:18000, xds://[::1]:18000` → `['a:18000', '[::1]:18000']`. The scheme may be omitted. */
export function parseControlPlaneServers(value: string, variable = 'ENMESH_CONTROL_PLANE'): string[] {
  const servers: string[] = [];
  for (const raw of value.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const address = item.startsWith('xds://') ? item.slice('xds://'.length).replace(/\/+$/, '') : item;
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:/[\]\s]+):(\d{1,5})$/.exec(address);
    const port = m === null ? 0 : Number(m[2]);
    if (m === null || port < 1 || port > 65535) {
      throw new EnmeshError(
        'ENMESH_ERR_CONFIG_INVALID',
        `${variable}: "${item}" is not a control-plane address; expected xds://host:port (comma-separated for several).`,
      );
    }
    servers.push(address);
  }
  if (servers.length === 0) {
    throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', `${variable} is empty; expected xds://host:port (comma-separated for several).`);
  }
  return servers;
}

export function parseXdsMode(value: string | undefined, variable = 'ENMESH_XDS_MODE'): XdsMode {
  const v = (value ?? '').trim().toLowerCase();
  if (v === '' || v === 'delta') return 'delta';
  if (v === 'sotw') return 'sotw';
  throw new EnmeshError('ENMESH_ERR_CONFIG_INVALID', `${variable}: "${value}" is not a mode; use delta or sotw.`);
}

/** Servers and mode from the environment, or undefined when `ENMESH_CONTROL_PLANE` is not set. */
export function xdsSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): { servers: string[]; mode: XdsMode } | undefined {
  const cp = env.ENMESH_CONTROL_PLANE;
  if (cp === undefined || cp.trim() === '') return undefined;
  return { servers: parseControlPlaneServers(cp), mode: parseXdsMode(env.ENMESH_XDS_MODE) };
}
