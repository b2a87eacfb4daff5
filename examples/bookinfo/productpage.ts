/**
 * productpage: the front end. Calls details with node:http (http.get) and
 * reviews with fetch, both by service name; the mesh routes them.
 */
import http from 'node:http';
import { startService } from './service-kit.ts';

interface Answer {
  status: number;
  body: unknown;
}

function getJson(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
          } catch (err) {
            reject(err as Error);
          }
        });
      })
      .on('error', reject);
  });
}

startService(async (req, url) => {
  if (url.pathname !== '/productpage') return { status: 404, body: { error: 'not found' } };
  const user = url.searchParams.get('user') ?? 'anonymous';
  const [details, reviews] = await Promise.allSettled([
    getJson('http://details:9080/details/1'),
    fetch('http://reviews:9080/reviews/1', { headers: { 'x-user': user, 'x-canary': String(req.headers['x-canary'] ?? '') } }).then(
      async (r): Promise<Answer> => ({ status: r.status, body: await r.json() }),
    ),
  ]);
  const ok = (s: PromiseSettledResult<Answer>): boolean => s.status === 'fulfilled' && s.value.status < 500;
  return {
    status: ok(details) && ok(reviews) ? 200 : 502,
    body: {
      product: 'The Comedy of Errors',
      details: details.status === 'fulfilled' ? details.value.body : { error: String(details.reason) },
      reviews: reviews.status === 'fulfilled' ? reviews.value.body : { error: String(reviews.reason) },
    },
  };
});
