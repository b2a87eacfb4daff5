/**
 * State-of-the-world ADS: every response carries the full set of a type's
 * resources (for the wildcard types LDS and CDS, absence means deletion; for
 * RDS and EDS, only the requested names matter). A response with any invalid
 * resource is NACKed as a whole: nothing in it is applied, the request echoes
 * the previous accepted version with the new nonce and an `error_detail`.
 */
import type { NodeMessage } from './node.ts';
import type { HeldResource, TypeState } from './state.ts';
import { NACK_CODE, errorText, nackMessage, sameBytes } from './messages.ts';
import type { DecodeResource, SotwRequest, SotwResponse } from './messages.ts';

/** The request for a type's current subscription, echoing the last version and nonce (an ACK, or a subscription change). */
export function sotwRequest(state: TypeState, node?: NodeMessage): SotwRequest {
  const req: SotwRequest = {
    version_info: state.version,
    resource_names: state.resourceNames(),
    type_url: state.typeUrl,
    response_nonce: state.nonce,
  };
  if (node !== undefined) req.node = node;
  if (state.errorDetail !== undefined) req.error_detail = state.errorDetail;
  return req;
}

export interface SotwOutcome {
  /** Whether the held resources changed. */
  readonly changed: boolean;
  /** Names received, to stop their does-not-exist timers. */
  readonly received: readonly string[];
  /** Set when the response was NACKed. */
  readonly error?: string;
  /** The ACK or NACK to send. */
  readonly reply: SotwRequest;
}

export function applySotwResponse(state: TypeState, res: SotwResponse, decode: DecodeResource, now: number): SotwOutcome {
  const version = res.version_info ?? '';
  const nonce = res.nonce ?? '';
  const errors: string[] = [];
  const incoming = new Map<string, HeldResource>();
  for (const any of res.resources ?? []) {
    if (any.type_url !== state.typeUrl) {
      errors.push(`a resource of type ${any.type_url} in a ${state.typeUrl} response`);
      continue;
    }
    try {
      const { name, value } = decode(state.typeUrl, any);
      if (incoming.has(name)) errors.push(`resource "${name}" appears twice in one response`);
      else incoming.set(name, { version, raw: any.value, value });
    } catch (err) {
      errors.push(errorText(err));
    }
  }

  state.nonce = nonce;
  if (errors.length > 0) {
    const message = nackMessage(errors);
    state.acked = false;
    state.lastNack = { nonce, rejectedVersion: version, message, at: now };
    state.errorDetail = { code: NACK_CODE, message };
    // version_info stays the last accepted one: with error_detail, that is what says "rejected".
    return { changed: false, received: [], error: message, reply: sotwRequest(state) };
  }

  let changed = false;
  if (state.wildcard) {
    for (const name of state.resources.keys()) {
      if (!incoming.has(name)) {
        state.resources.delete(name);
        changed = true;
      }
    }
  }
  const received: string[] = [];
  for (const [name, held] of incoming) {
    // A named type only keeps what it asked for; extra resources are ignored.
    if (!state.wildcard && !state.subscribed.has(name)) continue;
    received.push(name);
    state.missing.delete(name);
    const prev = state.resources.get(name);
    if (prev === undefined || !sameBytes(prev.raw, held.raw)) changed = true;
    state.resources.set(name, held);
  }
  state.version = version;
  state.acked = true;
  state.errorDetail = undefined;
  state.fetched = true;
  return { changed, received, reply: sotwRequest(state) };
}
