/**
 * Sizes of gRPC messages for the request/response byte metrics. Interceptors
 * see messages as objects; their size is known only to the method's
 * serializer and deserializer. Those are wrapped once per method (the
 * wrappers are cached per original function and swapped into grpc-js's
 * method definition or handler in place) and leave the length they saw
 * here, where the call's interceptor picks it up:
 *
 * - sending: a message is serialized inside the interceptor's `next(message)`
 *   (grpc-js serializes synchronously at the bottom of the chain), so the
 *   interceptor reads the size right after `next` returns;
 * - receiving: grpc-js deserializes a message, then hands that object up the
 *   chain; the interceptor counts the size when the object it receives is the
 *   one last deserialized.
 *
 * A message whose serialization or delivery an application interceptor
 * defers is not counted (the figure is then a lower bound). The size counted
 * is what the message occupies in the HTTP/2 body: its serialized length
 * plus gRPC's 5-byte length prefix, before compression.
 */

/** gRPC's length-prefixed message framing: 1 flag byte and 4 length bytes per message. */
export const FRAME_PREFIX_BYTES = 5;

type Serialize = (value: unknown) => Buffer;
type Deserialize = (bytes: Buffer) => unknown;

const NONE: unique symbol = Symbol('none');
let serialized = -1;
let lastMessage: unknown = NONE;
let lastBytes = 0;

const serializers = new WeakMap<Serialize, Serialize>();
const deserializers = new WeakMap<Deserialize, Deserialize>();
const wrappers = new WeakSet<object>();

function countingSerializer(fn: Serialize): Serialize {
  if (wrappers.has(fn)) return fn;
  let wrapped = serializers.get(fn);
  if (wrapped === undefined) {
    wrapped = (value) => {
      const out = fn(value);
      serialized = out.length;
      return out;
    };
    wrappers.add(wrapped);
    serializers.set(fn, wrapped);
  }
  return wrapped;
}

function countingDeserializer(fn: Deserialize): Deserialize {
  if (wrappers.has(fn)) return fn;
  let wrapped = deserializers.get(fn);
  if (wrapped === undefined) {
    wrapped = (bytes) => {
      const message = fn(bytes);
      lastMessage = message;
      lastBytes = bytes.length;
      return message;
    };
    wrappers.add(wrapped);
    deserializers.set(fn, wrapped);
  }
  return wrapped;
}

/** A client call's method definition (grpc-js makes one per call): its request serializer and response deserializer count. */
export function countClientMessages(definition: { requestSerialize?: Serialize; responseDeserialize?: Deserialize }): void {
  if (typeof definition.requestSerialize === 'function') definition.requestSerialize = countingSerializer(definition.requestSerialize);
  if (typeof definition.responseDeserialize === 'function') definition.responseDeserialize = countingDeserializer(definition.responseDeserialize);
}

/** A server method's handler (one per method, kept by grpc-js): its response serializer and request deserializer count. */
export function countServerMessages(handler: { serialize?: Serialize; deserialize?: Deserialize } | undefined): void {
  if (handler === undefined || handler === null) return;
  if (typeof handler.serialize === 'function' && !wrappers.has(handler.serialize)) handler.serialize = countingSerializer(handler.serialize);
  if (typeof handler.deserialize === 'function' && !wrappers.has(handler.deserialize)) handler.deserialize = countingDeserializer(handler.deserialize);
}

/** Call before passing a message on to be sent. */
export function beforeSend(): void {
  serialized = -1;
}

/** After `next(message)` returned: the bytes it put on the wire (0 if it was not serialized meanwhile). */
export function sentBytes(): number {
  const n = serialized;
  serialized = -1;
  return n < 0 ? 0 : n + FRAME_PREFIX_BYTES;
}

/** The bytes a received message came in (0 when it is not the one last deserialized). */
export function receivedBytes(message: unknown): number {
  if (message !== lastMessage) return 0;
  lastMessage = NONE;
  return lastBytes + FRAME_PREFIX_BYTES;
}
