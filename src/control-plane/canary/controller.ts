/**
 * Automated canary releases: shift a route's weight from a baseline to a new
 * version step by step, judge each step from the live load reports of the
 * new version's cluster, promote when every step was healthy, and roll back
 * to 100 % baseline the moment a bound is crossed.
 *
 * Every weight change goes through the injected `setWeights` (the admin
 * mutation path), so it is validated, versioned and audited like an
 * operator's edit. State lives in memory: a control plane restart forgets
 * running canaries and the route keeps the weights of the last step applied
 * (docs/canary.md).
 */
import { clusterName } from '../../xds/resource-names.ts';
import type { MeshModel, RouteModel, ServiceModel } from '../../model/types.ts';
import type { AuditInput } from '../audit.ts';
import type { Logger } from '../log.ts';
import { silentLogger } from '../log.ts';
import { NO_FIGURES, judge, percent } from './judge.ts';
import type { StepFigures } from './judge.ts';
import { CanaryRejection } from './spec.ts';
import type { CanarySpec } from './spec.ts';

export type CanaryState = 'progressing' | 'promoted' | 'rolled-back' | 'aborted';

export interface CanaryHistoryEntry {
  readonly at: string;
  /** Canary weight (percent) in force when the entry was made. */
  readonly weight: number;
  readonly requests: number;
  readonly errorRate: number | null;
  readonly p99Ms: number | null;
  /** The baseline's figures over the same time, for comparison. */
  readonly baseline: StepFigures;
  /** `start`, `wait`, `advance`, `promote`, `rollback` or `abort`, with detail after a colon. */
  readonly decision: string;
}

export interface CanaryView {
  readonly service: string;
  readonly from: string;
  readonly to: string;
  readonly route: string;
  readonly steps: readonly number[];
  /** Index into `steps` of the step in force (or last in force). */
  readonly step: number;
  /** Canary weight in percent now. */
  readonly weight: number;
  readonly state: CanaryState;
  readonly reason?: string;
  readonly interval: string;
  readonly maxErrorRate: number;
  readonly maxP99Ms: number | null;
  readonly minRequests: number;
  readonly actor: string;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly history: readonly CanaryHistoryEntry[];
}

export interface CanaryClock {
  /** Epoch milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemCanaryClock: CanaryClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface CanaryDependencies {
  /** The mutation path: sets a route's weights (keys: subsets or backend services); resolves once published. */
  setWeights(service: string, route: string, weights: Readonly<Record<string, number>>, actor: string): Promise<unknown>;
  /** The published model, to resolve routes, subsets and clusters. */
  model(): MeshModel | undefined;
  /** Load reported for one cluster since `sinceMs` (clock time); undefined when none. */
  traffic(cluster: string, sinceMs: number): StepFigures | undefined;
  clock?: CanaryClock;
  /** Every state change of a canary (SSE `canary` events). */
  onChange?(canary: CanaryView): void;
  log?: Logger;
  /** A step without enough requests fails after this many intervals. Default 10. */
  maxWaitIntervals?: number;
  /** The audit log: a canary's start, abort and end, beside the weight changes the mutation path audits. */
  audit?(entry: CanaryAuditInput): void;
}

/** An audit entry of a canary: `canary.start`, `canary.abort`, `canary.promote` or `canary.rollback`. */
export type CanaryAuditInput = AuditInput;

/** The actor every weight change of a canary is audited under. */
export const CANARY_ACTOR = 'canary';

/** What a canary request resolves to in the published model. */
interface Plan {
  readonly from: string;
  readonly fromCluster: string;
  readonly toCluster: string;
  readonly others: readonly string[];
}

interface Run {
  readonly spec: CanarySpec;
  readonly from: string;
  readonly fromCluster: string;
  readonly toCluster: string;
  /** Other backends of the route: held at 0 while the canary runs. */
  readonly others: readonly string[];
  readonly actor: string;
  readonly startedAt: number;
  step: number;
  weight: number;
  stepStartedAt: number;
  waitsLogged: number;
  state: CanaryState;
  reason: string | undefined;
  updatedAt: number;
  timer: unknown;
  /** Config version of the last weight change (from the mutation path's answer). */
  version: string | null;
  /** Operations on one run (ticks, abort) run one after another. */
  queue: Promise<void>;
  readonly history: CanaryHistoryEntry[];
}

export class CanaryController {
  readonly #deps: CanaryDependencies;
  readonly #clock: CanaryClock;
  readonly #log: Logger;
  readonly #maxWaits: number;
  /** The latest canary of each service, running or finished. */
  readonly #runs = new Map<string, Run>();
  /** Services whose canary is applying its first step: a second start must not race it. */
  readonly #starting = new Set<string>();
  #closed = false;

  constructor(deps: CanaryDependencies) {
    this.#deps = deps;
    this.#clock = deps.clock ?? systemCanaryClock;
    this.#log = deps.log ?? silentLogger;
    this.#maxWaits = deps.maxWaitIntervals ?? 10;
  }

  list(): CanaryView[] {
    return [...this.#runs.values()].map((r) => this.#view(r)).sort((a, b) => a.service.localeCompare(b.service));
  }

  get(service: string): CanaryView | undefined {
    const run = this.#runs.get(service);
    return run === undefined ? undefined : this.#view(run);
  }

  /** Applies the first step and starts watching; rejects (400/404/409) without changing anything. */
  async start(spec: CanarySpec, actor = 'admin'): Promise<CanaryView> {
    const rejected = (err: unknown): unknown => {
      this.refused({ actor, action: 'canary.start', target: spec.service, error: (err as Error).message });
      return err;
    };
    if (this.#closed) throw rejected(new CanaryRejection(503, 'the control plane is shutting down'));
    if (this.#starting.has(spec.service)) throw rejected(new CanaryRejection(409, `a canary of ${spec.service} is being started right now`));
    const running = this.#runs.get(spec.service);
    if (running?.state === 'progressing') {
      throw rejected(new CanaryRejection(409, `a canary of ${spec.service} (${running.from} → ${running.spec.to}) is already progressing at ${running.weight}%; abort it first (DELETE /api/v1/canaries/${spec.service})`));
    }
    let plan: Plan;
    try {
      plan = this.#resolve(spec);
    } catch (err) {
      throw rejected(err);
    }
    const now = this.#clock.now();
    const run: Run = {
      spec,
      ...plan,
      actor,
      startedAt: now,
      step: 0,
      weight: spec.steps[0]!,
      stepStartedAt: now,
      waitsLogged: 0,
      state: 'progressing',
      reason: undefined,
      updatedAt: now,
      timer: undefined,
      version: null,
      queue: Promise.resolve(),
      history: [],
    };
    // The first weight change is the request's own: if it is refused, no canary exists.
    this.#starting.add(spec.service);
    try {
      await this.#setWeights(run, run.weight);
    } catch (err) {
      throw rejected(err);
    } finally {
      this.#starting.delete(spec.service);
    }
    this.#audit({ actor, action: 'canary.start', target: spec.service, version: run.version, diff: '', result: 'applied' });
    run.stepStartedAt = this.#clock.now();
    this.#runs.set(spec.service, run);
    this.#record(run, NO_FIGURES, NO_FIGURES, `start: ${run.from} → ${spec.to} at ${run.weight}%`);
    this.#log.info(`canary ${spec.service}: ${run.from} → ${spec.to} started at ${run.weight}% by ${actor}`);
    this.#schedule(run);
    this.#changed(run);
    return this.#view(run);
  }

  /** Stops a progressing canary and sets the weights back to 100 % baseline. */
  async abort(service: string, actor = 'admin'): Promise<CanaryView> {
    const rejected = (err: CanaryRejection): CanaryRejection => {
      this.refused({ actor, action: 'canary.abort', target: service, error: err.message });
      return err;
    };
    const run = this.#runs.get(service);
    if (run === undefined) throw rejected(new CanaryRejection(404, `no canary for service "${service}"; list them with GET /api/v1/canaries`));
    if (run.state !== 'progressing') throw rejected(new CanaryRejection(409, `the canary of ${service} is already ${run.state}${run.reason === undefined ? '' : ` (${run.reason})`}`));
    await this.#enqueue(run, async () => {
      if (run.state !== 'progressing') return;
      await this.#finish(run, 'aborted', `aborted by ${actor} at step ${run.weight}%`, NO_FIGURES, NO_FIGURES, actor);
    });
    return this.#view(run);
  }

  /** Audits a canary call refused (its body, or the controller, said no): nothing changed. */
  refused(call: { readonly actor: string; readonly action: 'canary.start' | 'canary.abort'; readonly target: string; readonly error: string }): void {
    this.#audit({ ...call, version: null, diff: '', result: 'rejected' });
  }

  /** Stops watching. Weights stay as they are (see docs/canary.md on restarts). */
  close(): void {
    this.#closed = true;
    for (const run of this.#runs.values()) this.#clock.clearTimeout(run.timer);
  }

  #resolve(spec: CanarySpec): Plan {
    const model = this.#deps.model();
    const svc = model?.services.get(spec.service);
    if (model === undefined || svc === undefined) {
      throw new CanaryRejection(404, `unknown service "${spec.service}"${model === undefined ? ' (no model is published yet)' : `; services: ${[...model.services.keys()].join(', ')}`}`);
    }
    const route = svc.routes.find((r) => r.name === spec.route);
    if (route === undefined) {
      throw new CanaryRejection(404, `service "${spec.service}" has no route "${spec.route}"; its routes: ${svc.routes.map((r) => r.name || '(unnamed)').join(', ')}`);
    }
    if (route.backends === undefined) throw new CanaryRejection(400, `route "${spec.route}" of ${spec.service} sends no traffic to backends (redirect or direct response)`);
    const toCluster = clusterOf(model, svc, spec.to);
    if (toCluster === undefined) throw new CanaryRejection(400, `"to": "${spec.to}" is neither a subset of ${spec.service} (${[...svc.subsets.keys()].join(', ') || 'none'}) nor a service`, [{ path: 'to', message: 'unknown subset or service' }]);
    const from = spec.from ?? baselineOf(svc, route, spec.to);
    if (from === undefined) {
      throw new CanaryRejection(400, `cannot tell the baseline of the canary to "${spec.to}" on ${spec.service}/${spec.route}: name it with "from" (--from)`, [{ path: 'from', message: 'required here' }]);
    }
    const fromCluster = clusterOf(model, svc, from);
    if (fromCluster === undefined) throw new CanaryRejection(400, `"from": "${from}" is neither a subset of ${spec.service} nor a service`, [{ path: 'from', message: 'unknown subset or service' }]);
    const others = route.backends.map((b) => keyOf(svc, b)).filter((k): k is string => k !== undefined && k !== from && k !== spec.to);
    return { from, fromCluster, toCluster, others: [...new Set(others)] };
  }

  #schedule(run: Run): void {
    if (this.#closed || run.state !== 'progressing') return;
    // Checked a few times per step, so a breach rolls back well before the step would end.
    const tick = Math.max(50, Math.min(5000, Math.floor(run.spec.intervalMs / 4)));
    run.timer = this.#clock.setTimeout(
      () =>
        void this.#enqueue(run, async () => {
          try {
            await this.#tick(run);
          } catch (err) {
            // An unexpected failure (e.g. reading the load view) must not leave the canary unwatched.
            this.#log.error(`canary ${run.spec.service}: check failed, retrying: ${(err as Error).message}`);
            this.#schedule(run);
          }
        }),
      tick,
    );
  }

  #enqueue(run: Run, op: () => Promise<void>): Promise<void> {
    const next = run.queue.then(op).catch((err: unknown) => this.#log.error(`canary ${run.spec.service}: ${(err as Error).message}`));
    run.queue = next;
    return next;
  }

  async #tick(run: Run): Promise<void> {
    if (run.state !== 'progressing' || this.#closed) return;
    const canary = this.#deps.traffic(run.toCluster, run.stepStartedAt) ?? NO_FIGURES;
    const baseline = this.#deps.traffic(run.fromCluster, run.stepStartedAt) ?? NO_FIGURES;
    const verdict = judge(canary, run.spec, run.weight);
    if (verdict.kind === 'breach') {
      await this.#finish(run, 'rolled-back', verdict.reason, canary, baseline);
      return;
    }
    const elapsed = this.#clock.now() - run.stepStartedAt;
    if (elapsed < run.spec.intervalMs) {
      this.#schedule(run);
      return;
    }
    if (verdict.kind === 'wait') {
      const intervals = Math.floor(elapsed / run.spec.intervalMs);
      if (intervals >= this.#maxWaits) {
        const reason = `only ${canary.requests} requests reached ${run.spec.to} in ${this.#maxWaits} intervals at step ${run.weight}% (need ${run.spec.minRequests}); is traffic flowing?`;
        await this.#finish(run, 'rolled-back', reason, canary, baseline);
        return;
      }
      if (intervals > run.waitsLogged) {
        run.waitsLogged = intervals;
        this.#record(run, canary, baseline, `wait: ${verdict.note}`);
        this.#changed(run);
      }
      this.#schedule(run);
      return;
    }
    const last = run.step === run.spec.steps.length - 1;
    if (last) {
      if (run.weight < 100) {
        try {
          await this.#setWeights(run, 100);
        } catch (err) {
          await this.#finish(run, 'rolled-back', `could not promote to 100%: ${(err as Error).message}`, canary, baseline);
          return;
        }
      }
      run.weight = 100;
      await this.#finish(run, 'promoted', undefined, canary, baseline);
      return;
    }
    const next = run.spec.steps[run.step + 1]!;
    try {
      await this.#setWeights(run, next);
    } catch (err) {
      await this.#finish(run, 'rolled-back', `could not set step ${next}%: ${(err as Error).message}`, canary, baseline);
      return;
    }
    this.#record(run, canary, baseline, `advance: healthy at ${run.weight}% (${describe(canary)}), now ${next}%`);
    run.step += 1;
    run.weight = next;
    run.stepStartedAt = this.#clock.now();
    run.waitsLogged = 0;
    this.#log.info(`canary ${run.spec.service}: ${run.spec.to} at ${next}%`);
    this.#schedule(run);
    this.#changed(run);
  }

  async #finish(run: Run, state: Exclude<CanaryState, 'progressing'>, reason: string | undefined, canary: StepFigures, baseline: StepFigures, actor = CANARY_ACTOR): Promise<void> {
    this.#clock.clearTimeout(run.timer);
    // Ticks and aborts of a run are serialised (#enqueue), so nothing advances it meanwhile; the
    // state changes only once the weights are back, so no reader sees an ending without its reason.
    let why = reason;
    const judgedAt = run.weight;
    if (state === 'rolled-back' || state === 'aborted') {
      try {
        await this.#setWeights(run, 0);
        run.weight = 0;
      } catch (err) {
        why = `${reason}; setting ${run.from} back to 100% failed: ${(err as Error).message}`;
        this.#log.error(`canary ${run.spec.service}: ${why}`);
      }
    }
    run.state = state;
    run.reason = why;
    const decision = state === 'promoted' ? `promote: ${run.spec.to} at 100% (${describe(canary)})` : `${state === 'aborted' ? 'abort' : 'rollback'}: ${why}`;
    this.#record(run, canary, baseline, decision, judgedAt);
    const action = state === 'promoted' ? 'canary.promote' : state === 'aborted' ? 'canary.abort' : 'canary.rollback';
    this.#audit({ actor, action, target: run.spec.service, version: run.version, diff: '', result: 'applied', ...(why === undefined ? {} : { error: why }) });
    this.#log[state === 'promoted' ? 'info' : 'warn'](`canary ${run.spec.service}: ${state}${why === undefined ? '' : `: ${why}`}`);
    this.#changed(run);
  }

  /** The route's weights with the canary at `weight` percent and the baseline at the rest. */
  async #setWeights(run: Run, weight: number): Promise<void> {
    const weights: Record<string, number> = { [run.from]: 100 - weight, [run.spec.to]: weight };
    for (const k of run.others) weights[k] = 0;
    const result = await this.#deps.setWeights(run.spec.service, run.spec.route, weights, CANARY_ACTOR);
    const version = (result as { version?: unknown } | undefined)?.version;
    if (typeof version === 'string') run.version = version;
  }

  #audit(entry: CanaryAuditInput): void {
    try {
      this.#deps.audit?.(entry);
    } catch (err) {
      this.#log.error(`canary ${entry.target}: audit failed: ${(err as Error).message}`);
    }
  }

  #record(run: Run, canary: StepFigures, baseline: StepFigures, decision: string, weight = run.weight): void {
    run.updatedAt = this.#clock.now();
    run.history.push({
      at: new Date(run.updatedAt).toISOString(),
      weight,
      requests: canary.requests,
      errorRate: canary.errorRate,
      p99Ms: canary.p99Ms,
      baseline,
      decision,
    });
  }

  #changed(run: Run): void {
    if (this.#deps.onChange === undefined) return;
    try {
      this.#deps.onChange(this.#view(run));
    } catch (err) {
      this.#log.error(`canary ${run.spec.service}: change listener failed: ${(err as Error).message}`);
    }
  }

  #view(run: Run): CanaryView {
    return {
      service: run.spec.service,
      from: run.from,
      to: run.spec.to,
      route: run.spec.route,
      steps: run.spec.steps,
      step: run.step,
      weight: run.weight,
      state: run.state,
      ...(run.reason === undefined ? {} : { reason: run.reason }),
      interval: run.spec.interval,
      maxErrorRate: run.spec.maxErrorRate,
      maxP99Ms: run.spec.maxP99Ms ?? null,
      minRequests: run.spec.minRequests,
      actor: run.actor,
      startedAt: new Date(run.startedAt).toISOString(),
      updatedAt: new Date(run.updatedAt).toISOString(),
      history: [...run.history],
    };
  }
}

function describe(f: StepFigures): string {
  const parts = [`${f.requests} requests`];
  if (f.errorRate !== null) parts.push(`error rate ${percent(f.errorRate)}`);
  if (f.p99Ms !== null) parts.push(`p99 ${Math.round(f.p99Ms)}ms`);
  return parts.join(', ');
}

/** The weights key of a backend: its subset within the service itself, else the backend service's name. */
function keyOf(svc: ServiceModel, b: { service: string; subset?: string }): string | undefined {
  if (b.service === svc.name) return b.subset;
  return b.subset === undefined ? b.service : undefined;
}

/** The cluster that carries a weights key's traffic (`outbound|port|subset|service`). */
function clusterOf(model: MeshModel, svc: ServiceModel, key: string): string | undefined {
  if (svc.subsets.has(key)) return clusterName(svc.name, svc.port, key);
  const other = model.services.get(key);
  return other === undefined || other.name === svc.name ? undefined : clusterName(other.name, other.port);
}

/**
 * The baseline when the request names none: the route's only other weighted
 * backend, or, for a route to the whole service, its only other subset.
 */
function baselineOf(svc: ServiceModel, route: RouteModel, to: string): string | undefined {
  const keyed = (route.backends ?? []).map((b) => ({ key: keyOf(svc, b), weight: b.weight }));
  const candidates = [...new Set(keyed.filter((b) => b.key !== undefined && b.key !== to && b.weight > 0).map((b) => b.key!))];
  if (candidates.length === 1) return candidates[0];
  if (candidates.length > 1) return undefined;
  const subsets = [...svc.subsets.keys()].filter((s) => s !== to);
  return subsets.length === 1 ? subsets[0] : undefined;
}
