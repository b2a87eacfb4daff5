/**
 * Canary releases in the control plane: the controller wired to the mutation
 * path (weight changes validated, versioned, audited as actor "canary"), to
 * the load reports (per-subset figures) and to the event stream (`canary`
 * events), with its admin routes.
 */
import type { MeshModel } from '../../model/types.ts';
import type { AdminServer } from '../admin.ts';
import type { Logger } from '../log.ts';
import type { LoadAggregator } from '../lrs/aggregator.ts';
import { CanaryController } from './controller.ts';
import type { CanaryAuditInput, CanaryView } from './controller.ts';
import { canaryTraffic } from './load-source.ts';
import { registerCanaryRoutes } from './routes.ts';

export { CANARY_ACTOR, CanaryController } from './controller.ts';
export type { CanaryAuditInput, CanaryClock, CanaryDependencies, CanaryHistoryEntry, CanaryState, CanaryView } from './controller.ts';
export { parseCanaryRequest } from './spec.ts';
export type { CanarySpec } from './spec.ts';

export interface CanarySources {
  /** The mutation service's weight change. */
  readonly mutations: { setWeights(service: string, route: string, weights: Readonly<Record<string, number>>, who: { actor?: string }): Promise<unknown> };
  /** The published model. */
  readonly model: () => MeshModel | undefined;
  readonly load: Pick<LoadAggregator, 'clusterTraffic'>;
  /** The SSE hub: every change of a canary goes out as a `canary` event. */
  readonly events?: {
    publish(type: 'canary', data: unknown): void;
    /** A new stream gets the canaries as they stand. */
    onConnect?(listener: (send: (type: 'canary', data: unknown) => void) => void): unknown;
  };
  /** The audit log (start, abort, promotion, rollback with its reason). */
  readonly audit?: { record(entry: CanaryAuditInput): unknown };
  readonly log?: Logger;
}

export function attachCanaries(admin: AdminServer, src: CanarySources): CanaryController {
  const controller = new CanaryController({
    setWeights: (service, route, weights, actor) => src.mutations.setWeights(service, route, weights, { actor }),
    model: src.model,
    traffic: canaryTraffic(src.load),
    onChange: (canary: CanaryView) => src.events?.publish('canary', { canary }),
    audit: (entry) => void src.audit?.record(entry),
    ...(src.log === undefined ? {} : { log: src.log }),
  });
  src.events?.onConnect?.((send) => {
    for (const canary of controller.list()) send('canary', { canary });
  });
  registerCanaryRoutes(admin, controller);
  return controller;
}
