import { describe, expect, it } from 'vitest';
import { parseMeshYaml } from '../../config/load.ts';
import { meshGrpcTarget } from './mesh-target.ts';

const model = parseMeshYaml(`
services:
  ratings: { protocol: grpc, port: 50051 }
  reviews: { protocol: http, port: 9080 }
`, 'mesh-target.test.yaml');

describe('meshGrpcTarget', () => {
  it.each([
    ['ratings', 'xds:///ratings'],
    ['ratings:50051', 'xds:///ratings'],
    ['Ratings:50051', 'xds:///ratings'],
    ['dns:///ratings:50051', 'xds:///ratings'],
    ['dns://8.8.8.8/ratings:50051', 'xds:///ratings'],
    ['dns:ratings', 'xds:///ratings'],
  ])('routes %s to %s', (target, expected) => {
    expect(meshGrpcTarget(model, target)).toBe(expected);
  });

  it.each(['ratings:50052', 'reviews:9080', 'details:50051', '127.0.0.1:50051', 'ipv4:127.0.0.1:50051', 'unix:/tmp/ratings.sock', 'xds:///ratings', '[::1]:50051', 'ratings.default.svc:50051'])(
    'leaves %s alone',
    (target) => {
      expect(meshGrpcTarget(model, target)).toBeUndefined();
    },
  );

  it('routes nothing before a config is in force', () => {
    expect(meshGrpcTarget(undefined, 'ratings:50051')).toBeUndefined();
  });
});
