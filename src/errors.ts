/**
 * One error type for the whole package. Recognise it with {@link isEnmeshError}
 * (a brand property), not `instanceof`: two copies of enmesh in one process must
 * still understand each other's errors.
 */

const BRAND = Symbol.for('enmesh.error');

/** Stable error codes. New codes may be added; existing ones never change meaning. */
export type EnmeshErrorCode =
  | 'ENMESH_ERR_CONFIG_INVALID'
  | 'ENMESH_ERR_CONFIG_READ'
  | 'ENMESH_ERR_INIT'
  | 'ENMESH_ERR_NO_ENDPOINT'
  | 'ENMESH_ERR_TIMEOUT'
  | 'ENMESH_ERR_PER_TRY_TIMEOUT'
  | 'ENMESH_ERR_DEADLINE_EXCEEDED'
  | 'ENMESH_ERR_RETRY_BUDGET'
  | 'ENMESH_ERR_XDS_INVALID'
  | 'ENMESH_ERR_XDS_STREAM'
  | 'ENMESH_ERR_CONTROL_PLANE'
  | 'ENMESH_ERR_REGISTRATION'
  | 'ENMESH_ERR_SPIFFE_ID'
  | 'ENMESH_ERR_CA'
  | 'ENMESH_ERR_CSR_REFUSED'
  | 'ENMESH_ERR_TOKEN'
  | 'ENMESH_ERR_SVID_UNAVAILABLE'
  | 'ENMESH_ERR_PEER_IDENTITY'
  /** A config write was refused because the config changed since it was read (stale expected version). */
  | 'ENMESH_ERR_CONFIG_CONFLICT';

export interface ConfigIssue {
  /** Key path, e.g. `services.reviews.routes[0].backends[1].weight`. */
  readonly path: string;
  /** What is wrong and what to do about it. */
  readonly message: string;
}

export class EnmeshError extends Error {
  readonly code: EnmeshErrorCode;
  /** For config errors: the file the config came from, if any. */
  readonly file?: string;
  /** For config errors: every problem found, each with its key path. */
  readonly issues?: readonly ConfigIssue[];
  readonly [BRAND] = true;

  constructor(
    code: EnmeshErrorCode,
    message: string,
    options?: { cause?: unknown; file?: string; issues?: readonly ConfigIssue[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EnmeshError';
    this.code = code;
    if (options?.file !== undefined) this.file = options.file;
    if (options?.issues !== undefined) this.issues = options.issues;
  }
}

/** True for any enmesh error, whichever copy of the package created it. */
export function isEnmeshError(value: unknown): value is EnmeshError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}
