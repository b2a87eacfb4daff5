/** details: a leaf service. */
import { startService } from './service-kit.ts';

startService(async (_req, url) => {
  if (!url.pathname.startsWith('/details/')) return { status: 404, body: { error: 'not found' } };
  return { body: { id: url.pathname.slice('/details/'.length), author: 'William Shakespeare', year: 1595, pages: 200 } };
});
