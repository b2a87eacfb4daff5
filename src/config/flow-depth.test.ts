import { describe, expect, it } from 'vitest';
import { deepFlowOffset, scanYamlHazards } from './flow-depth.ts';

const nest = (n: number, open = '[', close = ']'): string => `${open.repeat(n)}${close.repeat(n)}`;

describe('deepFlowOffset', () => {
  it('finds the first flow collection past the limit, at its offset', () => {
    expect(deepFlowOffset(`a: ${nest(5)}\n`, 5)).toBeUndefined();
    expect(deepFlowOffset(`a: ${nest(6)}\n`, 5)).toBe(3 + 5);
    expect(deepFlowOffset(`a: {b: [{c: [${nest(2, '{', '}')}]}]}\n`, 5)).toBe(14);
    expect(deepFlowOffset(`a: ${nest(100_000)}\n`, 32)).toBe(3 + 32);
  });

  it('counts flow collections spread over lines, and forgets closed ones', () => {
    expect(deepFlowOffset('a: [\n  [\n    [1]\n  ]\n]\nb: [[[1]]]\n', 3)).toBeUndefined();
    expect(deepFlowOffset('a: [\n  [\n    [\n      [1]]]]\n', 3)).toBe('a: [\n  [\n    [\n      '.length);
  });

  it('ignores brackets in plain, quoted and block scalars and in comments', () => {
    const text = [
      `a: x${'['.repeat(50)}`,
      `b: "${'['.repeat(50)}\\"${'{'.repeat(50)}"`,
      `c: '${'['.repeat(50)}''${'['.repeat(50)}'`,
      `# ${'['.repeat(50)}`,
      `d: 1 # ${'{'.repeat(50)}`,
      'e: |',
      `  ${'['.repeat(50)}`,
      '',
      `  ${'{'.repeat(50)}`,
      'f: [1, 2]',
      `g: it's ${'['.repeat(50)}`,
    ].join('\n');
    expect(deepFlowOffset(text, 3)).toBeUndefined();
    // After the block scalar ends, flow nesting counts again.
    expect(deepFlowOffset(`${text}\nh: ${nest(4)}\n`, 3)).toBe(text.length + 1 + 3 + 3);
  });
});

describe('scanYamlHazards: alias nodes', () => {
  it('counts aliases where a node starts, not stars inside scalars, quotes or comments', () => {
    const text = [
      'base: &b { a: 1 }',
      'x: *b',
      'y: [*b, *b]',
      '- *b',
      'glob: /api/*',
      'quoted: "*b *b"',
      "single: '*b'",
      '# *b *b in a comment',
      'block: |',
      '  *b',
      'z: {k: *b}',
      '',
    ].join('\n');
    expect(scanYamlHazards(text, 32, 5)).toBeUndefined();
    const fifth = text.indexOf('*b}');
    expect(scanYamlHazards(text, 32, 4)).toEqual({ kind: 'aliases', offset: fifth });
  });

  it('refuses ten thousand aliases at the first one over the limit', () => {
    const text = `x: &a [1]\nservices:\n${Array.from({ length: 10_000 }, (_, i) => `  s${i}: *a`).join('\n')}\n`;
    const r = scanYamlHazards(text, 32, 1000);
    expect(r?.kind).toBe('aliases');
    expect(text.slice(0, r!.offset).split('\n').length).toBe(2 + 1001);
  });
});
