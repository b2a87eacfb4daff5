/**
 * Telemetry for a benchmark process: Istio metrics counted (and served on a
 * free port, so a scrape costs what it costs in production) and tracing at a
 * given sample rate into an in-memory exporter, whose spans are counted and
 * dropped between rounds so memory stays flat over long runs.
 *
 *   const mesh = await init({ config, ...benchTelemetry(0.01) });
 *   const spans = spanSink(mesh);
 *   await interleaved([..., { name: 'mesh', send, beforeRound: spans.drop }], plan);
 *   spans.total(); // spans exported over the run
 */
import type { InitOptions } from '../../src/init-options.ts';
import type { Mesh } from '../../src/mesh.ts';

export interface BenchTelemetryOptions {
  /** Serve /metrics on a free port on 127.0.0.1. Default true. */
  readonly serveMetrics?: boolean;
}

/** init() options: metrics on, tracing at `sampleRate` (0..1) to memory. */
export function benchTelemetry(sampleRate: number, options: BenchTelemetryOptions = {}): Pick<InitOptions, 'metrics' | 'tracing'> {
  if (!(sampleRate >= 0 && sampleRate <= 1)) throw new Error(`benchTelemetry: sampleRate must be in 0..1, got ${sampleRate}`);
  return {
    metrics: options.serveMetrics === false ? false : { port: 0, host: '127.0.0.1' },
    tracing: { exporter: 'memory', sampleRate },
  };
}

export interface SpanSink {
  /** Counts the spans exported so far and forgets them (call between rounds). */
  drop(): void;
  /** Spans exported since the sink was made. */
  total(): number;
  /** Scrapes the mesh's metrics once (the text's length), to include a scrape's cost where wanted. */
  scrape(): Promise<number>;
}

export function spanSink(mesh: Mesh): SpanSink {
  const memory = mesh.telemetry()?.tracing?.memory;
  if (memory === undefined) throw new Error('spanSink: the mesh has no in-memory tracing; init() it with benchTelemetry()');
  let counted = 0;
  const drop = (): void => {
    counted += memory.getFinishedSpans().length;
    memory.reset();
  };
  return {
    drop,
    total() {
      drop();
      return counted;
    },
    async scrape() {
      return (await mesh.metrics()).length;
    },
  };
}
