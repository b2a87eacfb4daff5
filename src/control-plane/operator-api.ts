/**
 * The operator half of the admin API (docs/admin-api.md): reading and changing
 * the config, history and rollback, the audit log, drains, the reported policy
 * state, and the event stream. Handlers are thin: the work is in
 * mutations.ts, and the auth guard (admin-auth.ts) runs before them.
 */
import type { IncomingMessage } from 'node:http';
import { HANDLED, Reply, ReplyError, readJsonBody } from './admin.ts';
import type { AdminServer } from './admin.ts';
import { actorOf } from './admin-auth.ts';
import type { AuditLog } from './audit.ts';
import type { EventHub } from './events.ts';
import { normalizeEndpointAddress } from './drains.ts';
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
  const routeTarget = (params: Params): string => `${params.service}/routes/${params.route}`;
  const mutating = mutatingRoute(admin, m);
  mutating('PUT', '/api/v1/config', () => ({ action: 'config.put', target: 'mesh.yaml' }), (body, _params, actor) => {
    if (typeof body.text !== 'string') throw bad('text', 'expected the whole mesh.yaml as a string: {"text": "...", "dryRun"?: true, "expectedVersion"?: "..."}');
    if (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') throw bad('dryRun', 'expected true or false');
    if (body.expectedVersion !== undefined && typeof body.expectedVersion !== 'string') throw bad('expectedVersion', 'expected a version string from GET /api/v1/config');
    const text = body.text;
    return () =>
      m.putConfig(text, {
        actor,
        ...(body.dryRun === true ? { dryRun: true } : {}),
        ...(typeof body.expectedVersion === 'string' ? { expectedVersion: body.expectedVersion } : {}),
      });
  });
  mutating('POST', '/api/v1/services/{service}/routes/{route}/weights', (params) => ({ action: 'route.weights', target: routeTarget(params) }), (body, params, actor) => {
    const weights = body.weights;
    if (weights === null || typeof weights !== 'object' || Array.isArray(weights)) {
      throw bad('weights', 'expected {"weights": {"<subset or service>": <weight>, ...}}, e.g. {"weights": {"v1": 90, "v2": 10}}');
    }
    return () => m.setWeights(params.service!, params.route!, weights as Record<string, number>, { actor });
  });
  mutating(
    'POST',
    '/api/v1/services/{service}/routes/{route}/fault',
    (params, body) => ({ action: body?.enabled === false ? 'route.fault.off' : 'route.fault', target: routeTarget(params) }),
    (body, params, actor) => {
      const fault = switchedOff(body) ? undefined : settings(body);
      return () => m.setFault(params.service!, params.route!, fault, { actor });
    },
  );
  mutating(
    'POST',
    '/api/v1/services/{service}/rate-limit',
    (params, body) => ({ action: body?.enabled === false ? 'service.rate-limit.off' : 'service.rate-limit', target: params.service! }),
    (body, params, actor) => {
      const limit = switchedOff(body) ? undefined : settings(body);
      return () => m.setRateLimit(params.service!, limit, { actor });
    },
  );
  mutating(
    'POST',
    '/api/v1/services/{service}/endpoints/{endpoint}/drain',
    (params, body) => ({ action: body?.drained === false ? 'endpoint.undrain' : 'endpoint.drain', target: `${params.service}/endpoints/${normalizeEndpointAddress(params.endpoint!)}` }),
    (body, params, actor) => {
      const drained = body.drained;
      if (typeof drained !== 'boolean') throw bad('drained', 'expected {"drained": true} to drain or {"drained": false} to undrain');
      return () => m.drain(params.service!, params.endpoint!, drained, { actor });
    },
  );
  mutating('POST', '/api/v1/rollback', (_params, body) => ({ action: 'rollback', target: typeof body?.version === 'string' ? body.version : '' }), (body, _params, actor) => {
    const version = body.version;
    if (typeof version !== 'string' || version === '') throw bad('version', 'expected {"version": "<a version from GET /api/v1/history>"}');
    return () => m.rollback(version, { actor });
  });
  admin
    .route('GET', '/api/v1/config', () => m.current())
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

type Params = Readonly<Record<string, string>>;
type Body = Record<string, unknown>;

/** `what` names the audit action and target (`body` is undefined when it did not parse); `check` returns the change to run. */
type MutatingRoute = (
  method: string,
  path: string,
  what: (params: Params, body: Body | undefined) => { action: string; target: string },
  check: (body: Body, params: Params, actor: string) => () => Promise<unknown>,
) => void;

/**
 * Registers mutating routes. `check` reads the JSON body's shape and returns
 * the change to run; the mutation service audits the change itself. A call
 * refused before it gets there (the body is not JSON, too large, or lacks a
 * field) is audited here, as rejected, so every mutating call leaves an entry.
 * Dry runs change nothing and are not audited, as the mutation service does.
 */
function mutatingRoute(admin: AdminServer, m: MutationService): MutatingRoute {
  return (method, path, what, check) => {
    admin.route(method, path, (req, _url, { params }) =>
      answer(async () => {
        const actor = actorOf(req);
        let body: Body | undefined;
        let run: () => Promise<unknown>;
        try {
          body = await readJsonBody(req);
          run = check(body, params, actor);
        } catch (err) {
          if ((err instanceof ReplyError || err instanceof MutationError) && body?.dryRun !== true) {
            m.refused({ actor, ...what(params, body), error: err.message });
          }
          throw err;
        }
        return run();
      }),
    );
  };
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
