import { describe, expect, it } from 'vitest';
import { buildModel } from '../config/validate.ts';
import { MeshMtls } from './mesh-mtls.ts';
import type { SvidManager } from './svid-manager.ts';

const model = (mtls: string) =>
  buildModel(
    {
      mesh: { trustDomain: 'demo.local', mtls },
      services: {
        reviews: {
          protocol: 'http',
          port: 9080,
          endpoints: [
            { address: '10.0.0.1:9080', labels: { 'security.enmesh.io/tlsMode': 'mtls' } },
            { address: '10.0.0.2:9080' },
            { address: '[::1]:9081' },
          ],
        },
        // Same address as a reviews endpoint: the first service keeps it (one server, one identity).
        other: { protocol: 'http', port: 80, endpoints: [{ address: '10.0.0.1:9080' }] },
      },
    },
    'test.yaml',
  );

const svids = {} as SvidManager;

describe('MeshMtls', () => {
  it('is off until an SVID is configured, and under disabled', () => {
    const m = new MeshMtls();
    m.setModel(model('strict'));
    expect(m.active).toBe(false);
    expect(m.outboundIdentity('http://10.0.0.1:9080')).toBeUndefined();
    expect(m.inbound()).toBe('off');
    m.setIdentity(svids);
    m.setModel(model('disabled'));
    expect(m.active).toBe(false);
    expect(m.inbound()).toBe('off');
  });

  it('strict: every endpoint, http or https origin, IPv6 in brackets; the server must be its service', () => {
    const m = new MeshMtls();
    m.setIdentity(svids);
    m.setModel(model('strict'));
    expect(m.inbound()).toBe('strict');
    expect(m.outboundIdentity('http://10.0.0.1:9080')).toBe('spiffe://demo.local/service/reviews');
    expect(m.outboundIdentity('https://10.0.0.2:9080')).toBe('spiffe://demo.local/service/reviews');
    expect(m.outboundIdentity('http://[::1]:9081')).toBe('spiffe://demo.local/service/reviews');
    expect(m.outboundIdentity('http://10.0.0.3:9080')).toBeUndefined();
    expect(m.outboundIdentity('http://reviews:9080')).toBeUndefined();
  });

  it('permissive: only endpoints labelled as serving mTLS', () => {
    const m = new MeshMtls();
    m.setIdentity(svids);
    m.setModel(model('permissive'));
    expect(m.inbound()).toBe('permissive');
    expect(m.outboundIdentity('http://10.0.0.1:9080')).toBe('spiffe://demo.local/service/reviews');
    expect(m.outboundIdentity('http://10.0.0.2:9080')).toBeUndefined();
  });
});
