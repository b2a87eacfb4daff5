/**
 * The gRPC benchmark upstream: the example `bookinfo.Ratings` service on
 * plain grpc-js (no enmesh), answering Get at once. Reports its port over IPC.
 */
import * as grpc from '@grpc/grpc-js';
import { Ratings, type Rating, type RatingRequest } from '../../examples/bookinfo/ratings-proto.ts';

const server = new grpc.Server();
server.addService(Ratings.service, {
  Get(call: grpc.ServerUnaryCall<RatingRequest, Rating>, callback: grpc.sendUnaryData<Rating>) {
    callback(null, { productId: call.request.productId, stars: 4, servedBy: 'bench-v1' });
  },
});
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err !== null) throw err;
  process.send?.({ port });
});
process.on('disconnect', () => process.exit(0));
