import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../../errors.ts';
import { parseControlPlaneServers, parseXdsMode, xdsSettingsFromEnv } from './env.ts';

describe('ENMESH_CONTROL_PLANE', () => {
  it('reads a comma-separated xds:// list, scheme optional, IPv6 in brackets', () => {
    expect(parseControlPlaneServers('xds://cp-a:18000, xds://10.0.0.2:18000/,cp-c:1,xds://[::1]:9')).toEqual([
      'cp-a:18000',
      '10.0.0.2:18000',
      'cp-c:1',
      '[::1]:9',
    ]);
  });

  it.each(['xds://cp-a', 'http://cp:1', 'xds://cp:0', 'xds://cp:70000', ' , '])('rejects %j with a config error naming the variable', (v) => {
    let caught: unknown;
    try {
      parseControlPlaneServers(v);
    } catch (err) {
      caught = err;
    }
    expect(isEnmeshError(caught)).toBe(true);
    expect((caught as Error).message).toContain('ENMESH_CONTROL_PLANE');
  });
});

describe('ENMESH_XDS_MODE', () => {
  it('defaults to delta and accepts sotw in any case', () => {
    expect(parseXdsMode(undefined)).toBe('delta');
    expect(parseXdsMode('SotW')).toBe('sotw');
    expect(() => parseXdsMode('incremental')).toThrow(/ENMESH_XDS_MODE/);
  });

  it('settings come from the environment only when a control plane is named', () => {
    expect(xdsSettingsFromEnv({})).toBeUndefined();
    expect(xdsSettingsFromEnv({ ENMESH_CONTROL_PLANE: 'xds://a:1,xds://b:2', ENMESH_XDS_MODE: 'sotw' })).toEqual({
      servers: ['a:1', 'b:2'],
      mode: 'sotw',
    });
  });
});
