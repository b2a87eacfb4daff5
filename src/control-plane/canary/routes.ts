/**
 * The canary endpoints of the admin API (mutating ones behind the admin token guard):
 *   POST   /api/v1/canaries            start one → 201 {canary}
 *   GET    /api/v1/canaries            {canaries}
 *   GET    /api/v1/canaries/{service}  {canary}
 *   DELETE /api/v1/canaries/{service}  abort: weights back to 100 % baseline → {canary}
 */
import { isEnmeshError } from '../../errors.ts';
import { Reply, ReplyError, readJsonBody } from '../admin.ts';
import type { AdminServer } from '../admin.ts';
import { actorOf } from '../admin-auth.ts';
import type { CanaryController } from './controller.ts';
import { CanaryRejection, parseCanaryRequest } from './spec.ts';
import type { CanarySpec } from './spec.ts';

/** Canary requests are a few hundred bytes. */
const MAX_BODY_BYTES = 64 * 1024;

export function registerCanaryRoutes(admin: AdminServer, canaries: CanaryController): void {
  admin
    .route('GET', '/api/v1/canaries', () => ({ canaries: canaries.list() }))
    .route('POST', '/api/v1/canaries', async (req) => {
      const actor = actorOf(req);
      let body: Record<string, unknown> | undefined;
      let spec: CanarySpec;
      try {
        body = await readJsonBody(req, MAX_BODY_BYTES);
        spec = parseCanaryRequest(body);
      } catch (err) {
        // Refused before the controller saw it (which audits everything after): audited here.
        canaries.refused({ actor, action: 'canary.start', target: typeof body?.service === 'string' ? body.service : '', error: (err as Error).message });
        return failure(err);
      }
      try {
        return new Reply(201, { canary: await canaries.start(spec, actor) });
      } catch (err) {
        return failure(err);
      }
    })
    .route('GET', '/api/v1/canaries/{service}', (_req, _url, { params }) => {
      const canary = canaries.get(params.service!);
      return canary === undefined ? new Reply(404, { error: `no canary for service "${params.service}"; start one with POST /api/v1/canaries` }) : { canary };
    })
    .route('DELETE', '/api/v1/canaries/{service}', async (req, _url, { params }) => {
      try {
        return { canary: await canaries.abort(params.service!, actorOf(req)) };
      } catch (err) {
        return failure(err);
      }
    });
}

function failure(err: unknown): Reply {
  if (err instanceof ReplyError) return err.reply;
  if (err instanceof CanaryRejection) {
    return new Reply(err.status, { error: err.message, ...(err.issues === undefined ? {} : { issues: err.issues }) });
  }
  // The mutation path refused the first weight change (the result would be invalid, or the config changed meanwhile).
  const refused = err as { status?: unknown; message?: unknown; issues?: unknown };
  if (err instanceof Error && typeof refused.status === 'number' && refused.status >= 400 && refused.status < 600) {
    return new Reply(refused.status, { error: err.message, ...(Array.isArray(refused.issues) && refused.issues.length > 0 ? { issues: refused.issues } : {}) });
  }
  if (isEnmeshError(err)) {
    const status = err.code === 'ENMESH_ERR_CONFIG_CONFLICT' ? 409 : err.code === 'ENMESH_ERR_CONFIG_INVALID' ? 400 : 500;
    return new Reply(status, { error: err.message, ...(err.issues === undefined ? {} : { issues: err.issues }) });
  }
  return new Reply(500, { error: err instanceof Error ? err.message : String(err) });
}
