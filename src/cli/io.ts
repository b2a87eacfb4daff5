/** What a CLI command may touch: output streams and process signals (replaceable in tests). */
import { isEnmeshError } from '../errors.ts';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Colours on stdout: only on a terminal, never with NO_COLOR set. Default false. */
  readonly colour?: boolean;
  /** stderr is a terminal: progress may redraw one line in place. Default false. */
  readonly interactive?: boolean;
  /** Resolves with the name of the first of SIGINT/SIGTERM received. */
  waitForSignal(): Promise<string>;
}

export interface Command {
  readonly summary: string;
  run(argv: readonly string[], io: CliIo): Promise<number>;
}

export function processIo(): CliIo {
  const plain = (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') || process.env.TERM === 'dumb';
  return {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    colour: process.stdout.isTTY === true && !plain,
    interactive: process.stderr.isTTY === true && process.env.TERM !== 'dumb',
    waitForSignal: () =>
      new Promise((resolve) => {
        const on = (signal: NodeJS.Signals): void => {
          process.off('SIGINT', on);
          process.off('SIGTERM', on);
          // A second signal while shutting down ends the process at once.
          const force = (): never => process.exit(1);
          process.once('SIGINT', force);
          process.once('SIGTERM', force);
          resolve(signal);
        };
        process.on('SIGINT', on);
        process.on('SIGTERM', on);
      }),
  };
}

/** A usage mistake (bad flag value, missing argument): printed with a pointer to --help, exit 2. */
export class UsageError extends Error {}

/** An error as the user should read it: the message, then one line per config issue. */
export function formatError(err: unknown): string {
  if (!isEnmeshError(err)) return err instanceof Error ? (err.stack ?? err.message) : String(err);
  const lines = [`${err.message}${err.message.includes(err.code) ? '' : ` (${err.code})`}`];
  const issues = err.issues ?? [];
  if (issues.length > 0 && !issues.every((i) => err.message.includes(i.message))) {
    for (const i of issues) lines.push(`  - ${i.path}: ${i.message}`);
  }
  return lines.join('\n');
}
