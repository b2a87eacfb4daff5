import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../log.ts';
import { AgentRegistrar } from './agent-registrar.ts';
import { agentInstanceOf, instanceDefinition } from './write-through.ts';

/** A Consul agent client that records calls; `passStatus` is what check passes answer. */
function fakeAgent() {
  const calls: { op: string; arg: Record<string, unknown> }[] = [];
  let passStatus = 200;
  const client = {
    agent: {
      service: {
        register: async (arg: Record<string, unknown>) => void calls.push({ op: 'register', arg }),
        deregister: async (arg: Record<string, unknown>) => void calls.push({ op: 'deregister', arg }),
      },
      check: {
        pass: async (arg: Record<string, unknown>) => {
          calls.push({ op: 'pass', arg });
          if (passStatus !== 200) throw Object.assign(new Error('Unknown check ID'), { response: { statusCode: passStatus } });
        },
      },
    },
  };
  return { client: client as never, calls, setPassStatus: (s: number) => (passStatus = s) };
}

afterEach(() => vi.useRealTimers());

describe('write-through definitions', () => {
  it('names the instance per replica, puts labels in Meta (others as k=v tags) and the zone in Meta.zone', () => {
    const inst = agentInstanceOf(
      { service: 'reviews', host: '10.0.0.7', port: 9080, labels: { version: 'v2', 'app.kubernetes.io/name': 'reviews', zone: 'ignored' }, zone: 'eu-1' } as never,
      'r1a2b3c4',
    );
    expect(inst).toEqual({
      id: 'enmesh-reviews-10.0.0.7-9080~r1a2b3c4',
      name: 'reviews',
      address: '10.0.0.7',
      port: 9080,
      tags: ['app.kubernetes.io/name=reviews', 'zone=ignored'],
      meta: { version: 'v2', zone: 'eu-1' },
      check: { kind: 'ttl' },
    });
  });
});

describe('AgentRegistrar', () => {
  it('registers with a 10 s TTL check and DeregisterCriticalServiceAfter 1 m by default, and passes it every third of the TTL', async () => {
    vi.useFakeTimers();
    const agent = fakeAgent();
    const registrar = new AgentRegistrar({ client: agent.client, log: silentLogger });
    registrar.set([instanceDefinition({ service: 'reviews', host: '127.0.0.1', port: 9080, labels: {}, zone: '' }, 'reviews-1', { kind: 'ttl' })]);
    await vi.advanceTimersByTimeAsync(10);
    expect(agent.calls).toEqual([
      {
        op: 'register',
        arg: expect.objectContaining({ id: 'reviews-1', name: 'reviews', address: '127.0.0.1', port: 9080, check: { ttl: '10s', status: 'passing', deregistercriticalserviceafter: '60s' } }),
      },
    ]);
    expect(registrar.registered()).toEqual(['reviews-1']);
    await vi.advanceTimersByTimeAsync(10_000);
    // At 3.33 s, 6.67 s and 10 s: two passes can be lost before the check turns critical.
    expect(agent.calls.filter((c) => c.op === 'pass').map((c) => c.arg.id)).toEqual(['service:reviews-1', 'service:reviews-1', 'service:reviews-1']);
    await registrar.close();
    expect(agent.calls.at(-1)).toMatchObject({ op: 'deregister', arg: { id: 'reviews-1' } });
  });

  it('registers again when the agent no longer knows the check (agent restarted)', async () => {
    vi.useFakeTimers();
    const agent = fakeAgent();
    const registrar = new AgentRegistrar({ client: agent.client, log: silentLogger, ttlMs: 3000, retryMs: 100 });
    registrar.set([instanceDefinition({ service: 'reviews', host: '127.0.0.1', port: 9080, labels: {}, zone: '' }, 'reviews-1', { kind: 'ttl' })]);
    await vi.advanceTimersByTimeAsync(10);
    agent.setPassStatus(404);
    await vi.advanceTimersByTimeAsync(1000);
    agent.setPassStatus(200);
    await vi.advanceTimersByTimeAsync(200);
    expect(agent.calls.map((c) => c.op)).toEqual(['register', 'pass', 'register']);
    await registrar.close({ deregister: false });
    // A replica that stops leaves its registrations to expire: nothing deregistered.
    expect(agent.calls.map((c) => c.op)).toEqual(['register', 'pass', 'register']);
  });
});
