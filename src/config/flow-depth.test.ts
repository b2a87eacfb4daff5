import { describe, expect, it } from 'vitest';
import { deepFlowOffset } from './flow-depth.ts';

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
