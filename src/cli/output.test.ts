import { describe, expect, it } from 'vitest';
import { adminAddress } from './admin-client.ts';
import { parsePercentFlag } from './command-kit.ts';
import type { CliIo } from './io.ts';
import { Progress, colourDiff, pct, styleFor, table } from './output.ts';

function io(options: { colour?: boolean; interactive?: boolean }): CliIo & { err: string } {
  const c = { err: '', ...options, stdout() {}, stderr: (t: string) => void (c.err += t), waitForSignal: () => new Promise<string>(() => {}) };
  return c;
}

describe('output', () => {
  it('aligns table columns by visible width, colours or not', () => {
    const s = styleFor(io({ colour: true }));
    const text = table(['name', 'ok'], [[s.green('reviews'), 'yes'], ['ratings', 'no']], s);
    const plain = text.replace(/\u001b\[[0-9;]*m/g, '');
    expect(plain).toBe('NAME     OK\nreviews  yes\nratings  no\n');
    expect(text).toContain('\u001b[32mreviews\u001b[39m');
  });

  it('has no escape codes without a terminal', () => {
    const s = styleFor(io({}));
    expect(colourDiff('--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n', s)).toBe('--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n');
    expect(colourDiff('-x\n+y\n', styleFor(io({ colour: true })))).toBe('\u001b[31m-x\u001b[39m\n\u001b[32m+y\u001b[39m\n');
  });

  it('formats shares', () => {
    expect([pct(null), pct(0), pct(0.051), pct(1), pct(0.0004)]).toEqual(['-', '0%', '5.1%', '100%', '0.04%']);
  });

  it('redraws progress in place on a terminal, one line per change otherwise', () => {
    const tty = io({ interactive: true });
    const p = new Progress(tty);
    p.update('step 1');
    p.update('step 1');
    p.done();
    expect(tty.err).toBe('\r\u001b[K| step 1\r\u001b[K/ step 1\r\u001b[K');
    const pipe = io({});
    const q = new Progress(pipe);
    q.update('step 1');
    q.update('step 1');
    q.update('step 2');
    q.done();
    expect(pipe.err).toBe('step 1\nstep 2\n');
  });
});

describe('flags', () => {
  it('reads the admin address from --server, then ENMESH_ADMIN, then the default', () => {
    expect(adminAddress(undefined, {})).toBe('http://127.0.0.1:15000');
    expect(adminAddress(undefined, { ENMESH_ADMIN: '10.0.0.5:15000' })).toBe('http://10.0.0.5:15000');
    expect(adminAddress('https://cp.example:8443/', { ENMESH_ADMIN: 'x:1' })).toBe('https://cp.example:8443');
    expect(() => adminAddress('ftp://x', {})).toThrow(/http:\/\/ or https:\/\//);
  });

  it('reads error rates as percentages or shares', () => {
    expect(parsePercentFlag('1%', '--max-error-rate')).toBe(0.01);
    expect(parsePercentFlag('0.5%', '--max-error-rate')).toBe(0.005);
    expect(parsePercentFlag('0.02', '--max-error-rate')).toBe(0.02);
    expect(() => parsePercentFlag('100%', '--max-error-rate')).toThrow(/below 100%/);
    expect(() => parsePercentFlag('lots', '--max-error-rate')).toThrow(/percentage like 1%/);
  });
});
