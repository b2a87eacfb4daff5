/** Encoding a message into an {@link XdsResource} whose version is the hash of its bytes. */
import { createHash } from 'node:crypto';
import { encodeMessage } from '../protos.ts';
import type { Message, XdsResource } from './types.ts';

/**
 * The largest resource clients accept: gRPC's default maximum message size,
 * which one DiscoveryResponse must fit in.
 */
export const MAX_RESOURCE_BYTES = 4 * 1024 * 1024;

/** `message` may be given already encoded (e.g. assembled from pieces encoded once, see server-listener.ts). */
export function makeResource(typeUrl: string, name: string, message: Message | Uint8Array): XdsResource {
  const value = message instanceof Uint8Array ? message : encodeMessage(typeUrl, message);
  const version = createHash('sha256').update(value).digest('hex').slice(0, 16);
  return Object.freeze({ typeUrl, name, version, any: { type_url: typeUrl, value } });
}
