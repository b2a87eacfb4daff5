import { describe, expect, it } from 'vitest';
import type { HeaderMutationModel } from '../model/types.ts';
import { applyHeaderMutation, isEmptyMutation } from './header-mutation.ts';
import type { HeaderRecord } from './header-mutation.ts';

function mutation(m: Partial<HeaderMutationModel>): HeaderMutationModel {
  return { set: [], add: [], remove: [], ...m };
}

describe('applyHeaderMutation', () => {
  it('set replaces, add appends, remove deletes', () => {
    const headers: HeaderRecord = { 'x-a': 'old', 'x-b': 'one', server: 'nginx', 'x-c': ['1', '2'] };
    applyHeaderMutation(
      headers,
      mutation({
        set: [['x-a', 'new'], ['x-new', 'v']],
        add: [['x-b', 'two'], ['x-c', '3'], ['x-d', 'first']],
        remove: ['server', 'x-missing'],
      }),
    );
    expect(headers).toEqual({ 'x-a': 'new', 'x-new': 'v', 'x-b': ['one', 'two'], 'x-c': ['1', '2', '3'], 'x-d': 'first' });
  });

  it('removes before setting and sets before adding', () => {
    const headers: HeaderRecord = { 'x-route': 'client' };
    applyHeaderMutation(headers, mutation({ remove: ['x-route'], set: [['x-route', 'a']], add: [['x-route', 'b']] }));
    expect(headers['x-route']).toEqual(['a', 'b']);
  });

  it('never mutates an existing array', () => {
    const original = ['1'];
    const headers: HeaderRecord = { 'x-c': original };
    applyHeaderMutation(headers, mutation({ add: [['x-c', '2']] }));
    expect(original).toEqual(['1']);
    expect(headers['x-c']).toEqual(['1', '2']);
  });

  it('isEmptyMutation tells a no-op apart', () => {
    expect(isEmptyMutation(undefined)).toBe(true);
    expect(isEmptyMutation(mutation({}))).toBe(true);
    expect(isEmptyMutation(mutation({ remove: ['a'] }))).toBe(false);
  });
});
