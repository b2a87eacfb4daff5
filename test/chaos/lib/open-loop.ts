/** Open-loop load from this process: request i starts at start + i / rps whatever the others do. */
import { request } from 'undici';

export interface Outcome {
  /** ms since the load started. */
  readonly t: number;
  /** The answering backend (x-backend), or undefined. */
  readonly backend: string | undefined;
  readonly status: number;
  readonly error?: string;
}

export interface RunningLoad {
  readonly outcomes: Outcome[];
  /** Stops issuing requests and resolves once every request issued has ended. */
  stop(): Promise<Outcome[]>;
}

export function openLoop(url: string, rps: number, maxMs: number, timeoutMs = 10_000): RunningLoad {
  const outcomes: Outcome[] = [];
  const pending = new Set<Promise<void>>();
  const started = performance.now();
  let stopped = false;
  let wake: (() => void) | undefined;
  const one = async (): Promise<void> => {
    const t = performance.now() - started;
    try {
      const res = await request(url, { headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
      await res.body.dump();
      const b = res.headers['x-backend'];
      outcomes.push({ t, backend: typeof b === 'string' ? b : undefined, status: res.statusCode });
    } catch (err) {
      const e = err as Error & { code?: string };
      outcomes.push({ t, backend: undefined, status: 0, error: `${e.code ?? ''} ${e.message}` });
    }
  };
  const loop = (async () => {
    for (let i = 0; !stopped && performance.now() - started < maxMs; i++) {
      const wait = started + (i * 1000) / rps - performance.now();
      if (wait > 1) await new Promise<void>((r) => setTimeout((wake = r), wait));
      if (stopped) break;
      const p = one().finally(() => pending.delete(p));
      pending.add(p);
    }
  })();
  return {
    outcomes,
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      await Promise.all(pending);
      return outcomes;
    },
  };
}

export function failures(outcomes: readonly Outcome[]): Outcome[] {
  return outcomes.filter((o) => o.status !== 200);
}

/** Requests per backend among those started in [fromMs, toMs). */
export function byBackend(outcomes: readonly Outcome[], fromMs = 0, toMs = Infinity): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) if (o.t >= fromMs && o.t < toMs && o.backend !== undefined) out[o.backend] = (out[o.backend] ?? 0) + 1;
  return out;
}
