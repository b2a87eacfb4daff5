/**
 * The operator commands' client of the control plane's admin API: JSON in and
 * out, the admin token on every call, and failures sorted by what the user
 * does next: the server said no (exit 1, with its message and issues) or the
 * server cannot be reached (exit 3, naming the address and how to point at
 * another one).
 */
import { EnmeshError } from '../errors.ts';
import type { ConfigIssue } from '../errors.ts';
import { UsageError } from './io.ts';

export const DEFAULT_ADMIN = 'http://127.0.0.1:15000';

/** A failed admin call, with the exit code the command ends with. */
export class AdminCallError extends EnmeshError {
  readonly exitCode: 1 | 3;
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;

  constructor(exitCode: 1 | 3, message: string, status?: number, issues?: readonly ConfigIssue[], cause?: unknown) {
    super('ENMESH_ERR_CONTROL_PLANE', message, { ...(issues === undefined ? {} : { issues }), ...(cause === undefined ? {} : { cause }) });
    this.exitCode = exitCode;
    this.status = status;
  }
}

export interface AdminClientOptions {
  /** `http://host:port` of the admin API. */
  readonly server: string;
  readonly token?: string;
  /** Sent as `x-enmesh-actor` (who made the change, in the audit log). */
  readonly actor?: string;
  /** Per call. Default 60 s: a mutation answers once its model is published. */
  readonly timeoutMs?: number;
}

/** The admin address from `--server` or ENMESH_ADMIN, checked; throws a usage message. */
export function adminAddress(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const raw = flag ?? (env.ENMESH_ADMIN !== undefined && env.ENMESH_ADMIN !== '' ? env.ENMESH_ADMIN : DEFAULT_ADMIN);
  const withScheme = /^[a-z]+:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`--server must be an address like http://127.0.0.1:15000, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--server must be an http:// or https:// address, got "${raw}"`);
  return url.origin + url.pathname.replace(/\/+$/, '');
}

export class AdminClient {
  readonly server: string;
  readonly #token: string | undefined;
  readonly #actor: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: AdminClientOptions) {
    this.server = options.server;
    this.#token = options.token;
    this.#actor = options.actor;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>('GET', path);
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#token !== undefined && this.#token !== '') headers.authorization = `Bearer ${this.#token}`;
    if (this.#actor !== undefined && this.#actor !== '') headers['x-enmesh-actor'] = this.#actor;
    let res: Response;
    try {
      res = await fetch(`${this.server}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === 'TimeoutError' ? `no answer within ${Math.round(this.#timeoutMs / 1000)} s` : (e.cause?.code ?? e.cause?.message ?? e.message);
      throw new AdminCallError(
        3,
        `cannot reach the control plane at ${this.server} (${why}). Is \`enmesh control-plane\` running there? Point to another with --server <url> or ENMESH_ADMIN.`,
        undefined,
        undefined,
        err,
      );
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (res.ok) return parsed as T;
    const answer = (parsed ?? {}) as { error?: unknown; issues?: { path?: unknown; message?: unknown }[] };
    // Config errors already name file:line:column in their message; the issues add the key paths.
    const issues: ConfigIssue[] | undefined = Array.isArray(answer.issues)
      ? answer.issues.map((i) => ({ path: String(i.path ?? ''), message: String(i.message ?? '') }))
      : undefined;
    let message = typeof answer.error === 'string' ? answer.error : `${res.status} ${res.statusText}${text === '' ? '' : `: ${text.slice(0, 300)}`}`;
    if (res.status === 401) message += '. Give the admin token with --token <token> or ENMESH_ADMIN_TOKEN (the control plane logs it at start, or writes it to --admin-token-file).';
    if (res.status === 404 && typeof answer.error === 'string' && answer.error.startsWith('no such endpoint')) {
      message += ` (is ${this.server} an enmesh control plane of this version?)`;
    }
    throw new AdminCallError(1, message, res.status, issues);
  }
}
