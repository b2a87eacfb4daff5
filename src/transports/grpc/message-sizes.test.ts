import { describe, expect, it } from 'vitest';
import { beforeSend, countClientMessages, countServerMessages, FRAME_PREFIX_BYTES, receivedBytes, sentBytes } from './message-sizes.ts';

const serialize = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const deserialize = (b: Buffer): unknown => JSON.parse(b.toString()) as unknown;

describe('message sizes', () => {
  it('wraps a method once: the same wrapper for every call, never a wrapper of a wrapper', () => {
    const a = { requestSerialize: serialize, responseDeserialize: deserialize };
    const b = { requestSerialize: serialize, responseDeserialize: deserialize };
    countClientMessages(a);
    countClientMessages(b);
    expect(a.requestSerialize).not.toBe(serialize);
    expect(b.requestSerialize).toBe(a.requestSerialize);
    expect(b.responseDeserialize).toBe(a.responseDeserialize);
    const wrapped = a.requestSerialize;
    countClientMessages(a);
    expect(a.requestSerialize).toBe(wrapped);
    const handler = { serialize, deserialize };
    countServerMessages(handler);
    countServerMessages(handler);
    expect(handler.serialize).toBe(a.requestSerialize);
  });

  it('reports what a send serialized, once, with the frame prefix', () => {
    const def = { requestSerialize: serialize };
    countClientMessages(def);
    beforeSend();
    const bytes = def.requestSerialize({ key: 'abc' });
    expect(sentBytes()).toBe(bytes.length + FRAME_PREFIX_BYTES);
    expect(sentBytes()).toBe(0);
    // Nothing serialized between beforeSend and sentBytes (an interceptor deferred it): nothing counted.
    beforeSend();
    expect(sentBytes()).toBe(0);
  });

  it('counts a received message only when it is the one last deserialized', () => {
    const handler = { deserialize };
    countServerMessages(handler);
    const wire = Buffer.from(JSON.stringify({ id: 42, name: 'x' }));
    const first = handler.deserialize(wire);
    const second = handler.deserialize(Buffer.from('{"id":1}'));
    expect(receivedBytes(first)).toBe(0);
    expect(receivedBytes(second)).toBe('{"id":1}'.length + FRAME_PREFIX_BYTES);
    expect(receivedBytes(second)).toBe(0);
  });
});
