import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, MAX_AUDIT_DIFF_CHARS } from './audit.ts';

const entry = (n: number, diff = '') => ({ actor: 'a', action: 'route.weights', target: `t${n}`, version: null, diff, result: 'applied' as const });

describe('AuditLog', () => {
  it('keeps the newest entries, newest first, tells listeners, and cuts huge diffs', () => {
    const log = new AuditLog({ limit: 3 });
    const seen: number[] = [];
    log.onEntry((e) => seen.push(e.id));
    for (let i = 1; i <= 5; i++) log.record(entry(i));
    expect(log.list().map((e) => e.target)).toEqual(['t5', 't4', 't3']);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    const big = log.record(entry(6, 'x'.repeat(MAX_AUDIT_DIFF_CHARS + 10)));
    expect(big.diff.length).toBeLessThan(MAX_AUDIT_DIFF_CHARS + 100);
    expect(big.diff).toMatch(/diff cut at/);
  });

  it('appends JSON lines, in order, to a file only its owner reads', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'enmesh-audit-'));
    try {
      const file = join(dir, 'sub', 'audit.jsonl');
      const log = new AuditLog({ file });
      for (let i = 1; i <= 20; i++) log.record(entry(i));
      await log.flush();
      const lines = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { id: number; target: string });
      expect(lines.map((l) => l.id)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('narrows an existing, wider audit log file to 0600 at start, keeping what it holds', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'enmesh-audit-'));
    try {
      const file = join(dir, 'audit.jsonl');
      await writeFile(file, '{"id":1}\n', { mode: 0o644 });
      expect((await stat(file)).mode & 0o777).toBe(0o644);
      const log = new AuditLog({ file });
      await log.flush();
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      log.record(entry(2));
      await log.flush();
      expect((await readFile(file, 'utf8')).trim().split('\n')).toHaveLength(2);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
