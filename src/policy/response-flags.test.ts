import { describe, expect, it } from 'vitest';
import { EnmeshError } from '../errors.ts';
import { LocalReplies, RESPONSE_FLAGS_HEADER, ResponseFlags, localReplyForError } from './response-flags.ts';

describe('response flags', () => {
  it("use Envoy's short names", () => {
    expect(RESPONSE_FLAGS_HEADER).toBe('x-enmesh-response-flags');
    expect(ResponseFlags).toEqual({
      UPSTREAM_TIMEOUT: 'UT',
      UPSTREAM_CONNECT_FAILURE: 'UF',
      UPSTREAM_RESET: 'UR',
      RETRY_LIMIT_EXCEEDED: 'URX',
      NO_ROUTE: 'NR',
      NO_HEALTHY_UPSTREAM: 'UH',
      UPSTREAM_OVERFLOW: 'UO',
      DELAY_INJECTED: 'DI',
      FAULT_INJECTED: 'FI',
      RATE_LIMITED: 'RL',
      OVERLOADED: 'OM',
      DOWNSTREAM_CANCEL: 'DC',
    });
    for (const [name, reply] of Object.entries(LocalReplies)) expect(reply.flag).toBe(ResponseFlags[name as keyof typeof ResponseFlags]);
  });

  it('map mesh failures to local replies', () => {
    const coded = (code: string): Error => Object.assign(new Error(code), { code });
    expect(localReplyForError(coded('ECONNREFUSED'))).toEqual({ status: 503, grpcStatus: 14, flag: 'UF' });
    expect(localReplyForError(new TypeError('fetch failed', { cause: coded('UND_ERR_SOCKET') }))).toEqual({ status: 503, grpcStatus: 14, flag: 'UR' });
    expect(localReplyForError(new EnmeshError('ENMESH_ERR_NO_ENDPOINT', 'x'))).toEqual({ status: 503, grpcStatus: 14, flag: 'UH' });
    expect(localReplyForError(new EnmeshError('ENMESH_ERR_RETRY_BUDGET', 'x'))?.flag).toBe('URX');
    // The same frozen object every time: nothing allocated per failure.
    expect(localReplyForError(coded('ECONNREFUSED'))).toBe(LocalReplies.UPSTREAM_CONNECT_FAILURE);
  });

  it('leave other errors to the application', () => {
    expect(localReplyForError(Object.assign(new Error('aborted'), { name: 'AbortError' }))).toBeUndefined();
    expect(localReplyForError(new EnmeshError('ENMESH_ERR_CONFIG_INVALID', 'x'))).toBeUndefined();
    expect(localReplyForError(new Error('boom'))).toBeUndefined();
  });
});
