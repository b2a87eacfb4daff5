/** productpage: the front end. Calls details with fetch and reviews with undici.request, by service name. */
import { request } from 'undici';
import { startService } from './service-kit.ts';

startService(async (req, url) => {
  if (url.pathname !== '/productpage') return { status: 404, body: { error: 'not found' } };
  const user = url.searchParams.get('user') ?? 'anonymous';
  const [details, reviews] = await Promise.allSettled([
    fetch('http://details:9080/details/1').then(async (r) => ({ status: r.status, body: await r.json() })),
    request('http://reviews:9080/reviews/1', { headers: { 'x-user': user, 'x-canary': String(req.headers['x-canary'] ?? '') } }).then(
      async (r) => ({ status: r.statusCode, body: await r.body.json() }),
    ),
  ]);
  const ok = (s: PromiseSettledResult<{ status: number; body: unknown }>): boolean => s.status === 'fulfilled' && s.value.status < 500;
  return {
    status: ok(details) && ok(reviews) ? 200 : 502,
    body: {
      product: 'The Comedy of Errors',
      details: details.status === 'fulfilled' ? details.value.body : { error: String(details.reason) },
      reviews: reviews.status === 'fulfilled' ? reviews.value.body : { error: String(reviews.reason) },
    },
  };
});
