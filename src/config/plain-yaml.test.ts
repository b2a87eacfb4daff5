import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { readPlainYaml } from './plain-yaml.ts';

/** The value the full path (the `yaml` package, as load.ts composes it) reads, or undefined when it reports an error. */
function fullPath(text: string): { value: unknown } | undefined {
  const doc = parseDocument(text, { uniqueKeys: false });
  return doc.errors.length > 0 ? undefined : { value: doc.toJS() };
}

/** Every .yaml file of the repository's examples and fixtures. */
function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return name.endsWith('.yaml') || name.endsWith('.yml') ? [path] : [];
  });
}

const root = join(import.meta.dirname, '..', '..');

describe('readPlainYaml', () => {
  it('reads every scalar as the yaml package does, or leaves it to the full path', () => {
    const scalars = [
      '1', '-0', '+12', '012', '08', '0o17', '0x1F', '0X1F', '0b101', '-0x1f', '+0o7', '1_000', '12345678901234567890',
      '.5', '-.5', '+.5e1', '1.', '0.', '1e3', '1E+3', '0.1e-2', '1e', '0x', '0o', '.inf', '-.Inf', '+.INF', '.NaN', '.nan', '-.nan',
      'true', 'True', 'TRUE', 'tRuE', 'yes', 'no', 'on', 'off', 'Y', '~', 'null', 'Null', 'NULL', 'nULL', '',
      '2026-01-01', '1:30', '10s', '1.5m', '"1"', "'it''s'", '"\\x41"', '"\\u00e9"', '"a\\tb"',
      '!!str 1', '!!int "3"', '!!float 1', '!!float "1.5"', '!!bool "true"', '!!null ""', '!foo bar', '!!binary aGVsbG8=', '!!timestamp 2001-12-14',
      '[1, -.5, 0x1F, 0o7, true, ~]', '{a: 1, b: .inf}',
    ];
    let read = 0;
    for (const s of scalars) {
      const text = `v: ${s}\n`;
      const plain = readPlainYaml(text, 32);
      if (plain === undefined) continue;
      read++;
      expect(plain, text).toEqual(fullPath(text));
      expect(Object.is((plain.value as { v: unknown }).v, (fullPath(text)!.value as { v: unknown }).v) || typeof (plain.value as { v: unknown }).v === 'object', text).toBe(true);
    }
    // Most of them are read here: the path is not one that declines everything.
    expect(read).toBeGreaterThan(scalars.length - 6);
  });

  it('reads random scalars made of number-like characters as the yaml package does', () => {
    const alphabet = '0123456789+-.eExXoObB_:infaINFNnul~tTrRuUeEfFsS';
    let seed = 7;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      let s = '';
      const len = 1 + rand(6);
      for (let j = 0; j < len; j++) s += alphabet[rand(alphabet.length)];
      const text = `v: ${s}\n`;
      const plain = readPlainYaml(text, 32);
      if (plain !== undefined) expect(plain, text).toEqual(fullPath(text));
    }
  });

  it('reads every example and fixture mesh file as the yaml package does', () => {
    const files = [...yamlFiles(join(root, 'examples')), ...yamlFiles(join(root, 'test', 'fixtures'))];
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const plain = readPlainYaml(text, 32);
      if (plain !== undefined) expect(plain, file).toEqual(fullPath(text));
    }
  });

  it('leaves anchors, duplicate keys, several documents and deep nesting to the full path', () => {
    expect(readPlainYaml('a: &x { b: 1 }\nc: *x\n', 32)).toBeUndefined();
    expect(readPlainYaml('a: &x 1\n', 32)).toBeUndefined();
    expect(readPlainYaml('a: &x [1]\nb: *x\n', 32)).toBeUndefined();
    expect(readPlainYaml('a: 1\na: 2\n', 32)).toBeUndefined();
    expect(readPlainYaml('a: 1\n---\nb: 2\n', 32)).toBeUndefined();
    expect(readPlainYaml(`${'['.repeat(40)}${']'.repeat(40)}\n`, 32)).toBeUndefined();
    expect(readPlainYaml('a: [1\n', 32)).toBeUndefined();
    expect(readPlainYaml('{ a }: 1\n', 32)).toBeUndefined();
    expect(readPlainYaml('[a]: 1\n', 32)).toBeUndefined();
    expect(readPlainYaml('? [a]\n: 1\n', 32)).toBeUndefined();
    expect(readPlainYaml('? a\n: 1\n', 32)).toEqual({ value: { a: 1 } });
    expect(readPlainYaml('x: {[a, b]: 1}\n', 32)).toBeUndefined();
    expect(readPlainYaml('x: {{a}}\n', 32)).toBeUndefined();
    expect(readPlainYaml('x: [{a: 1}, [b]]\n', 32)).toEqual({ value: { x: [{ a: 1 }, ['b']] } });
    expect(readPlainYaml('services: { a: { port: 1 } }\n', 32)).toEqual({ value: { services: { a: { port: 1 } } } });
  });
});
