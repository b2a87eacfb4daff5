/**
 * The workload side of identity: holds this process's X.509 SVID and keeps
 * it fresh.
 *
 * - The key pair is generated here (EC P-256) and never leaves the process;
 *   the CA sees only a CSR. Every renewal uses a new key.
 * - Renewal starts at ~50 % of the certificate's lifetime (± 10 % jitter, so
 *   a fleet started together does not renew together).
 * - While the CA is unreachable the current certificate keeps serving;
 *   retries back off exponentially (1 s .. 30 s by default).
 * - Once the certificate has expired without a successful renewal the
 *   manager fails closed: `ready` is false, `secureContext()` throws
 *   `ENMESH_ERR_SVID_UNAVAILABLE`, and `expired` (and `error`, when someone
 *   listens) is emitted. It keeps retrying and recovers on its own.
 * - The trust bundle arrives with every certificate and is polled between
 *   renewals, so a root rollover (old + new root) reaches every peer before
 *   anything is signed by the new root.
 *
 * Rotation never drops connections: an existing TLS connection keeps the
 * keys it was set up with; servers get the new context for new handshakes
 * (`tls.Server.setSecureContext`, see {@link SvidManager.attachServer}) and
 * clients build new connections from {@link SvidManager.secureContext}.
 */
import { X509Certificate as NodeX509, createPrivateKey } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { lstat, mkdir, readdir, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { SecureContext, SecureContextOptions, Server as TlsServer } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { EnmeshError } from '../errors.ts';
import type { SvidSigner } from './ca-client.ts';
import { PeerVerifier, parseTrustBundle } from './peer-verify.ts';
import type { TrustBundle } from './peer-verify.ts';
import { serviceSpiffeId } from './spiffe-id.ts';
import { EC_P256, generateKeyPair, pemToDers, privateKeyToPem } from './x509.ts';
import { GRPC_XDS_FILES } from './grpc-xds-files.ts';

export interface Svid {
  readonly spiffeId: string;
  /** Leaf first, then intermediates. */
  readonly certChainPem: string;
  /** PKCS#8; generated in this process. */
  readonly keyPem: string;
  readonly bundlePem: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly serial: string;
}

export interface SvidManagerLog {
  info(message: string): void;
  warn(message: string): void;
}

export interface SvidManagerOptions {
  readonly trustDomain: string;
  readonly service: string;
  readonly signer: SvidSigner;
  /** Fraction of the lifetime after which to renew. Default 0.5. */
  readonly renewAt?: number;
  /** ± fraction of the lifetime added at random to `renewAt`. Default 0.1. */
  readonly jitter?: number;
  /** Retry backoff while the CA fails. Default 1000 .. 30000 ms. */
  readonly retry?: { readonly baseMs: number; readonly maxMs: number };
  /** How often to poll the trust bundle between renewals; 0 disables. Default 5 min. */
  readonly bundleRefreshMs?: number;
  /** Wall clock, epoch ms. */
  readonly now?: () => number;
  readonly random?: () => number;
  readonly log?: SvidManagerLog;
}

export interface GrpcXdsFiles {
  readonly certificateFile: string;
  readonly privateKeyFile: string;
  readonly caCertificateFile: string;
  /** The `certificate_providers` entry for a grpc-js-xds bootstrap file. */
  readonly certificateProviders: Record<string, { plugin_name: 'file_watcher'; config: Record<string, string> }>;
  /** Stops rewriting the files on rotation. */
  stop(): void;
}

/** File names in the layout gRPC's file_watcher certificate provider is usually pointed at. */
export { GRPC_XDS_FILES };

const DATA_LINK = '..data';
/** setTimeout fires at once for longer delays; renewing early is harmless, a tight loop is not. */
const MAX_TIMER_MS = 2_147_483_647;

export class SvidManager extends EventEmitter {
  readonly spiffeId: string;
  readonly trustDomain: string;
  /** Verifies peers against this manager's current trust bundle. */
  readonly verifier: PeerVerifier;
  /** Renewals that succeeded / failed since start. */
  renewals = 0;
  failures = 0;

  readonly #signer: SvidSigner;
  readonly #renewAt: number;
  readonly #jitter: number;
  readonly #retry: { readonly baseMs: number; readonly maxMs: number };
  readonly #bundleRefreshMs: number;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #log: SvidManagerLog | undefined;

  #svid: Svid | undefined;
  /** The intermediates of our own chain: peers signed by the same CA have the same ones. */
  #intermediates: readonly Uint8Array[] = [];
  #bundle: TrustBundle | undefined;
  #bundlePem = '';
  #context: SecureContext | undefined;
  #renewTimer: NodeJS.Timeout | undefined;
  #expiryTimer: NodeJS.Timeout | undefined;
  #bundleTimer: NodeJS.Timeout | undefined;
  #consecutiveFailures = 0;
  #inFlight: Promise<void> | undefined;
  #expiredReported = false;
  #closed = false;
  #started: Promise<Svid> | undefined;

  constructor(options: SvidManagerOptions) {
    super();
    this.trustDomain = options.trustDomain;
    this.spiffeId = serviceSpiffeId(options.trustDomain, options.service);
    this.#signer = options.signer;
    this.#renewAt = options.renewAt ?? 0.5;
    this.#jitter = options.jitter ?? 0.1;
    this.#retry = options.retry ?? { baseMs: 1000, maxMs: 30_000 };
    this.#bundleRefreshMs = options.bundleRefreshMs ?? 300_000;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#log = options.log;
    this.verifier = new PeerVerifier({ trustDomain: options.trustDomain, bundle: () => this.#bundle, now: this.#now, intermediates: () => this.#intermediates });
  }

  /** True while a certificate is held and has not expired. */
  get ready(): boolean {
    return this.#svid !== undefined && this.#now() < this.#svid.notAfter;
  }

  /** The certificate in use, even an expired one (check {@link ready}). */
  current(): Svid | undefined {
    return this.#svid;
  }

  bundle(): TrustBundle | undefined {
    return this.#bundle;
  }

  /**
   * Gets the first certificate, retrying with backoff until it succeeds.
   * Resolves with it; rejects only if the manager is closed first.
   */
  start(): Promise<Svid> {
    this.#started ??= new Promise<Svid>((resolve, reject) => {
      const onRotated = (svid: Svid): void => {
        this.off('closed', onClosed);
        resolve(svid);
      };
      const onClosed = (): void => {
        this.off('rotated', onRotated);
        reject(new EnmeshError('ENMESH_ERR_SVID_UNAVAILABLE', 'the SVID manager was closed before it got a certificate'));
      };
      this.once('rotated', onRotated);
      this.once('closed', onClosed);
      void this.#renew();
      if (this.#bundleRefreshMs > 0) {
        this.#bundleTimer = setInterval(() => void this.#refreshBundle(), this.#bundleRefreshMs);
        this.#bundleTimer.unref();
      }
    });
    return this.#started;
  }

  /** Renews now (e.g. after the operator rotated the CA). Resolves when the attempt is over. */
  renewNow(): Promise<void> {
    return this.#renew();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#renewTimer);
    clearTimeout(this.#expiryTimer);
    clearInterval(this.#bundleTimer);
    this.emit('closed');
  }

  /** TLS context options (key, certificate chain, trust bundle) of the current SVID; throws when not {@link ready}. */
  contextOptions(): SecureContextOptions {
    const svid = this.#requireReady();
    return { key: svid.keyPem, cert: svid.certChainPem, ca: this.#bundlePem, minVersion: 'TLSv1.2' };
  }

  /** The TLS context for new connections; throws `ENMESH_ERR_SVID_UNAVAILABLE` when there is no valid certificate (fail closed). */
  secureContext(): SecureContext {
    this.#requireReady();
    this.#context ??= createSecureContext(this.contextOptions());
    return this.#context;
  }

  /**
   * Keeps `server`'s certificate current: sets it now and after every
   * rotation. Established connections are not touched. Returns a detach function.
   */
  attachServer(server: TlsServer): () => void {
    const apply = (): void => {
      if (this.ready) server.setSecureContext(this.contextOptions());
    };
    apply();
    this.on('rotated', apply);
    this.on('bundle', apply);
    return () => {
      this.off('rotated', apply);
      this.off('bundle', apply);
    };
  }

  /**
   * Writes the SVID, its key (mode 0600) and the bundle where gRPC's
   * `file_watcher` certificate provider (grpc-js-xds) reads them, and
   * rewrites them on every rotation. The three files are swapped at once
   * (a `..data` symlink to a fresh directory, as Kubernetes projects
   * secrets) so a reader never pairs a new certificate with an old key.
   */
  async writeGrpcXdsFiles(dir: string, refreshInterval = '10s'): Promise<GrpcXdsFiles> {
    this.#requireReady();
    const write = (): Promise<void> => writeSwapped(dir, this.#svid!, this.#bundlePem);
    await write();
    const onChange = (): void => {
      write().catch((err: unknown) => this.#log?.warn(`cannot rewrite SVID files in ${dir}: ${(err as Error).message}`));
    };
    this.on('rotated', onChange);
    this.on('bundle', onChange);
    const files = {
      certificateFile: join(dir, GRPC_XDS_FILES.certificate),
      privateKeyFile: join(dir, GRPC_XDS_FILES.privateKey),
      caCertificateFile: join(dir, GRPC_XDS_FILES.ca),
    };
    return {
      ...files,
      certificateProviders: {
        enmesh: {
          plugin_name: 'file_watcher',
          config: { certificate_file: files.certificateFile, private_key_file: files.privateKeyFile, ca_certificate_file: files.caCertificateFile, refresh_interval: refreshInterval },
        },
      },
      stop: () => {
        this.off('rotated', onChange);
        this.off('bundle', onChange);
      },
    };
  }

  #requireReady(): Svid {
    const svid = this.#svid;
    if (svid === undefined) throw new EnmeshError('ENMESH_ERR_SVID_UNAVAILABLE', `no certificate for ${this.spiffeId} yet`);
    if (this.#now() >= svid.notAfter) {
      throw new EnmeshError('ENMESH_ERR_SVID_UNAVAILABLE', `the certificate of ${this.spiffeId} expired at ${new Date(svid.notAfter).toISOString()} and could not be renewed`);
    }
    return svid;
  }

  #renew(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#inFlight ??= this.#attempt().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #attempt(): Promise<void> {
    clearTimeout(this.#renewTimer);
    try {
      const svid = await this.#issue();
      if (this.#closed) return;
      this.#install(svid);
    } catch (err) {
      if (this.#closed) return;
      this.failures++;
      const n = this.#consecutiveFailures++;
      const cap = Math.min(this.#retry.maxMs, this.#retry.baseMs * 2 ** Math.min(n, 30));
      const delay = cap / 2 + (this.#random() * cap) / 2;
      this.#log?.warn(`renewing ${this.spiffeId} failed (${(err as Error).message}); retrying in ${Math.round(delay)} ms`);
      this.emit('renewalFailed', err, delay);
      this.#schedule(delay);
    }
  }

  async #issue(): Promise<Svid> {
    const keys = await generateKeyPair();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      keys,
      signingAlgorithm: EC_P256,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: this.spiffeId }])],
    });
    const signed = await this.#signer.sign(csr.toString('pem'));
    const keyPem = await privateKeyToPem(keys.privateKey);
    // Check what came back before using it: our key, our identity, chaining to the bundle that came with it.
    const chain = pemToDers(signed.certChainPem);
    if (chain.length === 0) throw new EnmeshError('ENMESH_ERR_CA', 'the CA answered without a certificate');
    const leaf = new NodeX509(chain[0]!);
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) throw new EnmeshError('ENMESH_ERR_CA', 'the CA returned a certificate for another key');
    const bundle = parseTrustBundle(this.trustDomain, signed.bundlePem);
    const check = new PeerVerifier({ trustDomain: this.trustDomain, bundle: () => bundle, now: this.#now });
    for (const role of ['server', 'client'] as const) {
      const r = check.verifyChain(chain, role, this.spiffeId);
      if (!r.ok) throw new EnmeshError('ENMESH_ERR_CA', `the CA returned an unusable certificate (${r.reason}: ${r.message})`);
    }
    return {
      spiffeId: this.spiffeId,
      certChainPem: signed.certChainPem,
      keyPem,
      bundlePem: signed.bundlePem,
      notBefore: leaf.validFromDate.getTime(),
      notAfter: leaf.validToDate.getTime(),
      serial: leaf.serialNumber,
    };
  }

  #install(svid: Svid): void {
    const received = this.#now();
    this.#svid = svid;
    this.#intermediates = pemToDers(svid.certChainPem).slice(1);
    this.#setBundle(svid.bundlePem, false);
    this.#context = undefined;
    this.#consecutiveFailures = 0;
    this.#expiredReported = false;
    this.renewals++;
    const lifetime = Math.max(0, svid.notAfter - received);
    const fraction = Math.min(0.9, Math.max(0.1, this.#renewAt + (this.#random() * 2 - 1) * this.#jitter));
    this.#schedule(lifetime * fraction);
    clearTimeout(this.#expiryTimer);
    this.#expiryTimer = setTimeout(() => this.#checkExpiry(), Math.min(lifetime + 1, MAX_TIMER_MS));
    this.#expiryTimer.unref();
    this.#log?.info(`certificate ${svid.serial} for ${this.spiffeId} valid until ${new Date(svid.notAfter).toISOString()}`);
    this.emit('rotated', svid);
  }

  #schedule(delayMs: number): void {
    clearTimeout(this.#renewTimer);
    if (this.#closed) return;
    this.#renewTimer = setTimeout(() => void this.#renew(), Math.min(delayMs, MAX_TIMER_MS));
    this.#renewTimer.unref();
  }

  #checkExpiry(): void {
    if (this.#closed || this.ready || this.#expiredReported || this.#svid === undefined) return;
    this.#expiredReported = true;
    this.#context = undefined;
    const err = new EnmeshError('ENMESH_ERR_SVID_UNAVAILABLE', `the certificate of ${this.spiffeId} expired at ${new Date(this.#svid.notAfter).toISOString()}; mTLS is refused until the CA answers again`);
    this.#log?.warn(err.message);
    this.emit('expired', err);
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  #setBundle(pem: string, announce: boolean): boolean {
    if (pem === this.#bundlePem) return false;
    const bundle = parseTrustBundle(this.trustDomain, pem);
    if (bundle.roots.length === 0) throw new EnmeshError('ENMESH_ERR_CA', 'the CA published an empty trust bundle');
    this.#bundle = bundle;
    this.#bundlePem = pem;
    this.#context = undefined;
    if (announce) this.emit('bundle', pem);
    return true;
  }

  async #refreshBundle(): Promise<void> {
    if (this.#closed || this.#signer.fetchBundle === undefined || this.#svid === undefined) return;
    try {
      const pem = await this.#signer.fetchBundle();
      if (!this.#setBundle(pem, true)) return;
      this.#log?.info(`trust bundle of ${this.trustDomain} updated (${this.#bundle!.roots.length} roots)`);
      // Our own certificate no longer chains to the bundle peers use: get one that does.
      if (!this.verifier.verifyChain(pemToDers(this.#svid.certChainPem), 'server', this.spiffeId).ok) void this.#renew();
    } catch (err) {
      this.#log?.warn(`cannot refresh the trust bundle: ${(err as Error).message}`);
    }
  }
}

async function writeSwapped(dir: string, svid: Svid, bundlePem: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const gen = `..${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const genDir = join(dir, gen);
  await mkdir(genDir, { mode: 0o700 });
  await writeFile(join(genDir, GRPC_XDS_FILES.certificate), svid.certChainPem, { mode: 0o644 });
  await writeFile(join(genDir, GRPC_XDS_FILES.privateKey), svid.keyPem, { mode: 0o600 });
  await writeFile(join(genDir, GRPC_XDS_FILES.ca), bundlePem, { mode: 0o644 });
  const tmpLink = join(dir, `${DATA_LINK}_tmp`);
  await unlink(tmpLink).catch(() => undefined);
  await symlink(gen, tmpLink);
  await rename(tmpLink, join(dir, DATA_LINK));
  for (const name of Object.values(GRPC_XDS_FILES)) {
    const link = join(dir, name);
    const st = await lstat(link).catch(() => undefined);
    if (st === undefined) await symlink(join(DATA_LINK, name), link);
  }
  for (const entry of await readdir(dir)) {
    if (entry.startsWith('..') && entry !== gen && entry !== DATA_LINK && entry !== `${DATA_LINK}_tmp`) {
      await rm(join(dir, entry), { recursive: true, force: true });
    }
  }
}
