/**
 * The peak memory one input costs a process, measured so that neither the
 * previous input nor the input's own late work is misattributed: wait until
 * the process's RSS is steady, reset its high-water mark (VmHWM, by writing 5
 * to /proc/<pid>/clear_refs), run the input, wait until RSS is steady again
 * (data a peer keeps sending after a refusal still arrives after the answer),
 * then read VmHWM. Growth = VmHWM − the steady RSS before.
 */
import { writeFile } from 'node:fs/promises';
import { MiB, rssOf } from './figures.ts';

/** Resolves once RSS moved by less than 1 MiB over `intervalMs` (bounded by `maxMs`). */
export async function settled(pid: number, intervalMs = 250, maxMs = 5000): Promise<number> {
  const started = performance.now();
  let last = await rssOf(pid);
  for (;;) {
    await new Promise((r) => setTimeout(r, intervalMs));
    const now = await rssOf(pid);
    if (Math.abs(now - last) < MiB || performance.now() - started > maxMs) return now;
    last = now;
  }
}

export async function peakGrowth<T>(pid: number, input: () => Promise<T>): Promise<{ result: T; growth: number }> {
  const before = await settled(pid);
  // Without the reset, a high-water mark left by earlier work would hide this input's peak.
  await writeFile(`/proc/${pid}/clear_refs`, '5');
  const result = await input();
  await settled(pid);
  return { result, growth: (await rssOf(pid, true)) - before };
}
