/**
 * Inbound protection of a process's own service, before the application
 * sees a request: the server-side rate limit and adaptive concurrency.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { request } from 'undici';
import { runMany } from '../../helpers/clients.ts';
import { startInboundService, type InboundService } from '../../helpers/inbound-service.ts';

let svc: InboundService;

beforeAll(async () => {
  svc = await startInboundService('    rateLimit: { requestsPerSecond: 10, burst: 5, side: server }\n');
});

afterAll(async () => {
  await svc?.close();
});

async function hit(): Promise<{ status: number; flags: unknown; retryAfter: unknown }> {
  const res = await request(`http://127.0.0.1:${svc.port}/`);
  await res.body.dump();
  return { status: res.statusCode, flags: res.headers['x-enmesh-response-flags'], retryAfter: res.headers['retry-after'] };
}

it('refuses requests over the server-side rate limit before the application sees them', async () => {
  svc.handled = 0;
  const replies = await runMany(30, 30, hit);
  const limited = replies.filter((r) => r.status === 429);
  expect(limited.length).toBeGreaterThanOrEqual(20);
  expect(svc.handled).toBe(30 - limited.length);
  expect(limited[0]!.flags).toBe('RL');
  expect(Number(limited[0]!.retryAfter)).toBeGreaterThanOrEqual(1);
});

it('sheds load with 503 OM when adaptive concurrency says the process is saturated', async () => {
  await svc.file.apply(svc.mesh, svc.yaml('    adaptiveConcurrency: { initialLimit: 4, minLimit: 2, maxLimit: 4 }\n'));
  svc.handled = 0;
  svc.delayMs = 200;
  const replies = await runMany(20, 20, hit);
  svc.delayMs = 0;
  const shed = replies.filter((r) => r.status === 503);
  expect(shed.length).toBeGreaterThanOrEqual(16); // at most 4 in flight
  expect(shed[0]!.flags).toBe('OM');
  expect(svc.handled).toBe(20 - shed.length);
  // Released as responses finish: a later request is admitted again.
  expect((await hit()).status).toBe(200);
});

it('injects faults into requests this service receives, gated by a header', async () => {
  await svc.file.apply(svc.mesh, svc.yaml('    inboundFault: { abort: { percent: 100, status: 503 }, header: x-chaos }\n'));
  svc.handled = 0;
  expect((await hit()).status).toBe(200);
  const res = await request(`http://127.0.0.1:${svc.port}/`, { headers: { 'x-chaos': '1' } });
  await res.body.dump();
  expect(res.statusCode).toBe(503);
  expect(res.headers['x-enmesh-response-flags']).toBe('FI');
  expect(svc.handled).toBe(1);
  await svc.file.apply(svc.mesh, svc.yaml('    inboundFault: { delay: { percent: 100, duration: 150ms } }\n'));
  const started = performance.now();
  expect((await hit()).status).toBe(200);
  expect(performance.now() - started).toBeGreaterThanOrEqual(140);
});
