import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { grpcXdsBootstrap, registerGrpcXds } from './grpc-bootstrap.ts';

const saved = { file: process.env.GRPC_XDS_BOOTSTRAP, config: process.env.GRPC_XDS_BOOTSTRAP_CONFIG };
afterEach(() => {
  for (const [key, value] of [
    ['GRPC_XDS_BOOTSTRAP', saved.file],
    ['GRPC_XDS_BOOTSTRAP_CONFIG', saved.config],
  ] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

describe('grpcXdsBootstrap', () => {
  it('is the standard bootstrap: every server insecure with xds_v3, the node with its zone, the server listener template', () => {
    expect(grpcXdsBootstrap({ servers: ['127.0.0.1:15010', 'cp-b:15010'], nodeId: 'ratings-client-1', zone: 'zone-a' })).toEqual({
      xds_servers: [
        { server_uri: '127.0.0.1:15010', channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] },
        { server_uri: 'cp-b:15010', channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] },
      ],
      node: { id: 'ratings-client-1', locality: { zone: 'zone-a' } },
      server_listener_resource_name_template: 'grpc/server?xds.resource.listening_address=%s',
    });
  });

  it('refuses an empty server list or node id', () => {
    expect(() => grpcXdsBootstrap({ servers: [], nodeId: 'n' })).toThrow(/servers/);
    expect(() => grpcXdsBootstrap({ servers: ['a:1'], nodeId: '' })).toThrow(/nodeId/);
  });
});

describe('registerGrpcXds', () => {
  it('sets GRPC_XDS_BOOTSTRAP_CONFIG and registers the xds: scheme with grpc-js', () => {
    delete process.env.GRPC_XDS_BOOTSTRAP;
    delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
    expect(registerGrpcXds({ servers: ['127.0.0.1:1'], nodeId: 'n1', zone: 'z' })).toEqual({ bootstrap: 'enmesh' });
    expect(JSON.parse(process.env.GRPC_XDS_BOOTSTRAP_CONFIG!)).toMatchObject({ node: { id: 'n1', locality: { zone: 'z' } } });
    // Without the xds resolver, grpc-js would treat the target as a DNS name (`dns:xds:///ratings`).
    const c = new grpc.Client('xds:///ratings', grpc.credentials.createInsecure());
    expect(c.getChannel().getTarget()).toBe('xds:///ratings');
    c.close();
    // Calling again (ours still in place) replaces it and stays registered once.
    expect(registerGrpcXds({ servers: ['127.0.0.1:2'], nodeId: 'n2' })).toEqual({ bootstrap: 'enmesh' });
    expect(JSON.parse(process.env.GRPC_XDS_BOOTSTRAP_CONFIG!).xds_servers[0].server_uri).toBe('127.0.0.1:2');
  });

  it("leaves the user's own bootstrap alone", () => {
    process.env.GRPC_XDS_BOOTSTRAP_CONFIG = '{"xds_servers":[]}';
    expect(registerGrpcXds({ servers: ['127.0.0.1:1'], nodeId: 'n' })).toEqual({ bootstrap: 'user' });
    expect(process.env.GRPC_XDS_BOOTSTRAP_CONFIG).toBe('{"xds_servers":[]}');
    delete process.env.GRPC_XDS_BOOTSTRAP_CONFIG;
    process.env.GRPC_XDS_BOOTSTRAP = '/etc/grpc/bootstrap.json';
    expect(registerGrpcXds({ servers: ['127.0.0.1:1'], nodeId: 'n' })).toEqual({ bootstrap: 'user' });
    expect(process.env.GRPC_XDS_BOOTSTRAP_CONFIG).toBeUndefined();
  });
});
