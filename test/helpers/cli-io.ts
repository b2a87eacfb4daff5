/** A CLI io that keeps what a command writes, for tests that run commands in process. */
import type { CliIo } from '../../src/cli/io.ts';

export type CapturedIo = CliIo & { out: string; err: string };

/** `extra`: io fields a test sets (colour, interactive); waiting for a signal never ends. */
export function captureIo(extra: Partial<Pick<CliIo, 'colour' | 'interactive'>> = {}): CapturedIo {
  const c: CapturedIo = {
    ...extra,
    out: '',
    err: '',
    stdout(t: string) {
      c.out += t;
    },
    stderr(t: string) {
      c.err += t;
    },
    waitForSignal: () => new Promise<string>(() => {}),
  };
  return c;
}
