/**
 * `enmesh canary start|status|abort`: automated canary releases run by the
 * control plane (docs/canary.md). `--wait` follows one to its end with a
 * progress line and exits 0 only when it was promoted.
 */
import { parseDuration } from '../config/duration.ts';
import { UsageError, operatorCommand, parsePercentFlag } from './command-kit.ts';
import type { Invocation } from './command-kit.ts';
import { Progress, json, ms, pct, table } from './output.ts';
import type { Style } from './output.ts';
import { canaryCell } from './status.ts';
import type { CanaryView } from './views.ts';

const HELP = `Usage: enmesh canary start <service> --to <version> [options]
       enmesh canary status [service] [--wait]
       enmesh canary abort <service>

start: the control plane shifts the route's weight to <version> step by step.
Each step lasts --interval and is judged on the load reports of <version>
alone (at least --min-requests requests); healthy steps advance, the last
one promotes <version> to 100%. When the error rate or p99 latency crosses
its bound, the weights go back to 100% baseline at once and the reason is
recorded. abort: stop and go back to 100% baseline.

Start options:
      --to <version>            subset (or backend service) to release (required)
      --from <version>          the baseline (default: the route's other backend)
      --route <name>            route of the service (default: default)
      --steps <list>            canary weights in percent (default 5,25,50,100)
      --interval <duration>     how long each step lasts (default 30s)
      --max-error-rate <rate>   e.g. 1% or 0.01 (default 1%)
      --max-p99 <duration>      e.g. 200ms (default: latency not judged)
      --min-requests <n>        requests a step needs before it is judged (default 20)
      --wait                    follow the canary until it ends (exit 1 unless promoted)
`;

export const canaryCommand = operatorCommand({
  name: 'canary',
  summary: 'automated canary release: start, status, abort (--wait to follow)',
  help: HELP,
  options: {
    to: { type: 'string' },
    from: { type: 'string' },
    route: { type: 'string' },
    steps: { type: 'string' },
    interval: { type: 'string' },
    'max-error-rate': { type: 'string' },
    'max-p99': { type: 'string' },
    'min-requests': { type: 'string' },
    wait: { type: 'boolean' },
  },
  async run(inv) {
    const [sub, ...rest] = inv.positionals;
    switch (sub) {
      case 'start':
        return start(inv, rest);
      case 'status':
        return status(inv, rest);
      case 'abort':
        return abort(inv, rest);
      default:
        throw new UsageError(sub === undefined ? 'expected start, status or abort' : `unknown subcommand "${sub}"; expected start, status or abort`);
    }
  },
});

function oneService(args: readonly string[], what: string): string {
  if (args.length !== 1) throw new UsageError(args.length === 0 ? `name the service to ${what}` : `expected one service, got ${args.join(' ')}`);
  return args[0]!;
}

function startBody(inv: Invocation, service: string): Record<string, unknown> {
  const to = inv.str('to');
  if (to === undefined) throw new UsageError('--to <version> is required');
  const body: Record<string, unknown> = { service, to };
  const from = inv.str('from');
  if (from !== undefined) body.from = from;
  const route = inv.str('route');
  if (route !== undefined) body.route = route;
  const steps = inv.str('steps');
  if (steps !== undefined) {
    const list = steps.split(',').map((s) => s.trim().replace(/%$/, ''));
    if (!list.every((s) => /^\d+$/.test(s))) throw new UsageError(`--steps must be whole percentages like 5,25,50,100, got "${steps}"`);
    body.steps = list.map(Number);
  }
  const interval = inv.str('interval');
  if (interval !== undefined) {
    try {
      parseDuration(interval);
    } catch (err) {
      throw new UsageError(`--interval: ${(err as Error).message}`);
    }
    body.interval = interval;
  }
  const maxErr = inv.str('max-error-rate');
  if (maxErr !== undefined) body.maxErrorRate = parsePercentFlag(maxErr, '--max-error-rate');
  const maxP99 = inv.str('max-p99');
  if (maxP99 !== undefined) {
    try {
      body.maxP99Ms = parseDuration(maxP99);
    } catch (err) {
      throw new UsageError(`--max-p99: ${(err as Error).message}`);
    }
  }
  const min = inv.str('min-requests');
  if (min !== undefined) {
    if (!/^\d+$/.test(min) || Number(min) < 1) throw new UsageError(`--min-requests must be a whole number of at least 1, got "${min}"`);
    body.minRequests = Number(min);
  }
  return body;
}

async function start(inv: Invocation, args: readonly string[]): Promise<number> {
  const service = oneService(args, 'release');
  const body = startBody(inv, service);
  const { canary } = await inv.client().call<{ canary: CanaryView }>('POST', '/api/v1/canaries', body);
  if (!inv.flag('wait')) {
    if (inv.json) inv.io.stdout(json({ canary }));
    else inv.io.stdout(`canary of ${service} started: ${canary.from}→${canary.to} at ${canary.weight}% (steps ${canary.steps.join(',')}%, every ${canary.interval}). Follow it with \`enmesh canary status ${service} --wait\`.\n`);
    return 0;
  }
  return follow(inv, canary);
}

async function status(inv: Invocation, args: readonly string[]): Promise<number> {
  if (args.length > 1) throw new UsageError(`expected at most one service, got ${args.join(' ')}`);
  const client = inv.client();
  if (args.length === 0) {
    if (inv.flag('wait')) throw new UsageError('--wait follows one canary: name its service');
    const { canaries } = await client.get<{ canaries: CanaryView[] }>('/api/v1/canaries');
    if (inv.json) inv.io.stdout(json({ canaries }));
    else if (canaries.length === 0) inv.io.stdout('no canaries\n');
    else
      inv.io.stdout(
        table(
          ['service', 'route', 'canary', 'step', 'updated', 'reason'],
          canaries.map((c) => [c.service, c.route, canaryCell(c, inv.style), `${c.step + 1}/${c.steps.length}`, c.updatedAt, c.reason ?? '-']),
          inv.style,
        ),
      );
    return 0;
  }
  const { canary } = await client.get<{ canary: CanaryView }>(`/api/v1/canaries/${encodeURIComponent(args[0]!)}`);
  if (inv.flag('wait')) return follow(inv, canary);
  if (inv.json) inv.io.stdout(json({ canary }));
  else inv.io.stdout(describe(canary, inv.style));
  return 0;
}

async function abort(inv: Invocation, args: readonly string[]): Promise<number> {
  const service = oneService(args, 'abort the canary of');
  const { canary } = await inv.client().call<{ canary: CanaryView }>('DELETE', `/api/v1/canaries/${encodeURIComponent(service)}`);
  if (inv.json) inv.io.stdout(json({ canary }));
  else inv.io.stdout(`canary of ${service} aborted: ${canary.from} back to 100%${canary.reason === undefined ? '' : ` (${canary.reason})`}\n`);
  return 0;
}

/** Polls the canary until it ends, redrawing the progress line; 0 only when promoted. */
async function follow(inv: Invocation, first: CanaryView): Promise<number> {
  const client = inv.client();
  const progress = new Progress(inv.io);
  const path = `/api/v1/canaries/${encodeURIComponent(first.service)}`;
  const pollMs = Math.min(1000, Math.max(100, Math.floor(parseDuration(first.interval) / 4)));
  let canary = first;
  while (canary.state === 'progressing') {
    if (!inv.json) progress.update(progressText(canary));
    await new Promise((r) => setTimeout(r, pollMs));
    canary = (await client.get<{ canary: CanaryView }>(path)).canary;
  }
  progress.done();
  if (inv.json) inv.io.stdout(json({ canary }));
  else inv.io.stdout(describe(canary, inv.style));
  return canary.state === 'promoted' ? 0 : 1;
}

function progressText(c: CanaryView): string {
  const bar = 20;
  const filled = Math.round((c.weight / 100) * bar);
  const last = c.history.at(-1);
  return `${c.service} ${c.from}→${c.to} [${'#'.repeat(filled)}${'.'.repeat(bar - filled)}] ${c.weight}% step ${c.step + 1}/${c.steps.length}${last === undefined ? '' : ` · ${last.decision}`}`;
}

function describe(c: CanaryView, s: Style): string {
  const head =
    c.state === 'promoted'
      ? s.green(`promoted: ${c.service} ${c.to} at 100%`)
      : c.state === 'progressing'
        ? s.cyan(`progressing: ${c.service} ${c.from}→${c.to} at ${c.weight}% (step ${c.step + 1}/${c.steps.length})`)
        : s.red(`${c.state}: ${c.service} back to ${c.from} 100%: ${c.reason ?? ''}`);
  const bounds = `bounds: error rate ≤ ${pct(c.maxErrorRate)}${c.maxP99Ms === null ? '' : `, p99 ≤ ${c.maxP99Ms}ms`}, ≥ ${c.minRequests} requests per step, steps ${c.steps.join(',')}% every ${c.interval}`;
  const rows = c.history.map((h) => [h.at, `${h.weight}%`, String(h.requests), pct(h.errorRate), ms(h.p99Ms), h.decision]);
  return `${head}\n${bounds}\n\n${table(['at', 'weight', 'requests', 'errors', 'p99', 'decision'], rows, s)}`;
}
