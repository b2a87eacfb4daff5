/**
 * A test double of the parts of Consul's HTTP API that enmesh uses, written
 * from Consul's API documentation. It is not Consul: one process, no Raft, no
 * gossip. What it keeps honest is what clients depend on:
 *
 * - one monotonic Raft-like index, bumped by every write; items carry
 *   CreateIndex / ModifyIndex; reads answer `X-Consul-Index`,
 *   `X-Consul-KnownLeader` and `X-Consul-LastContact`;
 * - blocking queries: `?index=N` holds the request until the query's index
 *   exceeds N or `wait` (default 5m, at most 10m, plus up to wait/16 jitter)
 *   elapses, then answers the current result;
 * - consistency modes: default and `?consistent` need a leader; `?stale` is
 *   served without one (KnownLeader false);
 * - catalog (`/v1/catalog/services`, `/v1/catalog/service/:name`), health
 *   (`/v1/health/service/:name[?passing]`), KV (`/v1/kv/:key` GET/PUT with
 *   `?cas`, DELETE), agent (`/v1/agent/service/register`,
 *   `/v1/agent/service/deregister/:id`, `/v1/agent/check/{pass,warn,fail}/:id`)
 *   with TTL checks that expire and `DeregisterCriticalServiceAfter`, HTTP
 *   checks polled at their interval, `/v1/status/leader`; `?dc=` picks one of
 *   the configured datacenters; an ACL token can be required.
 *
 * Switches for outage tests: `pause()` (requests hang until `resume()`),
 * `failWith(500)`, `loseLeader()` / `regainLeader()`, `resetIndex(n)` (a
 * snapshot restore: the index goes backwards).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ConsulDoubleOptions {
  /** Datacenters served; the first is the agent's own. Default `['dc1']`. */
  readonly datacenters?: readonly string[];
  /** When set, every request must carry it (`X-Consul-Token` or `?token=`); otherwise 403. */
  readonly aclToken?: string;
  /** The agent's node. Default `node-1` at 127.0.0.1. */
  readonly node?: { readonly name: string; readonly address: string };
}

export type CheckStatus = 'passing' | 'warning' | 'critical';

export interface ServiceInput {
  readonly id?: string;
  readonly name: string;
  readonly address?: string;
  readonly port: number;
  readonly tags?: readonly string[];
  readonly meta?: Readonly<Record<string, string>>;
  /** Status of the instance's one check. Default passing. */
  readonly status?: CheckStatus;
  readonly dc?: string;
  readonly node?: string;
  readonly weight?: number;
}

interface ServiceEntry {
  readonly id: string;
  readonly name: string;
  readonly dc: string;
  readonly node: string;
  address: string;
  port: number;
  tags: string[];
  meta: Record<string, string>;
  weights: { Passing: number; Warning: number };
  createIndex: number;
  modifyIndex: number;
}

interface CheckEntry {
  readonly id: string;
  readonly serviceId: string;
  readonly dc: string;
  readonly node: string;
  status: CheckStatus;
  output: string;
  ttlMs?: number;
  ttlTimer?: NodeJS.Timeout;
  httpTimer?: NodeJS.Timeout;
  deregisterAfterMs?: number;
  criticalTimer?: NodeJS.Timeout;
  createIndex: number;
  modifyIndex: number;
}

interface KvEntry {
  value: Buffer;
  flags: number;
  createIndex: number;
  modifyIndex: number;
}

export interface ConsulDouble {
  readonly url: string;
  readonly port: number;
  /** The current Raft-like index. */
  index(): number;
  /** Registers (or updates) an instance in the catalog, with one check of the given status. Returns its id. */
  register(s: ServiceInput): string;
  deregister(id: string): void;
  setStatus(serviceId: string, status: CheckStatus): void;
  putKv(key: string, value: string): void;
  getKv(key: string): string | undefined;
  /** Instances (all statuses) of a service, as `{ id, address, port, status, meta }`. */
  instances(name: string): { id: string; address: string; port: number; status: CheckStatus; meta: Record<string, string>; tags: string[] }[];
  /** Requests hang (accepted, never answered) until `resume()`, which then serves them. */
  pause(): void;
  resume(): void;
  /** Every API call answers `status` until `failWith(0)`. */
  failWith(status: number, message?: string): void;
  loseLeader(): void;
  regainLeader(): void;
  /** The index goes back to `to` (as after restoring an older snapshot); items newer than it are clamped. */
  resetIndex(to: number): void;
  /** Requests served, by `METHOD path` (without query). */
  readonly requests: string[];
  close(): Promise<void>;
}

const MAX_WAIT_MS = 10 * 60_000;
const DEFAULT_WAIT_MS = 5 * 60_000;

export async function startConsulDouble(options: ConsulDoubleOptions = {}): Promise<ConsulDouble> {
  const dcs = options.datacenters ?? ['dc1'];
  const agentDc = dcs[0]!;
  const agentNode = options.node ?? { name: 'node-1', address: '127.0.0.1' };
  let raft = 1;
  const tableIndex = { services: 1, checks: 1, kvs: 1, nodes: 1 };
  const services = new Map<string, ServiceEntry>();
  const checks = new Map<string, CheckEntry>();
  const kv = new Map<string, KvEntry>();
  const waiters = new Set<() => void>();
  const requests: string[] = [];
  let paused = false;
  const held: (() => void)[] = [];
  let failStatus = 0;
  let failMessage = '';
  let leader = true;

  const bump = (...tables: (keyof typeof tableIndex)[]): number => {
    raft += 1;
    for (const t of tables) tableIndex[t] = raft;
    // After the caller has stored the item carrying the new index.
    queueMicrotask(() => {
      for (const w of [...waiters]) w();
    });
    return raft;
  };

  const setCheckStatus = (c: CheckEntry, status: CheckStatus, output = ''): void => {
    if (c.status !== status || c.output !== output) {
      c.status = status;
      c.output = output;
      c.modifyIndex = bump('checks');
    }
    clearTimeout(c.criticalTimer);
    c.criticalTimer = undefined;
    if (status === 'critical' && c.deregisterAfterMs !== undefined) {
      c.criticalTimer = setTimeout(() => removeService(c.serviceId), c.deregisterAfterMs);
      c.criticalTimer.unref();
    }
  };

  const armTtl = (c: CheckEntry): void => {
    if (c.ttlMs === undefined) return;
    clearTimeout(c.ttlTimer);
    c.ttlTimer = setTimeout(() => setCheckStatus(c, 'critical', 'TTL expired'), c.ttlMs);
    c.ttlTimer.unref();
  };

  const removeService = (id: string): boolean => {
    const s = services.get(id);
    if (s === undefined) return false;
    services.delete(id);
    for (const [cid, c] of checks) {
      if (c.serviceId !== id) continue;
      clearTimeout(c.ttlTimer);
      clearTimeout(c.httpTimer);
      clearTimeout(c.criticalTimer);
      checks.delete(cid);
    }
    bump('services', 'checks');
    return true;
  };

  const addService = (s: ServiceInput, check: { status: CheckStatus; ttlMs?: number; http?: string; intervalMs?: number; deregisterAfterMs?: number; id?: string }): string => {
    const id = s.id ?? `${s.name}-${s.address ?? agentNode.address}-${s.port}`;
    const existing = services.get(id);
    const idx = bump('services', 'checks');
    const entry: ServiceEntry = {
      id,
      name: s.name,
      dc: s.dc ?? agentDc,
      node: s.node ?? agentNode.name,
      address: s.address ?? '',
      port: s.port,
      tags: [...(s.tags ?? [])],
      meta: { ...(s.meta ?? {}) },
      weights: { Passing: s.weight ?? 1, Warning: 1 },
      createIndex: existing?.createIndex ?? idx,
      modifyIndex: idx,
    };
    services.set(id, entry);
    const checkId = check.id ?? `service:${id}`;
    const old = checks.get(checkId);
    if (old !== undefined) {
      clearTimeout(old.ttlTimer);
      clearTimeout(old.httpTimer);
      clearTimeout(old.criticalTimer);
    }
    const c: CheckEntry = {
      id: checkId,
      serviceId: id,
      dc: entry.dc,
      node: entry.node,
      status: old?.status ?? check.status,
      output: '',
      ...(check.ttlMs !== undefined ? { ttlMs: check.ttlMs } : {}),
      ...(check.deregisterAfterMs !== undefined ? { deregisterAfterMs: check.deregisterAfterMs } : {}),
      createIndex: old?.createIndex ?? idx,
      modifyIndex: idx,
    };
    checks.set(checkId, c);
    armTtl(c);
    setCheckStatus(c, c.status, c.output);
    if (check.http !== undefined) {
      const url = check.http;
      const every = check.intervalMs ?? 10_000;
      const probe = (): void => {
        void fetch(url, { signal: AbortSignal.timeout(Math.max(every, 1000)) })
          .then(async (res) => {
            await res.arrayBuffer();
            return res.status >= 200 && res.status < 300 ? 'passing' : res.status === 429 ? 'warning' : 'critical';
          })
          .catch(() => 'critical' as const)
          .then((status) => {
            if (checks.get(checkId) !== c) return;
            setCheckStatus(c, status as CheckStatus);
            c.httpTimer = setTimeout(probe, every);
            c.httpTimer.unref();
          });
      };
      probe();
    }
    return id;
  };

  const statusOf = (serviceId: string): CheckStatus => {
    let worst: CheckStatus = 'passing';
    for (const c of checks.values()) {
      if (c.serviceId !== serviceId) continue;
      if (c.status === 'critical') return 'critical';
      if (c.status === 'warning') worst = 'warning';
    }
    return worst;
  };

  // ---- HTTP ----

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const run = (): void => {
        void handle(req, res, Buffer.concat(chunks)).catch((err: unknown) => {
          if (!res.headersSent) reply(res, 500, String(err));
        });
      };
      if (paused) held.push(run);
      else run();
    });
  });

  const reply = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    if (res.writableEnded || res.destroyed) return;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', ...headers });
    res.end(text);
  };

  /** Answers a read: blocking when `?index` is given, consistency checked, with the query headers. */
  const read = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    query: () => { index: number; status?: number; body: unknown },
  ): Promise<void> => {
    const stale = url.searchParams.has('stale');
    if (!leader && !stale) {
      reply(res, 500, 'No cluster leader');
      return;
    }
    const wanted = Number(url.searchParams.get('index') ?? '0');
    const waitMs = Math.min(parseWait(url.searchParams.get('wait')) ?? DEFAULT_WAIT_MS, MAX_WAIT_MS);
    let result = query();
    if (wanted > 0 && result.index <= wanted) {
      const jitter = Math.floor(Math.random() * (waitMs / 16));
      await new Promise<void>((resolve) => {
        const done = (): void => {
          waiters.delete(wake);
          clearTimeout(timer);
          res.off('close', done);
          resolve();
        };
        const wake = (): void => {
          if (query().index > wanted) done();
        };
        const timer = setTimeout(done, waitMs + jitter);
        waiters.add(wake);
        // A client that gave up (timeout, abort) no longer holds a waiter.
        res.on('close', done);
      });
      // A paused server answers nothing, held queries included.
      if (paused) await new Promise<void>((resolve) => held.push(resolve));
      if (res.destroyed) return;
      if (failStatus !== 0) {
        reply(res, failStatus, failMessage);
        return;
      }
      if (!leader && !stale) {
        reply(res, 500, 'No cluster leader');
        return;
      }
      result = query();
    }
    reply(res, result.status ?? 200, result.body, {
      'x-consul-index': String(Math.max(result.index, 1)),
      'x-consul-knownleader': String(leader),
      'x-consul-lastcontact': '0',
    });
  };

  const dcOf = (url: URL, res: http.ServerResponse): string | undefined => {
    const dc = url.searchParams.get('dc') ?? agentDc;
    if (!dcs.includes(dc)) {
      reply(res, 500, `No path to datacenter`);
      return undefined;
    }
    return dc;
  };

  const healthEntries = (name: string, dc: string, passingOnly: boolean): unknown[] =>
    [...services.values()]
      .filter((s) => s.name === name && s.dc === dc)
      .filter((s) => !passingOnly || statusOf(s.id) === 'passing')
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .map((s) => ({
        Node: { ID: '', Node: s.node, Address: s.node === agentNode.name ? agentNode.address : '127.0.0.1', Datacenter: s.dc, TaggedAddresses: {}, Meta: {} },
        Service: serviceView(s),
        Checks: [...checks.values()]
          .filter((c) => c.serviceId === s.id)
          .map((c) => ({ Node: c.node, CheckID: c.id, Name: `Service '${s.name}' check`, Status: c.status, Output: c.output, ServiceID: s.id, ServiceName: s.name, ServiceTags: s.tags, CreateIndex: c.createIndex, ModifyIndex: c.modifyIndex })),
      }));

  const serviceView = (s: ServiceEntry): Record<string, unknown> => ({
    ID: s.id,
    Service: s.name,
    Tags: s.tags,
    Address: s.address,
    Meta: s.meta,
    Port: s.port,
    Weights: s.weights,
    Datacenter: s.dc,
    CreateIndex: s.createIndex,
    ModifyIndex: s.modifyIndex,
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://consul.local');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    requests.push(`${method} ${path}`);
    if (requests.length > 10_000) requests.splice(0, 5000);
    if (failStatus !== 0) {
      reply(res, failStatus, failMessage);
      return;
    }
    if (options.aclToken !== undefined) {
      const token = req.headers['x-consul-token'] ?? url.searchParams.get('token');
      if (token !== options.aclToken) {
        reply(res, 403, 'ACL not found');
        return;
      }
    }
    let m: RegExpExecArray | null;

    if (method === 'GET' && path === '/v1/status/leader') {
      reply(res, 200, leader ? '127.0.0.1:8300' : '');
      return;
    }
    if (method === 'GET' && path === '/v1/catalog/services') {
      const dc = dcOf(url, res);
      if (dc === undefined) return;
      await read(req, res, url, () => {
        const out: Record<string, string[]> = {};
        for (const s of services.values()) if (s.dc === dc) out[s.name] = [...new Set([...(out[s.name] ?? []), ...s.tags])];
        return { index: Math.max(tableIndex.services, tableIndex.nodes), body: out };
      });
      return;
    }
    if (method === 'GET' && (m = /^\/v1\/catalog\/service\/([^/]+)$/.exec(path)) !== null) {
      const name = decodeURIComponent(m[1]!);
      const dc = dcOf(url, res);
      if (dc === undefined) return;
      await read(req, res, url, () => ({
        index: Math.max(tableIndex.services, tableIndex.nodes),
        body: healthEntries(name, dc, false).map((e) => {
          const { Node, Service } = e as { Node: Record<string, unknown>; Service: Record<string, unknown> };
          return { Node: Node.Node, Address: Node.Address, Datacenter: dc, ServiceID: Service.ID, ServiceName: Service.Service, ServiceTags: Service.Tags, ServiceAddress: Service.Address, ServiceMeta: Service.Meta, ServicePort: Service.Port, ServiceWeights: Service.Weights };
        }),
      }));
      return;
    }
    if (method === 'GET' && (m = /^\/v1\/health\/service\/([^/]+)$/.exec(path)) !== null) {
      const name = decodeURIComponent(m[1]!);
      const dc = dcOf(url, res);
      if (dc === undefined) return;
      const passing = url.searchParams.has('passing') && url.searchParams.get('passing') !== 'false';
      await read(req, res, url, () => ({ index: Math.max(tableIndex.services, tableIndex.checks, tableIndex.nodes), body: healthEntries(name, dc, passing) }));
      return;
    }
    if ((m = /^\/v1\/kv\/(.+)$/.exec(path)) !== null) {
      const key = decodeURIComponent(m[1]!);
      if (method === 'GET') {
        await read(req, res, url, () => {
          const e = kv.get(key);
          if (e === undefined) return { index: tableIndex.kvs, status: 404, body: '' };
          return {
            index: e.modifyIndex,
            body: [{ Key: key, Flags: e.flags, Value: e.value.length === 0 ? null : e.value.toString('base64'), CreateIndex: e.createIndex, ModifyIndex: e.modifyIndex, LockIndex: 0 }],
          };
        });
        return;
      }
      if (!leader) {
        reply(res, 500, 'No cluster leader');
        return;
      }
      if (method === 'PUT') {
        const cas = url.searchParams.get('cas');
        const e = kv.get(key);
        if (cas !== null) {
          const want = Number(cas);
          // cas=0: only if the key does not exist; otherwise its ModifyIndex must match.
          if ((want === 0 && e !== undefined) || (want !== 0 && e?.modifyIndex !== want)) {
            reply(res, 200, false);
            return;
          }
        }
        const idx = bump('kvs');
        kv.set(key, { value: body, flags: Number(url.searchParams.get('flags') ?? '0'), createIndex: e?.createIndex ?? idx, modifyIndex: idx });
        reply(res, 200, true);
        return;
      }
      if (method === 'DELETE') {
        if (kv.delete(key)) bump('kvs');
        reply(res, 200, true);
        return;
      }
    }
    if (method === 'PUT' && path === '/v1/agent/service/register') {
      const def = JSON.parse(body.toString() || '{}') as Record<string, unknown>;
      if (typeof def.Name !== 'string' || def.Name === '') {
        reply(res, 400, 'Missing service name');
        return;
      }
      const checkDef = (def.Check ?? (Array.isArray(def.Checks) ? def.Checks[0] : undefined)) as Record<string, unknown> | undefined;
      const ttlMs = parseWait(checkDef?.TTL as string | undefined);
      const http = typeof checkDef?.HTTP === 'string' ? checkDef.HTTP : undefined;
      const intervalMs = parseWait(checkDef?.Interval as string | undefined);
      if (checkDef !== undefined && ttlMs === undefined && (http === undefined || intervalMs === undefined)) {
        reply(res, 400, 'Invalid check: TTL or HTTP and Interval must be set');
        return;
      }
      const deregisterAfterMs = parseWait(checkDef?.DeregisterCriticalServiceAfter as string | undefined);
      addService(
        {
          ...(typeof def.ID === 'string' ? { id: def.ID } : {}),
          name: def.Name,
          ...(typeof def.Address === 'string' ? { address: def.Address } : {}),
          port: Number(def.Port ?? 0),
          tags: (def.Tags as string[] | undefined) ?? [],
          meta: (def.Meta as Record<string, string> | undefined) ?? {},
          ...(typeof (def.Weights as { Passing?: number } | undefined)?.Passing === 'number' ? { weight: (def.Weights as { Passing: number }).Passing } : {}),
        },
        {
          // Consul starts checks critical unless the definition gives a Status.
          status: checkDef === undefined ? 'passing' : ((checkDef.Status as CheckStatus | undefined) ?? 'critical'),
          ...(typeof checkDef?.CheckID === 'string' ? { id: checkDef.CheckID } : {}),
          ...(ttlMs !== undefined ? { ttlMs } : {}),
          ...(http !== undefined ? { http } : {}),
          ...(intervalMs !== undefined ? { intervalMs } : {}),
          ...(deregisterAfterMs !== undefined ? { deregisterAfterMs } : {}),
        },
      );
      reply(res, 200, '');
      return;
    }
    if (method === 'PUT' && (m = /^\/v1\/agent\/service\/deregister\/(.+)$/.exec(path)) !== null) {
      const id = decodeURIComponent(m[1]!);
      if (!removeService(id)) {
        reply(res, 404, `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
        return;
      }
      reply(res, 200, '');
      return;
    }
    if (method === 'PUT' && (m = /^\/v1\/agent\/check\/(pass|warn|fail)\/(.+)$/.exec(path)) !== null) {
      const c = checks.get(decodeURIComponent(m[2]!));
      if (c === undefined || c.ttlMs === undefined) {
        reply(res, 404, `Unknown check ID "${decodeURIComponent(m[2]!)}". Ensure that the check ID is passed, not the check name.`);
        return;
      }
      setCheckStatus(c, m[1] === 'pass' ? 'passing' : m[1] === 'warn' ? 'warning' : 'critical', url.searchParams.get('note') ?? '');
      armTtl(c);
      reply(res, 200, '');
      return;
    }
    reply(res, 404, `no such endpoint in the Consul double: ${method} ${path}`);
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    index: () => raft,
    register(s) {
      return addService(s, { status: s.status ?? 'passing' });
    },
    deregister(id) {
      removeService(id);
    },
    setStatus(serviceId, status) {
      for (const c of checks.values()) if (c.serviceId === serviceId) setCheckStatus(c, status);
    },
    putKv(key, value) {
      const e = kv.get(key);
      const idx = bump('kvs');
      kv.set(key, { value: Buffer.from(value), flags: 0, createIndex: e?.createIndex ?? idx, modifyIndex: idx });
    },
    getKv: (key) => kv.get(key)?.value.toString(),
    instances: (name) =>
      [...services.values()]
        .filter((s) => s.name === name)
        .map((s) => ({ id: s.id, address: s.address, port: s.port, status: statusOf(s.id), meta: { ...s.meta }, tags: [...s.tags] })),
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      for (const run of held.splice(0)) run();
    },
    failWith(status, message = 'rpc error making call: internal error') {
      failStatus = status;
      failMessage = message;
      for (const w of [...waiters]) w();
    },
    loseLeader() {
      leader = false;
      for (const w of [...waiters]) w();
    },
    regainLeader() {
      leader = true;
    },
    resetIndex(to) {
      raft = Math.max(1, to);
      for (const t of Object.keys(tableIndex) as (keyof typeof tableIndex)[]) tableIndex[t] = Math.min(tableIndex[t], raft);
      for (const s of services.values()) s.modifyIndex = Math.min(s.modifyIndex, raft);
      for (const c of checks.values()) c.modifyIndex = Math.min(c.modifyIndex, raft);
      for (const e of kv.values()) e.modifyIndex = Math.min(e.modifyIndex, raft);
    },
    requests,
    close() {
      for (const c of checks.values()) {
        clearTimeout(c.ttlTimer);
        clearTimeout(c.httpTimer);
        clearTimeout(c.criticalTimer);
      }
      for (const run of held.splice(0)) run();
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** Consul durations: `10s`, `500ms`, `1m`, `1h`. */
function parseWait(text: string | null | undefined): number | undefined {
  if (text === null || text === undefined || text === '') return undefined;
  const m = /^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/.exec(text);
  if (m === null) return undefined;
  const unit = { ns: 1e-6, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ns' | 'us' | 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}
