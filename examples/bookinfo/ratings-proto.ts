/**
 * The `bookinfo.Ratings` gRPC contract, loaded at start from ratings.proto
 * beside this file (no generated code). Shared by the server (ratings.ts) and
 * its client (reviews.ts).
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const RATINGS_PROTO = fileURLToPath(new URL('./ratings.proto', import.meta.url));

/** Field names as proto-loader gives them: lowerCamelCase. */
export interface RatingRequest {
  productId: string;
  user: string;
}

export interface Rating {
  productId: string;
  stars: number;
  servedBy: string;
}

export interface RatingsClient extends grpc.Client {
  Get(request: RatingRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<Rating>): grpc.ClientUnaryCall;
}

const definition = protoLoader.loadSync(RATINGS_PROTO, { defaults: true });
const bookinfo = grpc.loadPackageDefinition(definition).bookinfo as grpc.GrpcObject;

/** Client constructor; `Ratings.service` is the definition a server adds. */
export const Ratings = bookinfo.Ratings as grpc.ServiceClientConstructor;

export function ratingsClient(target: string): RatingsClient {
  return new Ratings(target, grpc.credentials.createInsecure()) as unknown as RatingsClient;
}
