import { describe, expect, it } from 'vitest';
import type { ServiceModel } from '../model/types.ts';
import { clusterName, listenerNames, listeningAddress, parseClusterName, routeConfigName, SERVER_LISTENER_NAME_TEMPLATE, serverListenerName } from './resource-names.ts';

describe('resource names', () => {
  it('names both listener targets a gRPC client may use', () => {
    expect(listenerNames({ name: 'ratings', port: 50051 } as ServiceModel)).toEqual(['ratings', 'ratings:50051']);
    expect(routeConfigName('ratings')).toBe('ratings');
  });

  it('names a gRPC server\'s listener after its listening address, as the bootstrap template spells it', () => {
    expect(SERVER_LISTENER_NAME_TEMPLATE).toBe('grpc/server?xds.resource.listening_address=%s');
    expect(listeningAddress('10.0.0.1', 50051)).toBe('10.0.0.1:50051');
    expect(listeningAddress('::', 50051)).toBe('[::]:50051');
    expect(serverListenerName(listeningAddress('fd00::1', 8443))).toBe('grpc/server?xds.resource.listening_address=[fd00::1]:8443');
  });

  it('writes Istio-style cluster names and parses them back', () => {
    expect(clusterName('reviews', 9080, 'v1')).toBe('outbound|9080|v1|reviews');
    expect(clusterName('reviews', 9080)).toBe('outbound|9080||reviews');
    expect(parseClusterName('outbound|9080|v1|reviews')).toEqual({ service: 'reviews', port: 9080, subset: 'v1' });
    expect(parseClusterName('outbound|9080||reviews')).toEqual({ service: 'reviews', port: 9080 });
    expect(parseClusterName('outbound|9080||reviews.default.svc.cluster.local')).toEqual({
      service: 'reviews.default.svc.cluster.local',
      port: 9080,
    });
  });

  it('refuses names it did not write', () => {
    for (const bad of ['reviews', 'inbound|9080||reviews', 'outbound|0||reviews', 'outbound|70000||reviews', 'outbound|x||reviews', 'outbound|9080||']) {
      expect(parseClusterName(bad), bad).toBeUndefined();
    }
  });
});
