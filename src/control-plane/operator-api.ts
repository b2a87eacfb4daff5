/**
 * The operator half of the admin API (docs/admin-api.md): reading and changing
 * the config, history and rollback, the audit log, drains, the reported policy
 * state, and the event stream. Handlers are thin: the work is in
 * mutations.ts, and the auth guard (admin-auth.ts) runs before them.
 */
import type { IncomingMessage } from 'node:http';
import { HANDLED, Reply, readJsonBody } from './admin.ts';
import type { AdminServer } from './admin.ts';
import { actorOf } from './admin-auth.ts';
import type { AuditLog } from './audit.ts';
import type { EventHub } from './events.ts';
import type { ConfigHistory } from './history.ts';
import { MutationError } from './mutations.ts';
import type { MutationService } from './mutations.ts';

export interface OperatorApiSources {
  readonly mutations: MutationService;
  readonly history: ConfigHistory;
  readonly audit: AuditLog;
  readonly events: EventHub;
  /** `GET /api/v1/policy-state` body. */
  readonly policyState: () => unknown;
}

export function mountOperatorApi(admin: AdminServer, src: OperatorApiSources): void {
  const m = src.mutations;
  admin
    .route('GET', '/api/v1/config', () => m.current())
    .route('PUT', '/api/v1/config', (req) =>
      answer(async () => {
        const body = await readJsonBody(req);
        if (typeof body.text !== 'string') throw bad('text', 'expected the whole mesh.yaml as a string: {"text": "...", "dryRun"?: true, "expectedVersion"?: "..."}');
        if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') throw bad('dryRun', 'expected true or false');
        if (body.expectedVersion !== undefined && typeof body.expectedVersion !== 'string') throw bad('expectedVersion', 'expected a version string from GET /api/v1/config');
        return m.putConfig(body.text, {
          actor: actorOf(req),
          ...(body.dryRun === true ? { dryRun: true } : {}),
          ...(typeof body.expectedVersion === 'string' ? { expectedVersion: body.expectedVersion } : {}),
        });
      }),
    )
    .route('POST', '/api/v1/services/{service}/routes/{route}/weights', (req, _url, { params }) =>
      answer(async () => {
        const body = await readJsonBody(req);
        const weights = body.weights;
        if (weights === null || typeof weights !== 'object' || Array.isArray(weights)) {
          throw bad('weights', 'expected {"weights": {"<subset or service>": <weight>, ...}}, e.g. {"weights": {"v1": 90, "v2": 10}}');
        }
        return m.setWeights(params.service!, params.route!, weights as Record<string, number>, { actor: actorOf(req) });
      }),
    )
    .route('POST', '/api/v1/services/{service}/routes/{route}/fault', (req, _url, { params }) =>
      answer(async () => {
        const body = await readJsonBody(req);
        const off = switchedOff(body);
        return m.setFault(params.service!, params.route!, off ? undefined : settings(body), { actor: actorOf(req) });
      }),
    )
    .route('POST', '/api/v1/services/{service}/rate-limit', (req, _url, { params }) =>
      answer(async () => {
        const body = await readJsonBody(req);
        const off = switchedOff(body);
        return m.setRateLimit(params.service!, off ? undefined : settings(body), { actor: actorOf(req) });
      }),
    )
    .route('POST', '/api/v1/services/{service}/endpoints/{endpoint}/drain', (req, _url, { params }) =>
      answer(async () => {
        const body = await readJsonBody(req);
        if (typeof body.drained !== 'boolean') throw bad('drained', 'expected {"drained": true} to drain or {"drained": false} to undrain');
        return m.drain(params.service!, params.endpoint!, body.drained, { actor: actorOf(req) });
      }),
    )
    .route('POST', '/api/v1/rollback', (req) =>
      answer(async () => {
        const body = await readJsonBody(req);
        if (typeof body.version !== 'string' || body.version === '') throw bad('version', 'expected {"version": "<a version from GET /api/v1/history>"}');
        return m.rollback(body.version, { actor: actorOf(req) });
      }),
    )
    .route('GET', '/api/v1/history', () => ({
      current: src.history.current()?.version ?? null,
      versions: src.history.list().map(({ version, at, actor, source, summary }) => ({ version, at, actor, source, summary })),
    }))
    .route('GET', '/api/v1/history/{version}', (_req, _url, { params }) => {
      const v = src.history.get(params.version!);
      if (v === undefined) return new Reply(404, { error: `version ${params.version} is not in the history; see GET /api/v1/history` });
      return { version: v.version, text: v.text };
    })
    .route('GET', '/api/v1/audit', () => ({ entries: src.audit.list() }))
    .route('GET', '/api/v1/policy-state', () => src.policyState())
    .route('GET', '/api/v1/events', (req: IncomingMessage, _url, { res }) => {
      src.events.attach(req, res);
      return HANDLED;
    });
}

/** Runs a mutation handler; a MutationError becomes its status with `{error, issues?}`. */
async function answer(run: () => Promise<unknown>): Promise<unknown> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof MutationError) {
      return new Reply(err.status, err.issues.length > 0 ? { error: err.message, issues: err.issues } : { error: err.message });
    }
    throw err;
  }
}

function bad(path: string, message: string): MutationError {
  return new MutationError(400, `${path}: ${message}`, [{ path, message }]);
}

/** `{enabled: false}` turns a setting off; `enabled: true` (or absent) sets it from the other fields. */
function switchedOff(body: Record<string, unknown>): boolean {
  if (body.enabled !== undefined && typeof body.enabled !== 'boolean') throw bad('enabled', 'expected true or false');
  return body.enabled === false;
}

function settings(body: Record<string, unknown>): Record<string, unknown> {
  const { enabled: _enabled, ...rest } = body;
  if (Object.keys(rest).length === 0) throw bad('', 'nothing to set: give the settings, or {"enabled": false} to turn it off');
  return rest;
}
