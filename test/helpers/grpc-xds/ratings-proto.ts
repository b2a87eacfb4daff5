/** The `ratings.Ratings` test service, loaded from ratings.proto beside this file. */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const RATINGS_PROTO = fileURLToPath(new URL('./ratings.proto', import.meta.url));
export const GET_METHOD = '/ratings.Ratings/Get';
export const LIST_METHOD = '/ratings.Ratings/List';

export interface GetRequest {
  key: string;
}

export interface GetReply {
  backend: string;
  attempt: number;
}

export function ratingsService(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync(RATINGS_PROTO, { keepCase: true, defaults: true });
  return def['ratings.Ratings'] as grpc.ServiceDefinition;
}

/** A client constructor for `ratings.Ratings`. */
export function ratingsClient(): grpc.ServiceClientConstructor {
  return grpc.makeClientConstructor(ratingsService(), 'ratings.Ratings');
}
