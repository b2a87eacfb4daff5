import { describe, expect, it } from 'vitest';
import { enmeshMetadata, fromStruct, readEnmeshMetadata, toStruct } from './metadata.ts';
import { decodeMessage, encodeMessage } from './protos.ts';
import { LISTENER } from './type-urls.ts';

describe('Struct metadata', () => {
  const value = { s: 'text', n: 1.5, t: true, f: false, z: null, list: [1, 'two', { three: 3 }, []], nested: { a: { b: 'c' } } };

  it('carries plain JSON through encoded bytes unchanged', () => {
    const bytes = encodeMessage(LISTENER, { name: 'l', metadata: enmeshMetadata(value) });
    const decoded = decodeMessage<{ metadata: unknown }>(LISTENER, bytes);
    expect(readEnmeshMetadata(decoded.metadata)).toEqual(value);
  });

  it('encodes equal content to equal bytes whatever the key order', () => {
    const a = encodeMessage(LISTENER, { name: 'l', metadata: enmeshMetadata({ x: 1, y: { p: 1, q: 2 } }) });
    const b = encodeMessage(LISTENER, { name: 'l', metadata: enmeshMetadata({ y: { q: 2, p: 1 }, x: 1 }) });
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it('skips undefined members and says nothing when nothing is defined', () => {
    expect(fromStruct(toStruct({ a: 1, b: undefined }))).toEqual({ a: 1 });
    expect(enmeshMetadata({ a: undefined })).toBeUndefined();
    expect(readEnmeshMetadata(undefined)).toBeUndefined();
    expect(readEnmeshMetadata({ filter_metadata: { other: toStruct({ a: 1 }) } })).toBeUndefined();
  });

  it('refuses values a Struct cannot hold', () => {
    expect(() => toStruct({ n: Number.NaN })).toThrow(/n: NaN is not a finite number/);
    expect(() => toStruct({ f: () => 1 })).toThrow(/f: function cannot be carried/);
  });
});
