/**
 * Waits for a child process to print "ready" on its stdout; rejects, with what
 * it wrote to stderr, when it exits first or does not get there in time.
 * Returns a reader of its stderr so far (for later failure messages).
 */
import type { ChildProcess } from 'node:child_process';

export function whenReady(child: ChildProcess, name: string, timeoutMs = 30_000): Promise<() => string> {
  let err = '';
  child.stderr?.on('data', (c: Buffer) => (err += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${timeoutMs / 1000} s: ${err}`)), timeoutMs);
    child.stdout?.on('data', (c: Buffer) => {
      if (c.toString().includes('ready')) {
        clearTimeout(timer);
        resolve(() => err);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}: ${err}`));
    });
  });
}
