/**
 * Where the control plane's mesh.yaml lives, for the admin API's mutations:
 * read the current text, write a new one. Watching stays with the source's
 * own watcher (config/watch.ts for a file): a write is picked up and published
 * the same way a hand edit is.
 *
 * `version` is the store's own token for optimistic concurrency (a content
 * hash for a file, ModifyIndex for Consul KV); `write(text, { expected })`
 * refuses with ENMESH_ERR_CONFIG_CONFLICT when the stored config is no longer
 * at that version.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { EnmeshError, isEnmeshError } from '../errors.ts';
import { readMeshFile } from '../config/load.ts';

export interface StoredConfig {
  readonly text: string;
  /** Store version of this text; absent when the store has none. */
  readonly version?: string;
}

export interface ConfigStore {
  /** `file` or `consul-kv`, as GET /api/v1/config reports it. */
  readonly source: 'file' | 'consul-kv';
  /** Path or URL of the config, for messages. */
  readonly location: string;
  read(): Promise<StoredConfig>;
  /** Replaces the config; with `expected`, only if the store is still at that version. Resolves with the new store version. */
  write(text: string, options?: { readonly expected?: string }): Promise<{ readonly version?: string }>;
}

/** The error a store throws when `expected` is stale. */
export function configConflict(location: string, expected: string, actual: string | undefined): EnmeshError {
  return new EnmeshError(
    'ENMESH_ERR_CONFIG_CONFLICT',
    `${location} changed since version ${expected} was read (now ${actual ?? 'unknown'}); read it again and reapply your change`,
    { file: location },
  );
}

export function isConfigConflict(err: unknown): boolean {
  return isEnmeshError(err) && err.code === 'ENMESH_ERR_CONFIG_CONFLICT';
}

/** Short content hash: the file store's version. */
export function textVersion(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/**
 * mesh.yaml on disk. Writes go to a temporary file in the same directory and
 * are renamed over the original, so readers (the watcher, an editor, the SDK
 * in file mode) never see half a file; the file's mode is kept.
 */
export class FileConfigStore implements ConfigStore {
  readonly source = 'file' as const;
  readonly location: string;
  /** Writes are serialised so `expected` checks and renames never interleave. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(path: string) {
    this.location = resolve(path);
  }

  async read(): Promise<StoredConfig> {
    const text = await readMeshFile(this.location);
    return { text, version: textVersion(text) };
  }

  write(text: string, options: { readonly expected?: string } = {}): Promise<{ readonly version?: string }> {
    const run = this.#queue.then(() => this.#write(text, options.expected));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #write(text: string, expected: string | undefined): Promise<{ readonly version?: string }> {
    if (expected !== undefined) {
      const current = await this.read().catch((err: unknown) => {
        if (isEnmeshError(err) && err.code === 'ENMESH_ERR_CONFIG_READ') return undefined;
        throw err;
      });
      if (current?.version !== expected) throw configConflict(this.location, expected, current?.version);
    }
    const dir = dirname(this.location);
    const tmp = join(dir, `.${basename(this.location)}.${randomBytes(6).toString('hex')}.tmp`);
    let mode = 0o644;
    try {
      mode = (await stat(this.location)).mode & 0o777;
    } catch {
      // A new file: default mode.
    }
    try {
      const handle = await open(tmp, 'wx', mode);
      try {
        await handle.writeFile(text, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      // open() applied the umask (0664 would come out 0644): set the old mode exactly.
      await chmod(tmp, mode);
      await rename(tmp, this.location);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new EnmeshError('ENMESH_ERR_CONFIG_READ', `cannot write mesh config ${this.location}: ${reason}; check that its directory is writable`, {
        cause: err,
        file: this.location,
      });
    }
    return { version: textVersion(text) };
  }
}
