/** ratings: a leaf service answering stars. */
import { startService } from './service-kit.ts';

startService(async (_req, url) => {
  if (!url.pathname.startsWith('/ratings/')) return { status: 404, body: { error: 'not found' } };
  return { body: { id: url.pathname.slice('/ratings/'.length), stars: 4 } };
});
