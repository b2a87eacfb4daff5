/**
 * The audit log of operator actions: who changed what, when, the diff, and
 * whether it was applied or rejected (with why). Kept in memory, bounded, for
 * `GET /api/v1/audit`; also appended as JSON lines to a file when configured,
 * so the record outlives the process.
 */
import { appendFile, chmod, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from './log.ts';
import { silentLogger } from './log.ts';

export interface AuditEntry {
  /** Increasing per process. */
  readonly id: number;
  /** ISO time. */
  readonly at: string;
  readonly actor: string;
  /** `config.put`, `route.weights`, `route.fault`, `service.rate-limit`, `endpoint.drain`, `rollback`, `canary.*`... */
  readonly action: string;
  /** What was acted on, e.g. `reviews/routes/default`. */
  readonly target: string;
  /** The config version the change produced (applied), or the one in force (rejected). */
  readonly version: string | null;
  /** Unified diff of mesh.yaml; empty for changes outside the file (drain) or none. */
  readonly diff: string;
  readonly result: 'applied' | 'rejected';
  readonly error?: string;
}

export type AuditInput = Omit<AuditEntry, 'id' | 'at'>;

/** Longest diff kept per entry: 500 entries of whole-config rewrites must not hold hundreds of MB. */
export const MAX_AUDIT_DIFF_CHARS = 64 * 1024;

export interface AuditLogOptions {
  /** Entries kept in memory. Default 500. */
  readonly limit?: number;
  /** JSON-lines file every entry is appended to. */
  readonly file?: string;
  readonly log?: Logger;
}

export class AuditLog {
  readonly #entries: AuditEntry[] = [];
  readonly #limit: number;
  readonly #file: string | undefined;
  readonly #log: Logger;
  readonly #listeners = new Set<(entry: AuditEntry) => void>();
  #nextId = 1;
  /** Appends in order, one at a time (after the file is made ready). */
  #writing: Promise<void> = Promise.resolve();

  constructor(options: AuditLogOptions = {}) {
    this.#limit = Math.max(1, options.limit ?? 500);
    this.#file = options.file;
    this.#log = options.log ?? silentLogger;
    const file = this.#file;
    // At start, not at the first entry: a kept log must not stay readable by others meanwhile.
    if (file !== undefined) {
      this.#writing = openAuditFile(file).catch((err: unknown) => this.#log.error(`cannot restrict audit log ${file} to its owner: ${(err as Error).message}`));
    }
  }

  record(input: AuditInput): AuditEntry {
    const diff = input.diff.length <= MAX_AUDIT_DIFF_CHARS ? input.diff : `${input.diff.slice(0, MAX_AUDIT_DIFF_CHARS)}\n… diff cut at ${MAX_AUDIT_DIFF_CHARS} of ${input.diff.length} characters\n`;
    const entry: AuditEntry = Object.freeze({ id: this.#nextId++, at: new Date().toISOString(), ...input, diff });
    this.#entries.push(entry);
    if (this.#entries.length > this.#limit) this.#entries.shift();
    if (this.#file !== undefined) {
      const file = this.#file;
      const line = `${JSON.stringify(entry)}\n`;
      this.#writing = this.#writing
        .then(() => appendFile(file, line, { mode: 0o600 }))
        .catch((err: unknown) => this.#log.error(`cannot append to audit log ${file}: ${(err as Error).message}`));
    }
    for (const l of this.#listeners) l(entry);
    return entry;
  }

  /** Newest first. */
  list(): AuditEntry[] {
    return this.#entries.slice().reverse();
  }

  onEntry(listener: (entry: AuditEntry) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves once every entry so far is in the file. */
  flush(): Promise<void> {
    return this.#writing;
  }
}

/**
 * The audit log's directory made, and an existing file narrowed to 0600:
 * appendFile's mode applies only to a file it creates, and a log kept from an
 * earlier run (or made by hand) may be readable by others.
 */
async function openAuditFile(file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true }).catch(() => undefined);
  try {
    await chmod(file, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
