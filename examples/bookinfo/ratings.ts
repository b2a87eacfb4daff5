/**
 * ratings: a gRPC leaf service (`bookinfo.Ratings/Get`, see ratings.proto) on
 * ENMESH_PORT. gRPC has no room for the kit's /healthz and /_stats, so those
 * are served over HTTP on STATS_PORT; the requests they count are the gRPC calls.
 */
import * as grpc from '@grpc/grpc-js';
import { Ratings, type Rating, type RatingRequest } from './ratings-proto.ts';
import { identity, startStatsServer, Stats, stopOn } from './service-kit.ts';

const me = identity();
const servedBy = `${me.service}-${me.version}`;
const stats = new Stats(me, 'grpc');

const server = new grpc.Server();
server.addService(Ratings.service, {
  Get(call: grpc.ServerUnaryCall<RatingRequest, Rating>, callback: grpc.sendUnaryData<Rating>) {
    const started = performance.now();
    callback(null, { productId: call.request.productId, stars: 4, servedBy });
    stats.record(started, false);
  },
});
stopOn(() => server.forceShutdown());

server.bindAsync(`127.0.0.1:${me.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err !== null) {
    process.stderr.write(`ratings: cannot listen on 127.0.0.1:${me.port}: ${err.message}\n`);
    process.exit(1);
  }
  // Healthy only once gRPC listens: the demo waits for /healthz.
  startStatsServer(stats, Number(process.env.STATS_PORT ?? 0));
  process.stdout.write(`${me.service} ${me.version} serving gRPC on 127.0.0.1:${port}\n`);
});
