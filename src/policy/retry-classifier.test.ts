import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { EnmeshError } from '../errors.ts';
import { DEFAULT_BACKOFF, DEFAULT_RETRY_BUDGET, IDEMPOTENT_METHODS, type RetryCondition, type RetryPolicyModel } from '../model/types.ts';
import {
  classifyError,
  compileRetryPolicy,
  isRetriableError,
  isRetriableGrpcStatus,
  isRetriableMethod,
  isRetriableStatus,
} from './retry-classifier.ts';

function policy(on: RetryCondition[], extra: Partial<RetryPolicyModel> = {}): RetryPolicyModel {
  return Object.freeze({
    attempts: 2,
    perTryTimeoutMs: 0,
    on,
    statusCodes: [],
    methods: IDEMPOTENT_METHODS,
    backoff: DEFAULT_BACKOFF,
    budget: DEFAULT_RETRY_BUDGET,
    ...extra,
  });
}

const coded = (code: string, extra: Record<string, unknown> = {}): Error => Object.assign(new Error(code), { code, ...extra });

describe('compileRetryPolicy', () => {
  it('compiles once per policy object and freezes the result', () => {
    const p = policy(['5xx']);
    const c = compileRetryPolicy(p);
    expect(compileRetryPolicy(p)).toBe(c);
    expect(Object.isFrozen(c)).toBe(true);
    expect(compileRetryPolicy(policy(['5xx']))).not.toBe(c);
  });
});

describe('isRetriableMethod', () => {
  it('allows the idempotent methods by default, not POST or PATCH', () => {
    const c = compileRetryPolicy(policy(['5xx']));
    for (const m of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']) expect(isRetriableMethod(c, m), m).toBe(true);
    for (const m of ['POST', 'PATCH', 'CONNECT']) expect(isRetriableMethod(c, m), m).toBe(false);
  });

  it('honours an explicit list (case-insensitive in config) and `*`', () => {
    const c = compileRetryPolicy(policy(['5xx'], { methods: ['post'] }));
    expect(isRetriableMethod(c, 'POST')).toBe(true);
    expect(isRetriableMethod(c, 'GET')).toBe(false);
    const all = compileRetryPolicy(policy(['5xx'], { methods: ['*'] }));
    expect(isRetriableMethod(all, 'PATCH')).toBe(true);
    expect(isRetriableMethod(all, 'POST')).toBe(true);
  });
});

describe('isRetriableStatus', () => {
  const statuses = [200, 404, 429, 499, 500, 501, 502, 503, 504, 505, 599, 600];
  const retried = (c: ReturnType<typeof compileRetryPolicy>): number[] => statuses.filter((s) => isRetriableStatus(c, s));

  it('maps each condition to its statuses', () => {
    expect(retried(compileRetryPolicy(policy(['5xx'])))).toEqual([500, 501, 502, 503, 504, 505, 599]);
    expect(retried(compileRetryPolicy(policy(['gateway-error'])))).toEqual([502, 503, 504]);
    expect(retried(compileRetryPolicy(policy(['reset', 'connect-failure'])))).toEqual([]);
    expect(retried(compileRetryPolicy(policy([])))).toEqual([]);
  });

  it('retries listed status codes, with or without `retriable-status-codes`', () => {
    expect(retried(compileRetryPolicy(policy(['retriable-status-codes'], { statusCodes: [429, 409] })))).toEqual([429]);
    expect(retried(compileRetryPolicy(policy([], { statusCodes: [429] })))).toEqual([429]);
    expect(retried(compileRetryPolicy(policy(['gateway-error'], { statusCodes: [500] })))).toEqual([500, 502, 503, 504]);
  });
});

describe('isRetriableGrpcStatus', () => {
  it('maps the gRPC conditions to their codes', () => {
    const cases: [RetryCondition, number][] = [
      ['cancelled', 1],
      ['deadline-exceeded', 4],
      ['resource-exhausted', 8],
      ['internal', 13],
      ['unavailable', 14],
    ];
    for (const [cond, code] of cases) {
      const c = compileRetryPolicy(policy([cond]));
      for (let k = 0; k <= 16; k++) expect(isRetriableGrpcStatus(c, k), `${cond} / ${k}`).toBe(k === code);
    }
    const httpOnly = compileRetryPolicy(policy(['5xx', 'reset']));
    for (let k = 0; k <= 16; k++) expect(isRetriableGrpcStatus(httpOnly, k)).toBe(false);
    const both = compileRetryPolicy(policy(['unavailable', 'resource-exhausted']));
    expect([0, 2, 8, 14, 31, -1, 46].map((k) => isRetriableGrpcStatus(both, k))).toEqual([false, false, true, true, false, false, false]);
  });
});

describe('classifyError', () => {
  it('classifies Node and undici error codes', () => {
    expect(classifyError(coded('ECONNREFUSED'))).toBe('connect-failure');
    expect(classifyError(coded('EHOSTUNREACH'))).toBe('connect-failure');
    expect(classifyError(coded('ENETUNREACH'))).toBe('connect-failure');
    expect(classifyError(coded('UND_ERR_CONNECT_TIMEOUT'))).toBe('connect-failure');
    expect(classifyError(coded('ETIMEDOUT', { syscall: 'connect' }))).toBe('connect-failure');
    expect(classifyError(coded('ETIMEDOUT', { syscall: 'read' }))).toBe('reset');
    for (const code of ['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_HEADERS_TIMEOUT']) {
      expect(classifyError(coded(code)), code).toBe('reset');
    }
    expect(classifyError(new Error('other side closed'))).toBe('reset');
    expect(classifyError(coded('ERR_HTTP2_STREAM_ERROR', { message: 'Stream closed with error code NGHTTP2_REFUSED_STREAM' }))).toBe('refused-stream');
    expect(classifyError(coded('ERR_HTTP2_STREAM_ERROR', { message: 'Stream closed with error code NGHTTP2_INTERNAL_ERROR' }))).toBe('reset');
  });

  it('does not treat name resolution, aborts or other errors as retriable failures', () => {
    expect(classifyError(coded('ENOTFOUND'))).toBe('other');
    expect(classifyError(coded('EAI_AGAIN'))).toBe('other');
    expect(classifyError(Object.assign(new Error('aborted'), { name: 'AbortError', code: 'ABORT_ERR' }))).toBe('other');
    expect(classifyError(coded('UND_ERR_ABORTED'))).toBe('other');
    expect(classifyError(new Error('boom'))).toBe('other');
    expect(classifyError(undefined)).toBe('other');
    expect(classifyError('ECONNRESET')).toBe('other');
  });

  it('looks through causes and aggregate errors', () => {
    expect(classifyError(new TypeError('fetch failed', { cause: coded('ECONNREFUSED') }))).toBe('connect-failure');
    const agg = Object.assign(new AggregateError([coded('ECONNREFUSED'), coded('ECONNREFUSED')]), { code: undefined });
    expect(classifyError(new TypeError('fetch failed', { cause: agg }))).toBe('connect-failure');
    let deep: Error = coded('ECONNRESET');
    for (let i = 0; i < 10; i++) deep = new Error('wrapped', { cause: deep });
    expect(classifyError(deep)).toBe('other'); // bounded walk
  });

  it('recognises enmesh timeouts', () => {
    expect(classifyError(new EnmeshError('ENMESH_ERR_PER_TRY_TIMEOUT', 'x'))).toBe('per-try-timeout');
    expect(classifyError(new EnmeshError('ENMESH_ERR_TIMEOUT', 'x'))).toBe('other');
    expect(classifyError(new EnmeshError('ENMESH_ERR_DEADLINE_EXCEEDED', 'x'))).toBe('other');
  });

  it('classifies the errors real transports throw', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));

    const hangUp = net.createServer((sock) => sock.once('data', () => sock.destroy()));
    await new Promise<void>((r) => hangUp.listen(0, '127.0.0.1', r));
    const hangUpPort = (hangUp.address() as net.AddressInfo).port;
    try {
      const fetchError = (port: number): Promise<unknown> => fetch(`http://127.0.0.1:${port}/`).then(() => undefined, (e: unknown) => e);
      const httpError = (port: number): Promise<unknown> =>
        new Promise((resolve) => {
          const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, () => resolve(undefined));
          req.on('error', resolve);
        });
      expect(classifyError(await fetchError(closedPort))).toBe('connect-failure');
      expect(classifyError(await httpError(closedPort))).toBe('connect-failure');
      expect(classifyError(await fetchError(hangUpPort))).toBe('reset');
      expect(classifyError(await httpError(hangUpPort))).toBe('reset');
    } finally {
      await new Promise<void>((r) => hangUp.close(() => r()));
    }
  });
});

describe('isRetriableError', () => {
  const refused = coded('ECONNREFUSED');
  const reset = coded('ECONNRESET');
  const refusedStream = coded('ERR_HTTP2_STREAM_ERROR', { message: 'NGHTTP2_REFUSED_STREAM' });
  const perTry = new EnmeshError('ENMESH_ERR_PER_TRY_TIMEOUT', 'x');
  const total = new EnmeshError('ENMESH_ERR_TIMEOUT', 'x');
  const errors = { refused, reset, refusedStream, perTry, total };
  const retried = (on: RetryCondition[], extra: Partial<RetryPolicyModel> = {}): string[] => {
    const c = compileRetryPolicy(policy(on, extra));
    return Object.entries(errors)
      .filter(([, e]) => isRetriableError(c, e))
      .map(([k]) => k);
  };

  it('maps each condition to the failures it covers', () => {
    expect(retried(['connect-failure'])).toEqual(['refused', 'perTry']);
    expect(retried(['refused-stream'])).toEqual(['refusedStream', 'perTry']);
    // As in Envoy, reset covers every failure before a response...
    expect(retried(['reset'])).toEqual(['refused', 'reset', 'refusedStream', 'perTry']);
    // ...and so do 5xx and gateway-error, since such a failure becomes a local 503.
    expect(retried(['5xx'])).toEqual(['refused', 'reset', 'refusedStream', 'perTry']);
    expect(retried(['gateway-error'])).toEqual(['refused', 'reset', 'refusedStream', 'perTry']);
    expect(retried(['retriable-status-codes'], { statusCodes: [409] })).toEqual(['perTry']);
    expect(retried(['unavailable'])).toEqual(['perTry']);
    expect(retried([])).toEqual([]);
  });
});
