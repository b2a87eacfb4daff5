/**
 * reviews: v1 answers alone; v2 asks ratings for stars over gRPC. The client
 * is plain @grpc/grpc-js: the target `xds:///ratings` is the only thing that
 * knows about the mesh (the control plane resolves it). RATINGS_TARGET
 * overrides it, e.g. with a plain address where no control plane runs.
 */
import * as grpc from '@grpc/grpc-js';
import { ratingsClient, type Rating, type RatingsClient } from './ratings-proto.ts';
import { identity, startService } from './service-kit.ts';

const { version } = identity();
const failPercent = Number(process.env.REVIEWS_FAIL_PERCENT ?? 0);
const ratingsTarget = process.env.RATINGS_TARGET || 'xds:///ratings';
/** Below the mesh's per-try timeout for reviews (500 ms), so a slow rating fails this try, not the page. */
const RATINGS_DEADLINE_MS = 400;

let ratings: RatingsClient | undefined;

function getRating(productId: string, user: string): Promise<Rating> {
  ratings ??= ratingsClient(ratingsTarget);
  const client = ratings;
  return new Promise((resolve, reject) => {
    client.Get({ productId, user }, new grpc.Metadata(), { deadline: Date.now() + RATINGS_DEADLINE_MS }, (err, rating) => {
      if (err !== null || rating === undefined) reject(new Error(`ratings: ${err?.message ?? 'empty answer'}`));
      else resolve(rating);
    });
  });
}

startService(async (req, url) => {
  if (!url.pathname.startsWith('/reviews/')) return { status: 404, body: { error: 'not found' } };
  if (failPercent > 0 && Math.random() * 100 < failPercent) return { status: 503, body: { error: 'injected failure' } };
  const productId = url.pathname.slice('/reviews/'.length);
  const reviews = [{ reviewer: 'Reviewer1', text: 'An extremely entertaining play by Shakespeare.' }];
  if (version === 'v1') return { body: { version, reviews } };
  const rating = await getRating(productId, String(req.headers['x-user'] ?? ''));
  return { body: { version, ratedBy: rating.servedBy, reviews: reviews.map((r) => ({ ...r, stars: rating.stars })) } };
});
