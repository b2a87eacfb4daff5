/**
 * The admin token: every mutating admin call (POST, PUT, PATCH, DELETE under
 * /api/v1) carries `Authorization: Bearer <token>`. The token comes from the
 * options or ENMESH_ADMIN_TOKEN; without one the control plane makes one at
 * start, logs it once and, when asked, writes it to a file only its owner can
 * read, so scripts on the same machine can pick it up.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { EnmeshError } from '../errors.ts';
import { Reply } from './admin.ts';
import type { AdminGuard } from './admin.ts';

const MUTATING: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Paths with their own credentials (the CA's bootstrap tokens). */
const EXEMPT: ReadonlySet<string> = new Set(['/api/v1/ca/sign']);

export interface AdminTokenSource {
  /** Given by the operator (`--admin-token`). */
  readonly token?: string;
  /** Where to write the token (mode 0600). */
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface ResolvedToken {
  readonly token: string;
  /** True when the control plane made it (and should say so once). */
  readonly generated: boolean;
}

export async function resolveAdminToken(source: AdminTokenSource): Promise<ResolvedToken> {
  const given = source.token ?? (source.env ?? process.env).ENMESH_ADMIN_TOKEN;
  let resolved: ResolvedToken;
  if (given !== undefined && given !== '') {
    if (/\s/.test(given)) {
      throw new EnmeshError('ENMESH_ERR_CONTROL_PLANE', 'the admin token must not contain spaces; generate one with `openssl rand -hex 24`');
    }
    resolved = { token: given, generated: false };
  } else {
    resolved = { token: randomBytes(24).toString('base64url'), generated: true };
  }
  if (source.file !== undefined) {
    try {
      await writeFile(source.file, `${resolved.token}\n`, { mode: 0o600 });
      await chmod(source.file, 0o600); // an existing file keeps its mode on write
    } catch (err) {
      throw new EnmeshError('ENMESH_ERR_CONTROL_PLANE', `cannot write the admin token to ${source.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }
  return resolved;
}

/** The bearer token of a request, if any. */
export function bearerToken(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (h === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return m?.[1];
}

/** A guard refusing mutating /api/v1 calls without the token (401). */
export function adminTokenGuard(token: string): AdminGuard {
  const expected = Buffer.from(token);
  return (req, path) => {
    if (!MUTATING.has(req.method ?? 'GET') || !path.startsWith('/api/v1/') || EXEMPT.has(path)) return undefined;
    const given = bearerToken(req);
    if (given === undefined) {
      return new Reply(401, { error: 'this call changes the mesh: send Authorization: Bearer <admin token> (see --admin-token / ENMESH_ADMIN_TOKEN)' }, { 'www-authenticate': 'Bearer realm="enmesh"' });
    }
    const got = Buffer.from(given);
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      return new Reply(401, { error: 'wrong admin token' }, { 'www-authenticate': 'Bearer realm="enmesh", error="invalid_token"' });
    }
    return undefined;
  };
}

/** The actor named by `x-enmesh-actor` (default "admin"), trimmed to something printable. */
export function actorOf(req: IncomingMessage): string {
  const raw = req.headers['x-enmesh-actor'];
  const v = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (v === undefined || v === '') return 'admin';
  return v.replace(/[^\x20-\x7e]/g, '?').slice(0, 100);
}
