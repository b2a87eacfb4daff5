import { once } from 'node:events';
import { mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CertificateAuthority } from '../control-plane/ca/authority.ts';
import type { SignedSvid, SvidSigner } from './ca-client.ts';
import { GRPC_XDS_FILES, SvidManager } from './svid-manager.ts';
import type { Svid } from './svid-manager.ts';

const TTL = 60_000;

/** An in-process CA behind the SvidSigner interface, with a switch to take it down. */
async function inProcessCa(ttl = TTL): Promise<SvidSigner & { ca: CertificateAuthority; down: boolean; calls: number }> {
  const ca = await CertificateAuthority.create({ trustDomain: 'demo.local', svidTtlMs: ttl, now: () => Date.now() });
  const signer = {
    ca,
    down: false,
    calls: 0,
    async sign(csr: string): Promise<SignedSvid> {
      signer.calls++;
      if (signer.down) throw new Error('connect ECONNREFUSED');
      const svid = await ca.signCsr(csr, 'reviews');
      return { certChainPem: svid.certChainPem, bundlePem: svid.bundlePem };
    },
    async fetchBundle(): Promise<string> {
      if (signer.down) throw new Error('connect ECONNREFUSED');
      return ca.bundle().pem;
    },
  };
  return signer;
}

describe('SVID manager', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('gets a certificate for its own identity with a key generated in-process', async () => {
    const signer = await inProcessCa();
    const m = new SvidManager({ trustDomain: 'demo.local', service: 'reviews', signer, random: () => 0.5 });
    const svid = await m.start();
    expect(svid.spiffeId).toBe('spiffe://demo.local/service/reviews');
    expect(svid.keyPem).toMatch(/BEGIN PRIVATE KEY/);
    expect(svid.notAfter - Date.now()).toBeGreaterThan(TTL - 2000);
    expect(m.ready).toBe(true);
    expect(m.secureContext()).toBe(m.secureContext()); // cached until something changes
    expect(m.verifier.verifyChain([], 'server').ok).toBe(false);
    m.close();
  });

  it('renews at about half of the lifetime, with jitter, every time (60 s TTL)', async () => {
    const signer = await inProcessCa();
    // random() = 0 → earliest point of the jitter window: 40 % of the lifetime.
    const m = new SvidManager({ trustDomain: 'demo.local', service: 'reviews', signer, random: () => 0, bundleRefreshMs: 0 });
    const first = await m.start();
    const serials = [first.serial];
    for (let i = 0; i < 3; i++) {
      const rotated = once(m, 'rotated') as Promise<[Svid]>;
      const issuedAt = Date.now();
      // Nothing before 40 % (minus rounding of whole-second validity).
      await vi.advanceTimersByTimeAsync(0.4 * TTL - 3000);
      expect(m.renewals).toBe(i + 1);
      await vi.advanceTimersByTimeAsync(3500);
      const [svid] = await rotated;
      serials.push(svid.serial);
      expect(Date.now() - issuedAt).toBeLessThan(0.5 * TTL);
      expect(m.ready).toBe(true);
    }
    expect(new Set(serials).size).toBe(4);
    expect(m.renewals).toBe(4);
    m.close();
  });

  it('keeps serving through a CA outage, fails closed once expired, and recovers', async () => {
    const signer = await inProcessCa();
    const m = new SvidManager({ trustDomain: 'demo.local', service: 'reviews', signer, random: () => 0.5, bundleRefreshMs: 0, retry: { baseMs: 1000, maxMs: 5000 } });
    const first = await m.start();
    const failures: number[] = [];
    m.on('renewalFailed', (_err, delay: number) => failures.push(delay));
    const errors: Error[] = [];
    m.on('error', (err: Error) => errors.push(err));
    signer.down = true;

    // Past the renewal point: renewals fail (each one awaited: key generation is real work), the current certificate is still served.
    let failed = once(m, 'renewalFailed');
    await vi.advanceTimersByTimeAsync(0.6 * TTL);
    await failed;
    for (let i = 0; i < 3; i++) {
      failed = once(m, 'renewalFailed');
      await vi.advanceTimersByTimeAsync(failures.at(-1)! + 1);
      await failed;
    }
    expect(failures).toHaveLength(4);
    expect(failures.every((d) => d <= 5000)).toBe(true);
    expect(m.ready).toBe(true);
    expect(m.current()!.serial).toBe(first.serial);
    expect(() => m.secureContext()).not.toThrow();

    // Past notAfter: not ready, no context, an expired + error event.
    const expired = once(m, 'expired');
    await vi.advanceTimersByTimeAsync(first.notAfter - Date.now() + 10);
    await expired;
    expect(m.ready).toBe(false);
    expect(() => m.secureContext()).toThrow(expect.objectContaining({ code: 'ENMESH_ERR_SVID_UNAVAILABLE' }));
    expect(() => m.contextOptions()).toThrow(/expired/);
    expect(errors).toHaveLength(1);

    // The CA comes back: the next retry gets a new certificate.
    signer.down = false;
    const rotated = once(m, 'rotated');
    await vi.advanceTimersByTimeAsync(5000);
    await rotated;
    expect(m.ready).toBe(true);
    expect(m.current()!.serial).not.toBe(first.serial);
    m.close();
  });

  it('takes up a rotated trust bundle between renewals, and renews when its root is retired', async () => {
    const signer = await inProcessCa(3600_000);
    const m = new SvidManager({ trustDomain: 'demo.local', service: 'reviews', signer, random: () => 0.5, bundleRefreshMs: 10_000 });
    const first = await m.start();
    const bundles: string[] = [];
    m.on('bundle', (pem: string) => bundles.push(pem));
    await signer.ca.beginRootRollover();
    await vi.advanceTimersByTimeAsync(10_000);
    await vi.waitFor(() => expect(bundles).toHaveLength(1));
    expect(m.bundle()!.roots).toHaveLength(2);
    expect(m.current()!.serial).toBe(first.serial); // still chains to the bundle: no renewal needed
    signer.ca.completeRootRollover();
    signer.ca.retirePreviousRoot();
    const rotated = once(m, 'rotated') as Promise<[Svid]>;
    await vi.advanceTimersByTimeAsync(10_000);
    const [svid] = await rotated;
    expect(svid.serial).not.toBe(first.serial);
    expect(m.bundle()!.roots).toHaveLength(1);
    m.close();
  });

  it('refuses a certificate for another identity or key from a confused CA', async () => {
    const real = await inProcessCa();
    const other = await inProcessCa();
    const confused: SvidSigner = {
      async sign() {
        // A valid certificate for someone else's key.
        const { makeCsr } = await import('../../test/fixtures/security/pki.ts');
        const svid = await other.ca.signCsr((await makeCsr()).pem, 'reviews');
        return { certChainPem: svid.certChainPem, bundlePem: svid.bundlePem };
      },
    };
    const m = new SvidManager({ trustDomain: 'demo.local', service: 'reviews', signer: confused, random: () => 0.5, bundleRefreshMs: 0 });
    void m.start().catch(() => undefined);
    const [err] = (await once(m, 'renewalFailed')) as [Error];
    expect(err.message).toMatch(/another key/);
    expect(m.ready).toBe(false);
    m.close();
    void real;
  });

  it('writes the files gRPC xDS file_watcher reads, swapped together on rotation', async () => {
    vi.useRealTimers();
    const dir = await mkdtemp(join(tmpdir(), 'enmesh-svid-files-'));
    try {
      const signer = await inProcessCa();
      const m = new SvidManager({ trustDomain: 'demo.local', service: 'reviews', signer, bundleRefreshMs: 0 });
      await m.start();
      const files = await m.writeGrpcXdsFiles(dir);
      expect(files.certificateProviders.enmesh).toEqual({
        plugin_name: 'file_watcher',
        config: { certificate_file: join(dir, GRPC_XDS_FILES.certificate), private_key_file: join(dir, GRPC_XDS_FILES.privateKey), ca_certificate_file: join(dir, GRPC_XDS_FILES.ca), refresh_interval: '10s' },
      });
      expect(await readFile(files.certificateFile, 'utf8')).toBe(m.current()!.certChainPem);
      expect(await readFile(files.privateKeyFile, 'utf8')).toBe(m.current()!.keyPem);
      expect(await readFile(files.caCertificateFile, 'utf8')).toBe(m.current()!.bundlePem);
      expect((await stat(files.privateKeyFile)).mode & 0o777).toBe(0o600);
      const firstTarget = await readlink(join(dir, '..data'));
      const rotated = once(m, 'rotated');
      await m.renewNow();
      await rotated;
      await vi.waitFor(async () => expect(await readFile(files.certificateFile, 'utf8')).toBe(m.current()!.certChainPem));
      expect(await readlink(join(dir, '..data'))).not.toBe(firstTarget);
      expect(await readFile(files.privateKeyFile, 'utf8')).toBe(m.current()!.keyPem);
      files.stop();
      m.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
