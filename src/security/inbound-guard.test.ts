import { describe, expect, it } from 'vitest';
import { authorizationHeaders } from './inbound-guard.ts';

describe('authorizationHeaders', () => {
  it('is undefined for none or one Authorization header, whatever its case', () => {
    expect(authorizationHeaders([])).toBeUndefined();
    expect(authorizationHeaders(['Host', 'x', 'Authorization', 'Bearer a'])).toBeUndefined();
    expect(authorizationHeaders(['aUtHoRiZaTiOn', 'Bearer a', 'Accept', '*/*'])).toBeUndefined();
  });

  it('lists every value when there are more, names compared case-insensitively', () => {
    expect(authorizationHeaders(['Authorization', 'Bearer a', 'Host', 'x', 'AUTHORIZATION', 'Bearer b', 'authorization', 'Basic c'])).toEqual(['Bearer a', 'Bearer b', 'Basic c']);
  });

  it('takes no other name of the same length for it', () => {
    // Folding case touches letters only: `@` and `` ` `` never read as `n`.
    expect(authorizationHeaders(['Authorization', 'a', 'authorizatio@', 'b', 'authorizatio`', 'c', 'x-authorizatio', 'd'])).toBeUndefined();
  });
});
