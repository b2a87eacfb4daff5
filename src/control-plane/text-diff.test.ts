import { describe, expect, it } from 'vitest';
import { carryEdit, unifiedDiff } from './text-diff.ts';

const lines = (n: number, change: Record<number, string> = {}): string =>
  `${Array.from({ length: n }, (_, i) => change[i + 1] ?? `line ${i + 1}`).join('\n')}\n`;

describe('unifiedDiff', () => {
  it('is empty for equal texts', () => {
    expect(unifiedDiff('a\n', 'a\n')).toBe('');
  });

  it('writes unified hunks with three lines of context', () => {
    expect(unifiedDiff(lines(10), lines(10, { 5: 'five' }))).toBe(
      ['--- a/mesh.yaml', '+++ b/mesh.yaml', '@@ -2,7 +2,7 @@', ' line 2', ' line 3', ' line 4', '-line 5', '+five', ' line 6', ' line 7', ' line 8', ''].join('\n'),
    );
  });

  it('splits far-apart changes into hunks and joins near ones', () => {
    const far = unifiedDiff(lines(30), lines(30, { 3: 'x', 25: 'y' }));
    expect(far.match(/^@@ .* @@$/gm)).toEqual(['@@ -1,6 +1,6 @@', '@@ -22,7 +22,7 @@']);
    const near = unifiedDiff(lines(30), lines(30, { 10: 'x', 15: 'y' }));
    expect(near.match(/^@@ .* @@$/gm)).toEqual(['@@ -7,12 +7,12 @@']);
  });

  it('counts insertions and deletions in the ranges', () => {
    const added = unifiedDiff('a\nb\n', 'a\nb\nc\nd\n');
    expect(added).toContain('@@ -1,2 +1,4 @@');
    expect(added).toContain('+c\n+d\n');
    const fromEmpty = unifiedDiff('', 'a\n');
    expect(fromEmpty).toContain('@@ -0,0 +1,1 @@\n+a\n');
    const removed = unifiedDiff('a\nb\nc\n', 'a\nc\n');
    expect(removed).toContain('@@ -1,3 +1,2 @@\n a\n-b\n c\n');
  });
});

describe('carryEdit', () => {
  it('keeps the layout of lines the edit did not touch', () => {
    const original = 'a: [1,2]   # keep me\nb: 1\nc:    3\n';
    const rendered = 'a: [ 1, 2 ] # keep me\nb: 1\nc: 3\n';
    const edited = 'a: [ 1, 2 ] # keep me\nb: 2\nc: 3\n';
    expect(carryEdit(original, rendered, edited)).toBe('a: [1,2]   # keep me\nb: 2\nc:    3\n');
  });

  it('takes the rendered form of a reformatted line the edit changed, and inserts where the edit inserted', () => {
    const original = 'a: [1,2]\nb: 1\n';
    const rendered = 'a: [ 1, 2 ]\nb: 1\n';
    expect(carryEdit(original, rendered, 'a: [ 1, 3 ]\nb: 1\n')).toBe('a: [ 1, 3 ]\nb: 1\n');
    expect(carryEdit(original, rendered, 'a: [ 1, 2 ]\nb: 1\nc: 2\n')).toBe('a: [1,2]\nb: 1\nc: 2\n');
    expect(carryEdit(original, rendered, 'b: 1\n')).toBe('b: 1\n');
  });

  it('is the edited text when the original is already in rendered form', () => {
    expect(carryEdit('a: 1\n', 'a: 1\n', 'a: 2\n')).toBe('a: 2\n');
  });
});
