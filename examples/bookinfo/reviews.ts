/** reviews: v1 answers alone; v2 asks ratings for stars with node:http (http.get), by service name. */
import http from 'node:http';
import { startService } from './service-kit.ts';

const version = /(?:^|,)version=([^,]+)/.exec(process.env.ENMESH_LABELS ?? '')?.[1] ?? 'v1';
const failPercent = Number(process.env.REVIEWS_FAIL_PERCENT ?? 0);

function getJson(url: string): Promise<{ status: number; body: { stars?: number } }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { stars?: number } });
          } catch (err) {
            reject(err as Error);
          }
        });
      })
      .on('error', reject);
  });
}

startService(async (_req, url) => {
  if (!url.pathname.startsWith('/reviews/')) return { status: 404, body: { error: 'not found' } };
  if (failPercent > 0 && Math.random() * 100 < failPercent) return { status: 503, body: { error: 'injected failure' } };
  const reviews = [{ reviewer: 'Reviewer1', text: 'An extremely entertaining play by Shakespeare.' }];
  if (version === 'v1') return { body: { version, reviews } };
  const ratings = await getJson('http://ratings:9080/ratings/1');
  return { body: { version, reviews: reviews.map((r) => ({ ...r, stars: ratings.body.stars })) } };
});
