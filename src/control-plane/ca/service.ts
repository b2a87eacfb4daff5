/**
 * The CA as the control plane serves it, on the admin HTTP server:
 *
 *   POST /api/v1/ca/sign     Authorization: Bearer <workload token>
 *                            { "csr": "<PEM>", "ttl": "1h" (optional) }
 *                         -> { spiffeId, certChainPem, bundlePem, bundleVersion, serial, notBefore, notAfter }
 *   GET  /api/v1/ca/bundle -> { trustDomain, version, roots: [PEM...], pem }
 *   GET  /api/v1/ca        -> status: signing certificate, bundle version, issued and refused counts
 *
 * Why HTTP beside the admin API rather than a gRPC service on the xDS port:
 * signing is one small request/response, so JSON over HTTP needs no extra
 * protocol definitions, can be exercised with curl, and the SDK can fetch
 * its first certificate before any xDS stream exists. Nothing secret
 * crosses it but the workload token (private keys never leave workloads),
 * so run the admin port on a trusted network or behind TLS.
 */
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { EnmeshError, isEnmeshError } from '../../errors.ts';
import { parseDuration } from '../../config/duration.ts';
import type { AdminServer } from '../admin.ts';
import { Reply, readBodyText } from '../admin.ts';
import type { Logger } from '../log.ts';
import { CertificateAuthority, DEFAULT_ROOT_TTL_MS } from './authority.ts';
import { checkCsr } from './csr-check.ts';
import { loadOrCreateCaDir, loadSigningMaterial } from './signing-material.ts';
import type { SigningMaterial } from './signing-material.ts';
import { TokenSigner } from './tokens.ts';
import type { TokenVerifier } from './tokens.ts';

export interface CaServiceOptions {
  /**
   * CA directory: `ca-cert.pem` + `ca-key.pem` (+ `bundle.pem`) and
   * `token-key.pem`; missing ones are generated there. Absent: a root and a
   * token key are generated in memory (tokens can then be minted only
   * in-process, with {@link CaService.mintToken}).
   */
  readonly dir?: string;
  /** Operator signing certificate (with its chain) and key; override the directory's. */
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly bundleFile?: string;
  /** Token signing key; defaults to `<dir>/token-key.pem`. */
  readonly tokenKeyFile?: string;
  /** SVID lifetime, the most a workload may ask for. Default 24 h. */
  readonly svidTtlMs?: number;
  /** Lifetime of generated roots. Default 365 days. */
  readonly rootTtlMs?: number;
}

export const TOKEN_KEY_FILE = 'token-key.pem';
/** Largest sign request body; a CSR is ~0.5 KiB. */
const MAX_BODY_BYTES = 32 * 1024;

export interface CaService {
  readonly authority: CertificateAuthority;
  /** A workload token for `service` (what `enmesh token create` prints). */
  mintToken(service: string, ttlMs?: number): Promise<string>;
  /** Counts of issued SVIDs and of refusals by reason. */
  stats(): { issued: number; refused: Record<string, number> };
}

/** Starts the CA for `trustDomain` and adds its routes to `admin`. */
export async function attachCertificateAuthority(admin: AdminServer, trustDomain: string, options: CaServiceOptions = {}, log?: Logger): Promise<CaService> {
  const rootTtlMs = options.rootTtlMs ?? DEFAULT_ROOT_TTL_MS;
  let material: SigningMaterial | undefined;
  if (options.certFile !== undefined || options.keyFile !== undefined) {
    if (options.certFile === undefined || options.keyFile === undefined) {
      throw new EnmeshError('ENMESH_ERR_CA', 'the CA needs both certFile and keyFile, or neither');
    }
    material = await loadSigningMaterial({ certFile: options.certFile, keyFile: options.keyFile, ...(options.bundleFile === undefined ? {} : { bundleFile: options.bundleFile }) });
  } else if (options.dir !== undefined) {
    const r = await loadOrCreateCaDir(options.dir, trustDomain, rootTtlMs);
    material = r.material;
    if (r.created) log?.info(`CA: generated a root for ${trustDomain} in ${options.dir}`);
  }
  const authority = await CertificateAuthority.create({
    trustDomain,
    rootTtlMs,
    ...(material === undefined ? {} : { signer: material }),
    ...(options.svidTtlMs === undefined ? {} : { svidTtlMs: options.svidTtlMs }),
  });
  const tokenKeyFile = options.tokenKeyFile ?? (options.dir === undefined ? undefined : join(options.dir, TOKEN_KEY_FILE));
  const signer = tokenKeyFile === undefined ? await TokenSigner.generate(trustDomain) : await TokenSigner.loadOrCreate(trustDomain, tokenKeyFile);
  const service = new CaHttpService(authority, signer.verifier(), log);
  service.register(admin);
  return {
    authority,
    mintToken: (name, ttlMs) => signer.mint(name, ttlMs),
    stats: () => ({ issued: authority.issued, refused: Object.fromEntries(service.refused) }),
  };
}

class CaHttpService {
  readonly refused = new Map<string, number>();
  readonly #ca: CertificateAuthority;
  readonly #tokens: TokenVerifier;
  readonly #log: Logger | undefined;

  constructor(ca: CertificateAuthority, tokens: TokenVerifier, log: Logger | undefined) {
    this.#ca = ca;
    this.#tokens = tokens;
    this.#log = log;
  }

  register(admin: AdminServer): void {
    admin
      .route('POST', '/api/v1/ca/sign', (req) => this.#sign(req))
      .route('GET', '/api/v1/ca/bundle', () => this.#ca.bundle())
      .route('GET', '/api/v1/ca', () => {
        const b = this.#ca.bundle();
        return {
          trustDomain: this.#ca.trustDomain,
          svidTtlMs: this.#ca.svidTtlMs,
          bundleVersion: b.version,
          roots: b.roots.length,
          issued: this.#ca.issued,
          refused: Object.fromEntries(this.refused),
        };
      });
  }

  #refuse(status: number, reason: string, message: string, headers: Record<string, string> = {}): Reply {
    this.refused.set(reason, (this.refused.get(reason) ?? 0) + 1);
    this.#log?.warn(`CA: refused a signing request (${reason}): ${message}`);
    return new Reply(status, { error: message, reason }, headers);
  }

  async #sign(req: IncomingMessage): Promise<Reply> {
    const auth = req.headers.authorization;
    const m = typeof auth === 'string' ? /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(auth) : null;
    if (m === null) return this.#refuse(401, 'token-missing', 'send the workload token as "Authorization: Bearer <token>"', { 'www-authenticate': 'Bearer' });
    let identity;
    try {
      identity = await this.#tokens.verify(m[1]!);
    } catch (err) {
      return this.#refuse(401, 'token-invalid', isEnmeshError(err) ? err.message : 'workload token refused', { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(type)) return this.#refuse(415, 'body-type', 'send the request as application/json');
    let body: unknown;
    try {
      body = JSON.parse(await readBodyText(req, MAX_BODY_BYTES));
    } catch (err) {
      return this.#refuse(400, 'body-invalid', `the request body is not JSON of at most ${MAX_BODY_BYTES} bytes: ${(err as Error).message}`);
    }
    const { csr, ttl } = (typeof body === 'object' && body !== null ? body : {}) as { csr?: unknown; ttl?: unknown };
    if (typeof csr !== 'string') return this.#refuse(400, 'body-invalid', 'the body must be { "csr": "<PEM>", "ttl": "1h" (optional) }');
    let ttlMs: number | undefined;
    if (ttl !== undefined) {
      try {
        ttlMs = parseDuration(ttl as string);
      } catch (err) {
        return this.#refuse(400, 'body-invalid', (err as Error).message);
      }
    }
    const check = await checkCsr(csr, identity.spiffeId);
    if (!check.ok) return this.#refuse(check.reason === 'csr-malformed' ? 400 : 403, check.reason, check.message);
    const svid = await this.#ca.issue(check.publicKey, identity.spiffeId, check.rsa, ttlMs);
    this.#log?.info(`CA: issued ${svid.spiffeId} serial ${svid.serial} until ${new Date(svid.notAfter).toISOString()}`);
    return new Reply(200, {
      spiffeId: svid.spiffeId,
      certChainPem: svid.certChainPem,
      bundlePem: svid.bundlePem,
      bundleVersion: this.#ca.bundle().version,
      serial: svid.serial,
      notBefore: new Date(svid.notBefore).toISOString(),
      notAfter: new Date(svid.notAfter).toISOString(),
    });
  }
}
