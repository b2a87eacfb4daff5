/**
 * Scenario 9, hostile input: oversize and malformed xDS messages (to the SDK
 * and to the control plane), a gRPC compression bomb, oversize and malformed
 * HTTP headers, a huge request body through a retrying route, and mesh.yaml
 * files with deep nesting, huge values or huge size.
 *
 * Pass: each is rejected with a clear error before it is buffered in full;
 * nothing crashes; the previous good state stays in force; nothing costs more
 * than 100x its size in memory (peak RSS growth of the receiving process, from
 * /proc/<pid>/status VmHWM reset before each input, see lib/peak-growth.ts, or
 * this process's RSS for in-process cases).
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { init, isEnmeshError } from '../../src/index.ts';
import type { Mesh } from '../../src/index.ts';
import { loadMeshFile } from '../../src/config/load.ts';
import { createSnapshot } from '../../src/control-plane/snapshot.ts';
import type { Snapshot, SnapshotResource } from '../../src/control-plane/snapshot.ts';
import { CLUSTER } from '../../src/xds/type-urls.ts';
import { startBackend } from '../helpers/http-backend.ts';
import type { Backend } from '../helpers/http-backend.ts';
import { createMeshFile } from '../helpers/mesh-file.ts';
import type { MeshFile } from '../helpers/mesh-file.ts';
import { reviewsYaml } from '../helpers/cp/reviews-yaml.ts';
import { snapshotOf, startScriptedAds } from '../helpers/cp/scripted-ads.ts';
import type { ScriptedAds } from '../helpers/cp/scripted-ads.ts';
import { spawnControlPlane } from '../helpers/cp/control-plane-process.ts';
import type { ControlPlaneProcess } from '../helpers/cp/control-plane-process.ts';
import { spawnSdk } from '../helpers/cp/sdk-process.ts';
import type { SdkProcess } from '../helpers/cp/sdk-process.ts';
import { sleep, until } from '../helpers/cp/wait.ts';
import { MiB, report } from './lib/figures.ts';
import { peakGrowth } from './lib/peak-growth.ts';

const execFileAsync = promisify(execFile);
const figures: Record<string, number | string | boolean> = {};
let v1: Backend;

beforeAll(async () => {
  v1 = await startBackend('v1');
});
afterAll(async () => {
  await v1?.close();
  report('9', figures);
});

/** `snapshot` with the resource `typeUrl`/`name` replaced by raw bytes (which may not decode at all). */
function withRawResource(snapshot: Snapshot, typeUrl: string, name: string, value: Uint8Array, version: string): Snapshot {
  const byType = new Map<string, Map<string, SnapshotResource>>();
  for (const [t, byName] of snapshot.resources) byType.set(t, new Map(byName));
  byType.get(typeUrl)!.set(name, { typeUrl, name, version, any: { type_url: typeUrl, value } });
  return createSnapshot(byType, { modelVersion: `${snapshot.modelVersion}-${version}`, profile: snapshot.profile });
}

describe('xDS responses to the SDK', () => {
  let ads: ScriptedAds;
  let sdk: SdkProcess;
  const yaml = (): string => reviewsYaml({ endpoints: { v1: v1.address } });

  beforeAll(async () => {
    ads = await startScriptedAds(snapshotOf(yaml()));
    sdk = await spawnSdk({ controlPlane: [ads.url], service: 'productpage' });
    await sdk.waitForConfig((c) => c.services.reviews?.endpoints.length === 1, 20_000);
  });
  afterAll(async () => {
    await sdk?.kill();
    await ads?.close();
  });

  it('NACKs a resource that does not decode, naming it, and keeps its model and traffic', async () => {
    const good = snapshotOf(yaml());
    const version = sdk.latest()!.version;
    const errors = sdk.errors.length;
    // Field 1 (name) announced as 2^31 bytes long, then nothing: truncated garbage.
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x07, 0x41, 0x42]);
    ads.serve(withRawResource(good, CLUSTER, 'outbound|9080||reviews', garbage, 'garbage'));
    await until(() => sdk.errors.slice(errors).some((e) => e.message.includes('(NACK)')), 5000, 'NACK of an undecodable resource');
    const nack = sdk.errors.slice(errors).find((e) => e.message.includes('(NACK)'))!;
    console.log(`CHAOS scenario=9 garbage NACK: ${nack.message}`);
    expect(nack.code).toBe('ENMESH_ERR_XDS_INVALID');
    expect(nack.message).toMatch(/cluster/i);
    expect((await sdk.status()).version).toBe(version);
    const r = await sdk.load({ url: 'http://reviews:9080/', count: 20, concurrency: 2, maxMs: 5000 }).result;
    expect(r.ok).toBe(20);
    figures.xdsGarbageNack = true;
    ads.serve(good);
  });

  it('closes the stream on a response over its 16 MiB limit before buffering it, keeps its model, and recovers', async () => {
    const good = snapshotOf(yaml());
    const version = sdk.latest()!.version;
    const pid = sdk.child.pid!;
    const errors = sdk.errors.length;
    const size = 64 * MiB;
    // A valid cluster carrying an unknown length-delimited field 999 of `size` bytes (decoders skip it).
    const cluster = good.resources.get(CLUSTER)!.get('outbound|9080||reviews')!.any.value;
    const padded = Buffer.concat([Buffer.from(cluster), Buffer.from([0xba, 0x3e, 0x80, 0x80, 0x80, 0x20]), Buffer.alloc(size, 0x41)]);
    const { growth } = await peakGrowth(pid, async () => {
      ads.serve(withRawResource(good, CLUSTER, 'outbound|9080||reviews', padded, 'oversize'));
      await until(() => sdk.errors.slice(errors).some((e) => /exceeds the \d+-byte limit/.test(e.message)), 15_000, 'oversize response refused');
    });
    const msg = sdk.errors.slice(errors).find((e) => /exceeds the \d+-byte limit/.test(e.message))!.message;
    ads.serve(good);
    expect(msg).toMatch(/maxReceiveMessageBytes/);
    expect((await sdk.status()).version).toBe(version);
    const r = await sdk.load({ url: 'http://reviews:9080/', count: 20, concurrency: 2, maxMs: 5000 }).result;
    expect(r.ok).toBe(20);
    figures.xdsOversizeMiB = size / MiB;
    figures.xdsOversizeClientPeakGrowthMiB = growth / MiB;
    // Not buffered in full: the client's peak grew by well under the message's size.
    expect(growth).toBeLessThan(size / 2);
  });
});

describe('requests to the control plane', () => {
  let file: MeshFile;
  let cp: ControlPlaneProcess;
  const DELTA = '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources';

  beforeAll(async () => {
    file = await createMeshFile(reviewsYaml({ endpoints: { v1: v1.address } }));
    cp = await spawnControlPlane({ config: file.path });
  });
  afterAll(async () => {
    await cp?.kill();
    await file?.remove();
  });

  /** Sends `bytes` as one raw message on an ADS stream; resolves with the stream's status. */
  async function rawAds(bytes: Buffer, options: grpc.ChannelOptions = {}): Promise<grpc.StatusObject> {
    const client = new grpc.Client(`127.0.0.1:${cp.xdsPort}`, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': -1, ...options });
    try {
      const call = client.makeBidiStreamRequest(DELTA, (b: Buffer) => b, (b: Buffer) => b);
      call.on('data', () => {});
      call.on('error', () => {});
      const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      call.write(bytes);
      const timer = setTimeout(() => call.cancel(), 15_000);
      const s = await status;
      clearTimeout(timer);
      return s;
    } finally {
      client.close();
    }
  }

  /**
   * Bytes of `size` zeros once gzipped with zlib's defaults, counted in a child process: zlib's
   * work would otherwise change this process's RSS, which later cases measure.
   */
  async function gzippedLength(size: number): Promise<number> {
    const script = `const z=require('node:zlib').createGzip();let n=0;z.on('data',c=>n+=c.length);z.on('end',()=>console.log(n));const p=Buffer.alloc(1<<20);(async()=>{for(let s=0;s<${size};s+=p.length)if(!z.write(p))await new Promise(r=>z.once('drain',r));z.end()})()`;
    const { stdout } = await execFileAsync(process.execPath, ['-e', script]);
    return Number(stdout.trim());
  }

  async function stillServes(): Promise<void> {
    const health = await cp.admin<{ status: string }>('/healthz');
    expect(health.status).toBe('ok');
    expect(cp.child.exitCode).toBe(null);
  }

  // First, on a control plane no other hostile input has grown yet: an earlier one leaves freed
  // memory behind that the bomb would reuse, hiding its cost.
  it('refuses a gzip bomb after inflating at most its receive limit: under 100x its compressed size', async () => {
    const pid = cp.child.pid!;
    const inflated = 256 * MiB;
    // grpc-js gzips with zlib's defaults: the same bytes go on the wire (counted in 1 MiB pieces,
    // not to hold a second copy in this process, whose own RSS later scenarios measure).
    const compressed = await gzippedLength(inflated);
    // Warm-up: one small gzip-compressed (and malformed) request, so that loading the decompression
    // path is not counted as the bomb's cost.
    const warm = await rawAds(Buffer.alloc(1024), { 'grpc.default_compression_algorithm': 2 });
    expect(warm.code).not.toBe(grpc.status.OK);
    const { result: s, growth } = await peakGrowth(pid, () => rawAds(Buffer.alloc(inflated), { 'grpc.default_compression_algorithm': 2 }));
    expect(s.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(s.details).toMatch(/decompresses to a size larger than/);
    figures.gzipBombInflatedMiB = inflated / MiB;
    figures.gzipBombCompressedBytes = compressed;
    figures.gzipBombPeakGrowthMiB = growth / MiB;
    figures.gzipBombCostPerCompressedByte = growth / compressed;
    // grpc-js inflates up to the ADS server's 4 MiB receive limit and stops: the peak stays within
    // 100x the bytes the client sent (about 25 MiB), not the 256 MiB the bomb inflates to.
    expect(growth).toBeLessThanOrEqual(100 * compressed);
    await stillServes();
  });

  it('refuses a request over its size limit, and a malformed one, and keeps serving', async () => {
    const pid = cp.child.pid!;
    const size = 256 * MiB;
    // Refused on the length prefix, but the client goes on sending the rest of the message after
    // the answer, and the server reads and drops it: that garbage, until the next GC, is the
    // peak, measured once it has all arrived. It does not grow with the message (64 MiB: 25-56 MiB).
    const { result: big, growth } = await peakGrowth(pid, () => rawAds(Buffer.alloc(size, 0x41)));
    expect(big.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    figures.cpOversizeRequestMiB = size / MiB;
    figures.cpOversizePeakGrowthMiB = growth / MiB;
    // Not buffered: dropped as it arrives.
    expect(growth).toBeLessThan(size / 2);

    const malformed = await rawAds(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x07, 0x41]));
    expect(malformed.code).not.toBe(grpc.status.OK);
    figures.cpMalformedStatus = grpc.status[malformed.code] ?? String(malformed.code);
    await stillServes();
  });
});

describe('HTTP into and through the mesh', () => {
  let mesh: Mesh;
  let file: MeshFile;
  let inbound: http.Server;
  let inboundPort: number;
  let sink: http.Server;
  let sunk = 0;

  beforeAll(async () => {
    sink = http.createServer((req, res) => {
      req.on('data', (c: Buffer) => (sunk += c.length));
      req.on('end', () => res.end('ok'));
    });
    sink.listen(0, '127.0.0.1');
    await once(sink, 'listening');
    file = await createMeshFile(`
services:
  sink:
    protocol: http
    port: 8080
    endpoints: [{ address: "127.0.0.1:${(sink.address() as AddressInfo).port}" }]
    routes:
      - retries: { attempts: 3, on: [5xx, reset, connect-failure] }
`);
    mesh = await init({ service: { name: 'edge' }, config: file.path });
    inbound = http.createServer((_req, res) => res.end('fine'));
    inbound.listen(0, '127.0.0.1');
    await once(inbound, 'listening');
    inboundPort = (inbound.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await mesh?.close();
    inbound?.close();
    sink?.close();
    await file?.remove();
  });

  function raw(text: string | Buffer): Promise<string> {
    return new Promise((resolve) => {
      const s = net.connect(inboundPort, '127.0.0.1');
      let out = '';
      s.on('data', (d) => (out += d.toString('latin1')));
      s.on('error', () => resolve(out));
      s.on('close', () => resolve(out));
      s.end(text);
    });
  }

  it('answers oversize and malformed request heads with 4xx, and keeps serving', async () => {
    const huge = await raw(`GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(1024 * 1024)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431/);
    const malformed = await raw('GET / HTTP/1.1\r\nhost x\r\n\x00\x01\r\n\r\n');
    expect(malformed).toMatch(/^HTTP\/1\.1 400/);
    const many = await raw(`GET / HTTP/1.1\r\nhost: x\r\n${Array.from({ length: 5000 }, (_, i) => `h${i}: v`).join('\r\n')}\r\n\r\n`);
    expect(many).toMatch(/^HTTP\/1\.1 (431|400)/);
    const ok = await raw('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    expect(ok).toMatch(/^HTTP\/1\.1 200/);
    figures.headersRejected = 3;
  });

  it('streams a 256 MiB body through a retrying route without buffering it', async () => {
    const size = 256 * MiB;
    const chunk = Buffer.alloc(64 * 1024, 0x42);
    const rssBefore = process.memoryUsage().rss;
    let peak = rssBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const body = Readable.from((function* () {
        for (let sent = 0; sent < size; sent += chunk.length) yield chunk;
      })());
      const res = await request('http://sink:8080/upload', { method: 'PUT', body, headersTimeout: 60_000, bodyTimeout: 60_000 });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('ok');
    } finally {
      clearInterval(sampler);
    }
    expect(sunk).toBe(size);
    figures.bodyMiB = size / MiB;
    figures.bodyPeakGrowthMiB = (peak - rssBefore) / MiB;
    // This process also runs the sink, whose read buffers are garbage until the next GC: the bound
    // is "not buffered in full" (the replay buffer holds at most 64 KiB of it).
    expect(peak - rssBefore).toBeLessThan(size / 2);
  });
});

describe('mesh.yaml', () => {
  const cases: { name: string; text: () => string; message: RegExp }[] = [
    { name: 'nesting 100000 deep', text: () => `services:\n  a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`, message: /deep|nest|depth/i },
    { name: 'a 900 kB value', text: () => `services:\n  reviews:\n    protocol: "${'h'.repeat(900_000)}"\n    port: 9080\n`, message: /protocol/ },
    { name: 'a huge number', text: () => `services:\n  reviews:\n    protocol: http\n    port: ${'9'.repeat(5000)}\n`, message: /port/ },
    { name: '10000 aliases of a large node', text: () => `x: &a [${'1,'.repeat(1000)}1]\nservices:\n${Array.from({ length: 10_000 }, (_, i) => `  s${i}: *a`).join('\n')}\n`, message: /alias|services\.s0|large|limit/i },
  ];

  it.each(cases)('rejects $name with a clear error naming the file', async (c) => {
    const f = await createMeshFile(c.text());
    try {
      const before = process.memoryUsage().rss;
      const err = await loadMeshFile(f.path).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isEnmeshError(err), String(err)).toBe(true);
      expect((err as Error).message).toContain(f.path);
      expect((err as Error).message).toMatch(c.message);
      expect(process.memoryUsage().rss - before).toBeLessThan(100 * c.text().length + 32 * MiB);
    } finally {
      await f.remove();
    }
  });

  it('rejects a 64 MiB file by its size without reading it', async () => {
    const f = await createMeshFile('services: {}\n');
    try {
      await writeFile(f.path, Buffer.alloc(64 * MiB, 0x20));
      const before = process.memoryUsage().rss;
      const err = await loadMeshFile(f.path).catch((e: unknown) => e);
      expect(isEnmeshError(err)).toBe(true);
      expect((err as Error).message).toMatch(/limit is 1048576 bytes/);
      const growth = process.memoryUsage().rss - before;
      figures.configOversizeGrowthMiB = growth / MiB;
      expect(growth).toBeLessThan(8 * MiB);
    } finally {
      await f.remove();
    }
    figures.configFilesRejected = cases.length + 1;
  });
});

// Let a refused stream's reconnect settle before the workers go.
afterAll(() => sleep(100));
