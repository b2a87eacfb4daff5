/** The demo's command line. */
import { parseArgs } from 'node:util';

export interface DemoOptions {
  /** Seconds to drive load; Infinity runs until Ctrl-C. */
  readonly durationS: number;
  /** Requests per second at productpage. */
  readonly rate: number;
  /** Local-file mode: no control plane, static endpoints in a generated mesh.yaml. */
  readonly fileMode: boolean;
  /** Seconds between rewrites of the reviews split; undefined: no canary steps. */
  readonly canaryStepS: number | undefined;
}

export const USAGE = `usage: npm run demo -- [options]

  --duration <seconds>      run this long, print a summary and exit (0 when healthy)
  --rate <n>                requests per second at productpage (default 40, at most 1000)
  --file-mode               no control plane: every process reads a generated mesh.yaml
  --canary-step <seconds>   every N seconds, shift the reviews split (80/20, 50/50, 20/80, ...)
  -h, --help                show this help
`;

/** The options, or a message saying what is wrong with the command line. */
export function parseDemoArgs(argv: readonly string[]): DemoOptions | { readonly usage: string; readonly error?: string } {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        duration: { type: 'string' },
        rate: { type: 'string', default: '40' },
        'file-mode': { type: 'boolean', default: false },
        'canary-step': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    return { usage: USAGE, error: (err as Error).message };
  }
  if (values.help === true) return { usage: USAGE };
  const durationS = values.duration === undefined ? Infinity : Number(values.duration);
  const rate = Number(values.rate);
  const canaryStepS = values['canary-step'] === undefined ? undefined : Number(values['canary-step']);
  if (!(durationS > 0)) return { usage: USAGE, error: '--duration must be a positive number of seconds' };
  if (!(rate > 0 && rate <= 1000)) return { usage: USAGE, error: '--rate must be a positive number of requests per second, at most 1000' };
  if (canaryStepS !== undefined && !(canaryStepS >= 1)) return { usage: USAGE, error: '--canary-step must be at least 1 second' };
  return { durationS, rate, fileMode: values['file-mode'], canaryStepS };
}
