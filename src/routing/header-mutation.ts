import type { HeaderMutationModel } from '../model/types.ts';

/** Headers as the transports hold them: lower-case names, repeated headers as arrays. */
export type HeaderRecord = Record<string, string | string[]>;

/** True when applying `m` would change nothing, so callers can skip the call entirely. */
export function isEmptyMutation(m: HeaderMutationModel | undefined): boolean {
  return m === undefined || (m.set.length === 0 && m.add.length === 0 && m.remove.length === 0);
}

/**
 * Applies a mutation to `headers` in place. Removes run first, then sets,
 * then adds (Envoy's order), so a header both removed and set ends up set,
 * and `add` appends to what `set` wrote. Existing arrays are never mutated:
 * they may belong to the caller.
 */
export function applyHeaderMutation(headers: HeaderRecord, m: HeaderMutationModel): void {
  const { remove, set, add } = m;
  for (let i = 0; i < remove.length; i++) delete headers[remove[i]];
  for (let i = 0; i < set.length; i++) headers[set[i][0]] = set[i][1];
  for (let i = 0; i < add.length; i++) {
    const name = add[i][0];
    const value = add[i][1];
    const current = headers[name] as string | string[] | undefined;
    if (current === undefined) headers[name] = value;
    else if (typeof current === 'string') headers[name] = [current, value];
    else headers[name] = [...current, value];
  }
}
