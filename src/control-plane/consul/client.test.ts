import { describe, expect, it } from 'vitest';
import { QueryContext, blockingRead, createConsulClient, describeConsulError } from './client.ts';

/** Runs blockingRead against a fake call, returning the options the call got. */
async function sent(index: number, settings: Parameters<typeof blockingRead>[3]): Promise<Record<string, unknown>> {
  let got: Record<string, unknown> = {};
  await blockingRead(
    async (o) => {
      got = o;
      return [{ headers: { 'x-consul-index': '7' } }, []];
    },
    { service: 'reviews' },
    index,
    settings,
    new QueryContext(),
  );
  return got;
}

describe('blockingRead', () => {
  it('sends index and wait once it has an index, and gives up after wait + wait/16 + max(1 s, wait/10)', async () => {
    const first = await sent(0, { address: 'http://c:8500' });
    expect(first).not.toHaveProperty('index');
    expect(first).not.toHaveProperty('wait');
    expect(first.timeout).toBe(30_000 + 1875 + 3000);
    expect(await sent(42, { address: 'http://c:8500', waitMs: 2000 })).toMatchObject({ service: 'reviews', index: '42', wait: '2s', timeout: 2000 + 125 + 1000 });
  });

  it('asks for the consistency mode chosen', async () => {
    const d = await sent(1, { address: 'http://c:8500' });
    expect(d).not.toHaveProperty('stale');
    expect(d).not.toHaveProperty('consistent');
    expect(await sent(1, { address: 'http://c:8500', consistency: 'stale' })).toMatchObject({ stale: true });
    expect(await sent(1, { address: 'http://c:8500', consistency: 'consistent' })).toMatchObject({ consistent: true });
  });

  it('reads X-Consul-Index and X-Consul-KnownLeader', async () => {
    const r = await blockingRead(async () => [{ headers: { 'x-consul-index': '12', 'x-consul-knownleader': 'false' } }, ['x']], {}, 0, { address: 'http://c:8500' }, new QueryContext());
    expect(r).toEqual({ index: 12, knownLeader: false, body: ['x'] });
    const none = await blockingRead(async () => [{ headers: {} }], {}, 0, { address: 'http://c:8500' }, new QueryContext());
    expect(none).toEqual({ index: 0, knownLeader: true, body: undefined });
  });
});

describe('createConsulClient', () => {
  it('takes http and https addresses and refuses anything else', () => {
    createConsulClient({ address: 'http://127.0.0.1:8500' }).destroy();
    createConsulClient({ address: 'https://consul.example:8501' }).destroy();
    expect(() => createConsulClient({ address: 'ftp://c:8500' })).toThrow(/"ftp:\/\/c:8500" is not a Consul address/);
    expect(() => createConsulClient({ address: '127.0.0.1:8500' })).toThrow(/is not a Consul address/);
  });

  it('describes HTTP errors with their status', () => {
    expect(describeConsulError(Object.assign(new Error('No cluster leader'), { response: { statusCode: 500 } }))).toBe('HTTP 500: No cluster leader');
    expect(describeConsulError(new Error('connect ECONNREFUSED 127.0.0.1:8500'))).toBe('connect ECONNREFUSED 127.0.0.1:8500');
  });
});
