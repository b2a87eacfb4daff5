import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseMeshYaml } from './load.ts';

const DOC = readFileSync(fileURLToPath(new URL('../../docs/configuration.md', import.meta.url)), 'utf8');

/** The fenced blocks of one section of the reference, in order. */
function blocks(heading: string): { lang: string; text: string }[] {
  const start = DOC.indexOf(`\n## ${heading}\n`);
  const end = DOC.indexOf('\n## ', start + 1);
  const section = DOC.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/```(\w+)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], text: m[2] }));
}

describe('docs/configuration.md', () => {
  it('the complete example is valid', () => {
    const [example] = blocks('A complete example');
    const model = parseMeshYaml(example.text, 'mesh.yaml');
    expect([...model.services.keys()]).toEqual(['reviews', 'ratings', 'productpage']);
  });

  it('the error example shows the real message', () => {
    const [input, output] = blocks('Errors');
    expect(() => parseMeshYaml(input.text, 'mesh.yaml')).toThrow(output.text.trimEnd());
  });
});
