/**
 * Workload credentials: how a process proves to the CA which service it is
 * before it gets an SVID. The operator mints one JWT per service
 * (`enmesh token create --service reviews`) and hands it to the workload as
 * a secret (`ENMESH_TOKEN`).
 *
 * The token is ES256-signed with a key the CA holds (a PKCS#8 PEM file,
 * `token-key.pem` in the CA directory), explicitly typed
 * (`typ: enmesh-svid-token+jwt`, RFC 8725 §3.11) so no other JWT signed by
 * any key can stand in for it, with `iss` = `aud` = `enmesh-ca:<trustDomain>`,
 * `sub` = the service name, and `exp`, `iat`, `jti`. Verification pins the
 * algorithm, the type and every claim.
 */
import { createPrivateKey, createPublicKey, randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SignJWT, jwtVerify, errors as joseErrors, exportPKCS8, generateKeyPair as joseGenerateKeyPair } from 'jose';
import { EnmeshError } from '../../errors.ts';
import { serviceSpiffeId } from '../../security/spiffe-id.ts';

export const TOKEN_TYPE = 'enmesh-svid-token+jwt';
export const TOKEN_ALGORITHM = 'ES256';
export const DEFAULT_TOKEN_TTL_MS = 24 * 3600_000;
export const MAX_TOKEN_TTL_MS = 366 * 24 * 3600_000;
/** Tolerated clock difference between the operator's machine and the CA. */
const CLOCK_TOLERANCE_S = 30;
/** Longest token accepted at all; ours are ~400 chars. */
const MAX_TOKEN_LENGTH = 4096;

/** The `iss` and `aud` of tokens for the CA of `trustDomain`. */
export function tokenAudience(trustDomain: string): string {
  return `enmesh-ca:${trustDomain}`;
}

export interface VerifiedToken {
  readonly service: string;
  readonly spiffeId: string;
  readonly expiresAt: number;
  readonly tokenId: string;
}

export class TokenSigner {
  readonly trustDomain: string;
  readonly #key: KeyObject;

  constructor(trustDomain: string, privateKey: KeyObject) {
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new EnmeshError('ENMESH_ERR_TOKEN', 'the token signing key must be an EC P-256 private key');
    }
    this.trustDomain = trustDomain;
    this.#key = privateKey;
  }

  static fromPem(trustDomain: string, pem: string): TokenSigner {
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch (err) {
      throw new EnmeshError('ENMESH_ERR_TOKEN', `the token signing key is not a PEM private key: ${(err as Error).message}`);
    }
    return new TokenSigner(trustDomain, key);
  }

  /** Reads the key from `file`; throws `ENMESH_ERR_TOKEN` naming the file when it can't. */
  static async fromFile(trustDomain: string, file: string): Promise<TokenSigner> {
    let pem: string;
    try {
      pem = await readFile(file, 'utf8');
    } catch (err) {
      throw new EnmeshError('ENMESH_ERR_TOKEN', `cannot read the token signing key ${file}: ${(err as Error).message}`);
    }
    return TokenSigner.fromPem(trustDomain, pem);
  }

  /** A signer with a new key that lives only in this process. */
  static async generate(trustDomain: string): Promise<TokenSigner> {
    const { privateKey } = await joseGenerateKeyPair(TOKEN_ALGORITHM, { extractable: true });
    return TokenSigner.fromPem(trustDomain, await exportPKCS8(privateKey));
  }

  /** The key in `file`, or a new one written there (mode 0600) when the file does not exist. */
  static async loadOrCreate(trustDomain: string, file: string): Promise<TokenSigner> {
    try {
      return TokenSigner.fromPem(trustDomain, await readFile(file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const { privateKey } = await joseGenerateKeyPair(TOKEN_ALGORITHM, { extractable: true });
    const pem = await exportPKCS8(privateKey);
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(file, pem, { mode: 0o600, flag: 'wx' });
    return TokenSigner.fromPem(trustDomain, pem);
  }

  verifier(): TokenVerifier {
    return new TokenVerifier(this.trustDomain, createPublicKey(this.#key));
  }

  /** A credential for `service`, valid for `ttlMs` (default 24 h). */
  async mint(service: string, ttlMs = DEFAULT_TOKEN_TTL_MS, now = Date.now()): Promise<string> {
    serviceSpiffeId(this.trustDomain, service); // throws for a name that can't be an identity
    if (!(ttlMs >= 1000 && ttlMs <= MAX_TOKEN_TTL_MS)) {
      throw new EnmeshError('ENMESH_ERR_TOKEN', `token lifetime must be from 1s to 366 days, got ${ttlMs} ms`);
    }
    const iat = Math.floor(now / 1000);
    const aud = tokenAudience(this.trustDomain);
    return new SignJWT({})
      .setProtectedHeader({ alg: TOKEN_ALGORITHM, typ: TOKEN_TYPE })
      .setIssuer(aud)
      .setAudience(aud)
      .setSubject(service)
      .setIssuedAt(iat)
      .setExpirationTime(iat + Math.ceil(ttlMs / 1000))
      .setJti(randomUUID())
      .sign(this.#key);
  }
}

export class TokenVerifier {
  readonly trustDomain: string;
  readonly #key: KeyObject;

  constructor(trustDomain: string, publicKey: KeyObject) {
    this.trustDomain = trustDomain;
    this.#key = publicKey;
  }

  /** The service `token` stands for. Throws `ENMESH_ERR_TOKEN` with the reason when it is not acceptable. */
  async verify(token: string, now = Date.now()): Promise<VerifiedToken> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw new EnmeshError('ENMESH_ERR_TOKEN', 'missing or oversized workload token');
    }
    const aud = tokenAudience(this.trustDomain);
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        algorithms: [TOKEN_ALGORITHM],
        typ: TOKEN_TYPE,
        issuer: aud,
        audience: aud,
        requiredClaims: ['sub', 'exp', 'iat', 'jti'],
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(now),
      }));
    } catch (err) {
      const why = err instanceof joseErrors.JOSEError ? `${err.code}: ${err.message}` : String(err);
      throw new EnmeshError('ENMESH_ERR_TOKEN', `workload token refused (${why})`);
    }
    const service = payload.sub!;
    let spiffeId: string;
    try {
      spiffeId = serviceSpiffeId(this.trustDomain, service);
    } catch {
      throw new EnmeshError('ENMESH_ERR_TOKEN', `workload token names "${service}", which is not a service name`);
    }
    return { service, spiffeId, expiresAt: payload.exp! * 1000, tokenId: String(payload.jti) };
  }
}
