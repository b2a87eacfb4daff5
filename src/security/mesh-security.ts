/**
 * Security as init() runs it: gets this workload's SVID from the control
 * plane's CA once the config says mTLS is wanted (and a workload token is
 * configured), keeps it renewed, hands it to the mTLS policy every
 * transport asks, writes the grpc-xds certificate files when asked, and
 * exports the certificate's remaining lifetime and every refused
 * connection as metrics.
 *
 * Without a token nothing here runs: traffic stays plaintext and peer
 * identities are unknown (authorization rules on `source` then match nobody).
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnmeshError } from '../errors.ts';
import type { MeshModel } from '../model/types.ts';
import type { EnmeshMetrics } from '../telemetry/mesh-metrics.ts';
import { httpCaClient } from './ca-client.ts';
import type { HttpCaClient } from './ca-client.ts';
import { MeshMtls } from './mesh-mtls.ts';
import { PEER_REFUSAL_REASONS } from './peer-refusal.ts';
import type { PeerRefusalReason } from './peer-verify.ts';
import { GRPC_XDS_FILES } from './grpc-xds-files.ts';
import type { GrpcXdsFiles, SvidManager } from './svid-manager.ts';

/** The bootstrap's certificate provider instance the xDS TLS contexts name (translate/tls-contexts.ts). */
export const CERTIFICATE_PROVIDER = 'enmesh';

/** `init({ security })`: how this workload gets its identity. */
export interface SecurityOptions {
  /** Workload token (`enmesh token create --service <name>`). `ENMESH_TOKEN`. */
  readonly token?: string;
  /** File holding the token, re-read at every renewal (so it can be rotated). `ENMESH_TOKEN_FILE`. */
  readonly tokenFile?: string;
  /**
   * The CA: the control plane's admin URL (`http://host:15000`). Default in
   * control-plane mode: the first control plane's host, port 15000. Required
   * in file mode. `ENMESH_CA_URL`.
   */
  readonly caUrl?: string;
  /** PEM file of CA certificates to trust for an `https:` caUrl. */
  readonly caFile?: string;
  /** Certificate lifetime to ask for (the CA caps it), e.g. `1h`. */
  readonly ttl?: string;
  /**
   * Directory to keep the SVID, key and bundle in for gRPC's `file_watcher`
   * certificate provider (grpc-js-xds mTLS); rewritten on every rotation. `ENMESH_SVID_DIR`.
   */
  readonly writeFiles?: string;
  /** How long init() (file mode) waits for the first certificate. Default 15 s. */
  readonly startTimeoutMs?: number;
}

/** The control plane's default admin port, where the CA answers. */
export const DEFAULT_CA_PORT = 15000;
const DEFAULT_START_TIMEOUT_MS = 15_000;

export interface MeshSecurityContext {
  readonly service: string | undefined;
  /** Control-plane `host:port`s (empty in file mode). */
  readonly controlPlanes: readonly string[];
  readonly onError: (err: Error) => void;
  readonly log?: { info(message: string): void; warn(message: string): void };
}

export class MeshSecurity {
  readonly mtls = new MeshMtls();
  readonly #options: SecurityOptions;
  readonly #ctx: MeshSecurityContext;
  readonly #caUrl: string | undefined;
  #ca: HttpCaClient | undefined;
  #svids: SvidManager | undefined;
  /** The CA's last refusal or failure while getting a certificate ('' when none). */
  #lastRenewalError = '';
  #files: GrpcXdsFiles | undefined;
  #first: Promise<void> | undefined;
  #resolveFirst: (() => void) | undefined;
  #closed = false;
  /** Where the grpc-xds certificate files go: `writeFiles`, or a private temporary directory once gRPC asks. */
  #filesDir: string | undefined;
  #ownFilesDir = false;
  /** Refusals already added to the metric, per reason. */
  readonly #exported = new Map<PeerRefusalReason, number>();

  constructor(options: SecurityOptions | undefined, ctx: MeshSecurityContext) {
    this.#options = options ?? {};
    this.#ctx = ctx;
    const o = this.#options;
    if (o.token !== undefined && o.tokenFile !== undefined) {
      throw new EnmeshError('ENMESH_ERR_INIT', 'security: give either token (ENMESH_TOKEN) or tokenFile (ENMESH_TOKEN_FILE), not both');
    }
    if (!this.configured) return;
    if (ctx.service === undefined) {
      throw new EnmeshError('ENMESH_ERR_INIT', 'security: a workload token needs the service it identifies: pass init({ service: { name } }) or set ENMESH_SERVICE');
    }
    this.#caUrl = o.caUrl ?? defaultCaUrl(ctx.controlPlanes);
    if (this.#caUrl === undefined) {
      throw new EnmeshError(
        'ENMESH_ERR_INIT',
        'security: no CA to get a certificate from: pass init({ security: { caUrl: "http://<control-plane>:15000" } }) or set ENMESH_CA_URL (file mode has no control plane to default to)',
      );
    }
    if (!/^https?:\/\/[^/]+\/?$/.test(this.#caUrl)) {
      throw new EnmeshError('ENMESH_ERR_INIT', `security.caUrl: "${this.#caUrl}" is not a base URL; expected http(s)://host:port, the control plane's admin address`);
    }
  }

  /** A workload token was configured: mTLS can be turned on. */
  get configured(): boolean {
    return this.#options.token !== undefined || this.#options.tokenFile !== undefined;
  }

  /** The identity manager, once started. */
  get svids(): SvidManager | undefined {
    return this.#svids;
  }

  /**
   * The bootstrap `certificate_providers` for grpc-js-xds in this process,
   * when a workload token is configured: a `file_watcher` over the files this
   * process keeps current (in `writeFiles`, else a private temporary directory).
   */
  grpcCertificateProviders(): Record<string, { plugin_name: string; config: Record<string, string> }> | undefined {
    if (!this.configured) return undefined;
    if (this.#filesDir === undefined) {
      this.#filesDir = this.#options.writeFiles ?? join(tmpdir(), `enmesh-svid-${process.pid}-${randomBytes(4).toString('hex')}`);
      this.#ownFilesDir = this.#options.writeFiles === undefined;
    }
    const dir = this.#filesDir;
    return {
      [CERTIFICATE_PROVIDER]: {
        plugin_name: 'file_watcher',
        config: {
          certificate_file: join(dir, GRPC_XDS_FILES.certificate),
          private_key_file: join(dir, GRPC_XDS_FILES.privateKey),
          ca_certificate_file: join(dir, GRPC_XDS_FILES.ca),
          refresh_interval: '5s',
        },
      },
    };
  }

  /** The certificate-provider files for grpc-js-xds, once written. */
  get grpcXdsFiles(): GrpcXdsFiles | undefined {
    return this.#files;
  }

  /** Called with every config model; starts getting certificates the first time the mesh wants mTLS. */
  onModel(model: MeshModel): void {
    this.mtls.setModel(model);
    if (!this.configured || this.#closed || model.mesh.mtls === 'disabled') return;
    if (this.#svids !== undefined) {
      if (this.#svids.trustDomain !== model.mesh.trustDomain) {
        this.#ctx.onError(
          new EnmeshError('ENMESH_ERR_CONFIG_CONFLICT', `mesh.trustDomain changed from ${this.#svids.trustDomain} to ${model.mesh.trustDomain}; this process keeps its identity until it restarts`),
        );
      }
      return;
    }
    this.#start(model.mesh.trustDomain);
  }

  /** Resolves when the first certificate is in place (at once when none is needed yet). */
  whenReady(): Promise<void> {
    return this.#first ?? Promise.resolve();
  }

  /** Like {@link whenReady}, but rejects with a clear error after `startTimeoutMs`. */
  async firstCertificate(): Promise<void> {
    const first = this.#first;
    if (first === undefined) return;
    const ms = this.#options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        first,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new EnmeshError(
                  'ENMESH_ERR_SVID_UNAVAILABLE',
                  `no certificate from the CA at ${this.#caUrl} within ${ms} ms${this.#lastRenewalError === '' ? '' : ` (last error: ${this.#lastRenewalError})`}; check security.caUrl / ENMESH_CA_URL and the workload token`,
                ),
              ),
            ms,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  #start(trustDomain: string): void {
    const o = this.#options;
    const tokenFile = o.tokenFile;
    const token = tokenFile !== undefined ? async (): Promise<string> => (await readFile(tokenFile, 'utf8')).trim() : o.token!;
    const caFile = o.caFile;
    this.#first = new Promise<void>((resolve) => (this.#resolveFirst = resolve));
    void (async () => {
      let caPem: string | undefined;
      if (caFile !== undefined) {
        try {
          caPem = await readFile(caFile, 'utf8');
        } catch (err) {
          this.#ctx.onError(new EnmeshError('ENMESH_ERR_INIT', `security.caFile: cannot read ${caFile}: ${(err as Error).message}`));
          return;
        }
      }
      if (this.#closed) return;
      this.#ca = httpCaClient({ url: this.#caUrl!, token, ...(o.ttl !== undefined ? { ttl: o.ttl } : {}), ...(caPem !== undefined ? { caPem } : {}) });
      // Loaded here: the X.509 library is large and only processes with mTLS need it.
      const { SvidManager } = await import('./svid-manager.ts');
      if (this.#closed) return;
      const svids = new SvidManager({ trustDomain, service: this.#ctx.service!, signer: this.#ca, ...(this.#ctx.log !== undefined ? { log: this.#ctx.log } : {}) });
      this.#svids = svids;
      // Kept for the start-up error: the manager is made after an import, so a waiter cannot listen from the start.
      svids.on('renewalFailed', (err: Error) => void (this.#lastRenewalError = err.message));
      this.mtls.setIdentity(svids);
      // Fail closed is loud: the error says the certificate expired and mTLS is refused until the CA answers.
      svids.on('expired', (err: Error) => this.#ctx.onError(err));
      try {
        await svids.start();
      } catch {
        return; // closed before the first certificate
      }
      const dir = this.#filesDir ?? o.writeFiles;
      if (dir !== undefined && !this.#closed) {
        try {
          this.#files = await svids.writeGrpcXdsFiles(dir, '5s');
        } catch (err) {
          this.#ctx.onError(new EnmeshError('ENMESH_ERR_INIT', `security.writeFiles: cannot write the certificate files to ${dir}: ${(err as Error).message}`));
        }
      }
      this.#resolveFirst?.();
    })();
  }

  /** Copies the certificate's remaining lifetime and the refusal counts into the metrics (called once a second). */
  syncMetrics(enmesh: EnmeshMetrics | undefined): void {
    const svids = this.#svids;
    if (enmesh === undefined || svids === undefined) return;
    const svid = svids.current();
    if (svid !== undefined) enmesh.certExpirySeconds.set({ principal: svids.spiffeId }, Math.round((svid.notAfter - Date.now()) / 1000));
    const refusals = svids.verifier.refusals;
    for (const reason of PEER_REFUSAL_REASONS) {
      const now = refusals[reason];
      const before = this.#exported.get(reason) ?? 0;
      if (now > before) enmesh.mtlsRefusals.inc({ reason }, now - before);
      this.#exported.set(reason, now);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#files?.stop();
    this.#svids?.close();
    this.#resolveFirst?.();
    await this.mtls.close();
    await this.#ca?.close();
    // The private key copy for gRPC goes with the process when the directory was ours.
    if (this.#ownFilesDir && this.#filesDir !== undefined) await rm(this.#filesDir, { recursive: true, force: true });
  }
}

/** `http://<first control plane host>:15000`, or undefined without a control plane. */
export function defaultCaUrl(controlPlanes: readonly string[]): string | undefined {
  const first = controlPlanes[0];
  if (first === undefined) return undefined;
  const host = first.slice(0, first.lastIndexOf(':'));
  return `http://${host}:${DEFAULT_CA_PORT}`;
}
