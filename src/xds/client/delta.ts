/**
 * Incremental (delta) ADS: responses carry only what changed, each resource
 * with its own version, plus the names removed. Resources are judged one by
 * one: valid ones in a response are applied even when a sibling is invalid;
 * the invalid ones keep their previous good version and the response is
 * NACKed (`error_detail` naming them), so the server knows what was refused.
 * A name sent twice, or sent and removed, in one response is refused the same way.
 */
import type { NodeMessage } from './node.ts';
import type { TypeState } from './state.ts';
import { NACK_CODE, errorText, nackMessage, sameBytes } from './messages.ts';
import type { DecodeResource, DeltaRequest, DeltaResponse } from './messages.ts';

function emptyRequest(state: TypeState): DeltaRequest {
  return {
    type_url: state.typeUrl,
    resource_names_subscribe: [],
    resource_names_unsubscribe: [],
    initial_resource_versions: {},
    response_nonce: '',
  };
}

/**
 * The first request for a type on a new stream. A wildcard type subscribes with
 * an empty name list (the form every xDS server understands as wildcard);
 * `initial_resource_versions` lists what we already hold so the server only
 * sends what changed while we were away.
 */
export function deltaInitialRequest(state: TypeState, node?: NodeMessage): DeltaRequest {
  const req = emptyRequest(state);
  if (node !== undefined) req.node = node;
  for (const [name, held] of state.resources) req.initial_resource_versions[name] = held.version;
  if (!state.wildcard) {
    for (const name of state.subscribed) {
      req.resource_names_subscribe.push(name);
      state.sentOnStream.add(name);
    }
  }
  return req;
}

/** Subscription changes since the server last heard from us, or undefined when there are none. */
export function deltaSubscriptionRequest(state: TypeState): DeltaRequest | undefined {
  const req = emptyRequest(state);
  for (const name of state.subscribed) {
    if (!state.sentOnStream.has(name)) req.resource_names_subscribe.push(name);
  }
  for (const name of state.sentOnStream) {
    if (!state.subscribed.has(name)) req.resource_names_unsubscribe.push(name);
  }
  if (req.resource_names_subscribe.length === 0 && req.resource_names_unsubscribe.length === 0) return undefined;
  for (const name of req.resource_names_subscribe) state.sentOnStream.add(name);
  for (const name of req.resource_names_unsubscribe) state.sentOnStream.delete(name);
  return req;
}

/** An ACK of the last response of this type, or a NACK while it stands rejected. */
export function deltaAckRequest(state: TypeState, node?: NodeMessage): DeltaRequest {
  const req = emptyRequest(state);
  req.response_nonce = state.nonce;
  if (node !== undefined) req.node = node;
  if (state.errorDetail !== undefined) req.error_detail = state.errorDetail;
  return req;
}

export interface DeltaOutcome {
  readonly changed: boolean;
  readonly received: readonly string[];
  readonly error?: string;
  readonly reply: DeltaRequest;
}

export function applyDeltaResponse(state: TypeState, res: DeltaResponse, decode: DecodeResource, now: number): DeltaOutcome {
  const nonce = res.nonce ?? '';
  const version = res.system_version_info ?? '';
  const errors: string[] = [];
  const received: string[] = [];
  let changed = false;

  // A name sent twice, or sent and removed, leaves the intended state ambiguous: NACKed, and
  // neither copy (nor the removal) is applied.
  const counts = new Map<string, number>();
  for (const r of res.resources ?? []) counts.set(r.name ?? '', (counts.get(r.name ?? '') ?? 0) + 1);
  const removedNames = new Set(res.removed_resources ?? []);
  for (const rn of res.removed_resource_names ?? []) if (rn.name !== undefined) removedNames.add(rn.name);
  const ambiguous = new Set<string>();
  for (const [name, n] of counts) {
    if (n > 1) errors.push(`resource "${name}" appears ${n === 2 ? 'twice' : `${n} times`} in one response`);
    if (removedNames.has(name)) errors.push(`resource "${name}" is both sent and removed in one response`);
    if (n > 1 || removedNames.has(name)) ambiguous.add(name);
  }

  for (const r of res.resources ?? []) {
    const name = r.name ?? '';
    if (ambiguous.has(name)) continue;
    const any = r.resource;
    if (any === undefined || any === null) {
      errors.push(`resource "${name}" has no body`);
      continue;
    }
    if (any.type_url !== state.typeUrl) {
      errors.push(`resource "${name}" is a ${any.type_url} in a ${state.typeUrl} response`);
      continue;
    }
    if (!state.wildcard && !state.subscribed.has(name)) continue;
    received.push(name);
    const prev = state.resources.get(name);
    if (prev !== undefined && sameBytes(prev.raw, any.value)) {
      // Same content resent (e.g. after reconnect): only the version may move.
      if (prev.version !== (r.version ?? '')) state.resources.set(name, { ...prev, version: r.version ?? '' });
      state.missing.delete(name);
      continue;
    }
    try {
      const decoded = decode(state.typeUrl, any);
      if (decoded.name !== name) {
        throw new Error(`resource "${name}" carries a ${state.typeUrl} named "${decoded.name}"`);
      }
      state.resources.set(name, { version: r.version ?? '', raw: any.value, value: decoded.value });
      state.missing.delete(name);
      changed = true;
    } catch (err) {
      errors.push(errorText(err));
    }
  }

  for (const name of removedNames) {
    if (!ambiguous.has(name)) changed = remove(state, name) || changed;
  }

  state.nonce = nonce;
  state.fetched = true;
  if (errors.length > 0) {
    const message = nackMessage(errors);
    state.acked = false;
    state.lastNack = { nonce, rejectedVersion: version, message, at: now };
    state.errorDetail = { code: NACK_CODE, message };
    return { changed, received, error: message, reply: deltaAckRequest(state) };
  }
  state.version = version;
  state.acked = true;
  state.errorDetail = undefined;
  return { changed, received, reply: deltaAckRequest(state) };
}

function remove(state: TypeState, name: string): boolean {
  // A subscribed name the server says is gone is known not to exist: stop waiting for it.
  if (!state.wildcard && state.subscribed.has(name)) state.missing.add(name);
  return state.resources.delete(name);
}
