/** Mesh files for control-plane tests, from the templates in test/fixtures/control-plane/. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('../../fixtures/control-plane/', import.meta.url));

/** The template `name` with every `{{key}}` replaced; a key without a value is an error. */
export function meshFixture(name: string, values: Readonly<Record<string, string | number>>): string {
  const text = readFileSync(`${DIR}${name}`, 'utf8');
  return text.replace(/\{\{(\w+)\}\}/g, (_m, key: string) => {
    const v = values[key];
    if (v === undefined) throw new Error(`fixture ${name} needs a value for {{${key}}}`);
    return String(v);
  });
}
