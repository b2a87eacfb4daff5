/**
 * An application process in control-plane mode, driven by a test over stdio:
 *
 *   ENMESH_CONTROL_PLANE=xds://127.0.0.1:15010 [ENMESH_XDS_MODE=sotw] [ENMESH_SERVICE=reviews ENMESH_LABELS=version=v1] \
 *   [AGENT_SERVE=v1] node --conditions=enmesh-source sdk-agent.ts
 *
 * It calls `init()` with no arguments, so everything comes from the `ENMESH_*`
 * environment, as with `--import enmesh/register`. With `AGENT_SERVE=<name>`
 * it first serves HTTP on 127.0.0.1:0 (answering 200 with its name in the body
 * and in `x-backend`) and sets `ENMESH_PORT`, so the instance registers itself.
 *
 * stdout carries one JSON object per line:
 * - `{"ev":"ready","port":N|null}` once init() returned;
 * - `{"ev":"config","t":ms,"version":"…","services":{…}}` for every model applied;
 * - `{"ev":"error","t":ms,"code":"…","message":"…"}` for every error the mesh reports;
 * - `{"ev":"reply","id":N,…}` answering a command.
 *
 * Commands arrive on stdin, one JSON object per line, each with an `id`:
 * - `{"cmd":"load","url":…,"count":N,"maxMs":N,"rps"?:N,"concurrency"?:N,"headers"?:{},"timeline"?:true}`:
 *   fetch `url` up to `count` times within `maxMs` (paced at `rps`, or with
 *   `concurrency` calls in flight); replies with the tally when done or stopped;
 * - `{"cmd":"stop","load":id}`: ends a running load early (its reply follows);
 * - `{"cmd":"grpc","target":"xds:///ratings","calls":N}`: unary ratings.Get calls on an `xds:` target;
 * - `{"cmd":"status"}`: the model in force;
 * - `{"cmd":"close"}`: `mesh.close()`; the process stays up (serving) until killed.
 * The process exits when stdin ends.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import * as grpc from '@grpc/grpc-js';
import { init, isEnmeshError } from 'enmesh';
import type { MeshModel } from 'enmesh';
import { ratingsClient } from '../grpc-xds/ratings-proto.ts';
import type { GetReply } from '../grpc-xds/ratings-proto.ts';

function emit(obj: object): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

let port: number | null = null;
const name = process.env.AGENT_SERVE;
if (name !== undefined && name !== '') {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
      res.end(name);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  process.env.ENMESH_PORT = String(port);
}

/** What a test needs to see of a model: endpoints and route backends per service. */
function summary(model: MeshModel): Record<string, unknown> {
  const services: Record<string, unknown> = {};
  for (const s of model.services.values()) {
    services[s.name] = {
      endpoints: s.endpoints.map((e) => `${e.host}:${e.port}`),
      routes: s.routes.map((r) => ({ name: r.name, backends: (r.backends ?? []).map((b) => ({ subset: b.subset ?? null, weight: b.weight })) })),
    };
  }
  return services;
}

const mesh = await init();
mesh.on('config', (m) => emit({ ev: 'config', t: Date.now(), version: m.version, services: summary(m) }));
mesh.on('error', (err) => emit({ ev: 'error', t: Date.now(), code: isEnmeshError(err) ? err.code : '', message: err.message }));
emit({ ev: 'ready', port });

interface LoadCommand {
  readonly id: number;
  readonly url: string;
  readonly count: number;
  readonly maxMs: number;
  readonly rps?: number;
  readonly concurrency?: number;
  readonly headers?: Record<string, string>;
  readonly timeline?: boolean;
}

interface Tally {
  sent: number;
  ok: number;
  failed: number;
  byBackend: Record<string, number>;
  failures: { t: number; status?: number; error?: string }[];
  /** `[start ms, backend]` per call, when asked for. */
  timeline: [number, string | null][];
}

const stops = new Map<number, () => void>();

async function load(cmd: LoadCommand): Promise<Tally> {
  const tally: Tally = { sent: 0, ok: 0, failed: 0, byBackend: {}, failures: [], timeline: [] };
  const started = Date.now();
  const deadline = started + cmd.maxMs;
  let stopped = false;
  let wake: (() => void) | undefined;
  stops.set(cmd.id, () => {
    stopped = true;
    wake?.();
  });
  const one = async (): Promise<void> => {
    const t = Date.now();
    tally.sent += 1;
    let backend: string | null = null;
    try {
      const res = await fetch(cmd.url, { headers: cmd.headers ?? {}, signal: AbortSignal.timeout(10_000) });
      const body = await res.text();
      if (res.status === 200) {
        backend = res.headers.get('x-backend') ?? body;
        tally.ok += 1;
        tally.byBackend[backend] = (tally.byBackend[backend] ?? 0) + 1;
      } else {
        tally.failed += 1;
        if (tally.failures.length < 20) tally.failures.push({ t, status: res.status, error: body.slice(0, 200) });
      }
    } catch (err) {
      tally.failed += 1;
      const e = err as Error & { cause?: Error };
      if (tally.failures.length < 20) tally.failures.push({ t, error: `${e.message}${e.cause ? `: ${e.cause.message}` : ''}` });
    }
    if (cmd.timeline === true) tally.timeline.push([t, backend]);
  };
  const more = (): boolean => !stopped && tally.sent < cmd.count && Date.now() < deadline;
  if (cmd.rps !== undefined) {
    // Open loop: call i starts at started + i / rps, whatever the others are doing.
    const inFlight = new Set<Promise<void>>();
    const gap = 1000 / cmd.rps;
    while (more()) {
      const p = one().finally(() => inFlight.delete(p));
      inFlight.add(p);
      const due = started + tally.sent * gap - Date.now();
      if (due > 0) await new Promise<void>((r) => setTimeout((wake = r), due));
    }
    await Promise.all(inFlight);
  } else {
    const worker = async (): Promise<void> => {
      while (more()) await one();
    };
    await Promise.all(Array.from({ length: cmd.concurrency ?? 1 }, worker));
  }
  stops.delete(cmd.id);
  return tally;
}

type GrpcRatings = grpc.Client & {
  Get(req: { key: string }, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, reply?: GetReply) => void): void;
};

/** One channel per target, kept open: closing the last one would also end grpc-js-xds's ADS stream. */
const grpcClients = new Map<string, GrpcRatings>();

async function grpcCalls(target: string, calls: number): Promise<object> {
  const client = grpcClients.get(target) ?? new (ratingsClient())(target, grpc.credentials.createInsecure()) as unknown as GrpcRatings;
  grpcClients.set(target, client);
  const out = { ok: 0, failed: 0, byBackend: {} as Record<string, number>, errors: [] as string[] };
  for (let i = 0; i < calls; i++) {
    const md = new grpc.Metadata();
    // The first call waits for xDS to configure the channel.
    if (i === 0) md.setOptions({ waitForReady: true });
    await new Promise<void>((resolve) => {
      client.Get({ key: `${process.pid}-${i}` }, md, { deadline: Date.now() + (i === 0 ? 15_000 : 5000) }, (err, reply) => {
        if (err === null && reply !== undefined) {
          out.ok += 1;
          out.byBackend[reply.backend] = (out.byBackend[reply.backend] ?? 0) + 1;
        } else {
          out.failed += 1;
          if (out.errors.length < 5) out.errors.push(`${err?.code}: ${err?.details}`);
        }
        resolve();
      });
    });
  }
  return out;
}

const commands = createInterface({ input: process.stdin });
// The test process went away: do not outlive it.
commands.on('close', () => process.exit(0));
commands.on('line', (line) => {
  if (line.trim() === '') return;
  const cmd = JSON.parse(line) as { id: number; cmd: string } & Record<string, unknown>;
  const reply = (body: object): void => emit({ ev: 'reply', id: cmd.id, ...body });
  switch (cmd.cmd) {
    case 'load':
      void load(cmd as unknown as LoadCommand).then(reply);
      break;
    case 'stop':
      stops.get(cmd.load as number)?.();
      reply({});
      break;
    case 'grpc':
      void grpcCalls(String(cmd.target), Number(cmd.calls)).then(reply);
      break;
    case 'status': {
      const m = mesh.config();
      reply({ version: m?.version ?? null, services: m === undefined ? {} : summary(m) });
      break;
    }
    case 'close': {
      const t = Date.now();
      void mesh.close().then(() => reply({ t }));
      break;
    }
    default:
      reply({ error: `unknown command ${cmd.cmd}` });
  }
});
