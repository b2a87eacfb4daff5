/**
 * Inbound decisions, in the documented order (rate limit, then fault
 * injection, then adaptive concurrency), each counted with the enmesh_*
 * metric the outbound side uses for it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from 'undici';
import { runMany } from '../../helpers/clients.ts';
import { startInboundService, type InboundService } from '../../helpers/inbound-service.ts';

let svc: InboundService;

beforeAll(async () => {
  svc = await startInboundService();
});

afterAll(async () => {
  await svc?.close();
});

async function hit(): Promise<{ status: number; flags: unknown }> {
  const res = await request(`http://127.0.0.1:${svc.port}/`);
  await res.body.dump();
  return { status: res.statusCode, flags: res.headers['x-enmesh-response-flags'] };
}

const metric = async (name: string): Promise<string[]> => (await svc.mesh.metrics()).split('\n').filter((l) => l.startsWith(`${name}{`));
type Inbound = { fault: { counters: { aborts: number; delays: number } }; rateLimit: { counters: { allowed: number; limited: number } } };
const inbound = (): Inbound => (svc.mesh.policies() as { inbound: Inbound }).inbound;

it('checks the rate limit before injecting a fault: a rate-limited request takes no fault', async () => {
  await svc.file.apply(
    svc.mesh,
    svc.yaml(`    rateLimit: { requestsPerSecond: 0.01, burst: 2, side: server }
    inboundFault: { abort: { percent: 100, status: 503 } }
`),
  );
  const replies = [await hit(), await hit(), await hit(), await hit()];
  expect(replies).toEqual([
    { status: 503, flags: 'FI' },
    { status: 503, flags: 'FI' },
    { status: 429, flags: 'RL' },
    { status: 429, flags: 'RL' },
  ]);
  expect(inbound().fault.counters.aborts).toBe(2);
  expect(inbound().rateLimit.counters).toEqual({ allowed: 2, limited: 2 });
  expect(await metric('enmesh_rate_limited_total')).toEqual(['enmesh_rate_limited_total{destination_service="ratings",scope="local"} 2']);
  expect(await metric('enmesh_faults_injected_total')).toEqual(['enmesh_faults_injected_total{destination_service="ratings",route="",kind="abort"} 2']);
  // The destination reporter records the refusals with their flags, as a sidecar would.
  const requests = (await metric('istio_requests_total')).filter((l) => l.includes('reporter="destination"'));
  expect(requests.filter((l) => l.includes('response_code="429"') && l.includes('response_flags="RL"') && l.endsWith(' 2'))).toHaveLength(1);
  expect(requests.filter((l) => l.includes('response_code="503"') && l.includes('response_flags="FI"') && l.endsWith(' 2'))).toHaveLength(1);
});

it('counts inbound delays', async () => {
  await svc.file.apply(svc.mesh, svc.yaml('    inboundFault: { delay: { percent: 100, duration: 20ms } }\n'));
  svc.handled = 0;
  expect((await hit()).status).toBe(200);
  expect(svc.handled).toBe(1);
  expect(await metric('enmesh_faults_injected_total')).toContain('enmesh_faults_injected_total{destination_service="ratings",route="",kind="delay"} 1');
});

it('counts adaptive-concurrency sheds, and the would-be sheds of a dry run', async () => {
  await svc.file.apply(svc.mesh, svc.yaml('    adaptiveConcurrency: { initialLimit: 2, minLimit: 1, maxLimit: 2 }\n'));
  svc.delayMs = 200;
  const shed = (await runMany(10, 10, hit)).filter((r) => r.status === 503);
  expect(shed.length).toBeGreaterThanOrEqual(8);
  expect(shed[0]!.flags).toBe('OM');
  expect(await metric('enmesh_adaptive_concurrency_shed_total')).toEqual([`enmesh_adaptive_concurrency_shed_total{destination_service="ratings",dry_run="false"} ${shed.length}`]);

  await svc.file.apply(svc.mesh, svc.yaml('    adaptiveConcurrency: { dryRun: true, initialLimit: 2, minLimit: 1, maxLimit: 2 }\n'));
  const replies = await runMany(10, 10, hit);
  svc.delayMs = 0;
  expect(replies.every((r) => r.status === 200)).toBe(true);
  const lines = await metric('enmesh_adaptive_concurrency_shed_total');
  expect(lines).toContain(`enmesh_adaptive_concurrency_shed_total{destination_service="ratings",dry_run="false"} ${shed.length}`);
  expect(lines.find((l) => l.includes('dry_run="true"'))).toMatch(/ ([8-9]|10)$/);
});
