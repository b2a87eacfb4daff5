import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { EnmeshError } from '../errors.ts';
import type { MeshModel } from '../model/types.ts';
import { parseMeshYaml, readMeshFile } from './load.ts';
import type { LoadOptions } from './load.ts';

export interface WatchMeshFileOptions {
  /** A new, valid model whose version differs from the last one (or follows an error). */
  onModel(model: MeshModel): void;
  /** The file is unreadable or invalid; keep using the previous model. Repeats of the same error are not re-sent. */
  onError(err: unknown): void;
  /** Quiet time after the last change before the file is read. Default 100 ms. */
  debounceMs?: number;
  /**
   * Version of the model the caller already has (from `loadMeshFile`). The
   * watcher reads the file once at start and reports it if it differs, which
   * closes the gap between loading and watching. Without it, that first read
   * only sets the baseline.
   */
  knownVersion?: string;
  /** Size and depth limits passed to the loader. */
  load?: LoadOptions;
}

export interface MeshFileWatcher {
  /** Stops watching; idempotent. No callback runs after it returns. */
  close(): void;
}

/**
 * Watches mesh.yaml for changes. It watches the containing directory, not the
 * file: editors and config-map updaters replace files by rename, which would
 * orphan a watch on the file itself, and a deleted file can come back.
 * Reads are debounced, asynchronous and serialised, so the last write wins.
 * The watcher does not keep the process alive.
 */
export function watchMeshFile(path: string, options: WatchMeshFileOptions): MeshFileWatcher {
  const file = resolve(path);
  const dir = dirname(file);
  const name = basename(file);
  const debounceMs = options.debounceMs ?? 100;

  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  let again = false;
  let lastVersion = options.knownVersion;
  let lastError: string | undefined;
  let sawEmpty = false;

  const emitError = (err: unknown): void => {
    const text = err instanceof Error ? err.message : String(err);
    if (closed || text === lastError) return;
    lastError = text;
    try {
      options.onError(err);
    } catch (thrown) {
      // Surface a throwing handler as an EventEmitter would, not as a lost rejection.
      queueMicrotask(() => {
        throw thrown;
      });
    }
  };

  const check = async (emit: boolean): Promise<void> => {
    let model: MeshModel;
    try {
      const text = await readMeshFile(file, options.load?.maxBytes);
      if (closed) return;
      // An in-place save truncates before it writes: an empty file is most likely
      // caught mid-write, so look once more after another quiet period.
      if (text.trim() === '' && !sawEmpty) {
        sawEmpty = true;
        schedule();
        return;
      }
      sawEmpty = false;
      model = parseMeshYaml(text, file, options.load);
    } catch (err) {
      emitError(err);
      return;
    }
    if (closed) return;
    // After an error, a good file is reported even when its version is unchanged,
    // so the caller can clear its error state.
    if (model.version === lastVersion && lastError === undefined) return;
    lastVersion = model.version;
    lastError = undefined;
    if (!emit) return;
    try {
      options.onModel(model);
    } catch (err) {
      emitError(err);
    }
  };

  const run = async (emit: boolean): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await check(emit);
      while (again && !closed) {
        again = false;
        await check(true);
      }
    } finally {
      running = false;
    }
  };

  const schedule = (): void => {
    if (closed) return;
    clearTimeout(timer);
    timer = setTimeout(() => void run(true), debounceMs);
    timer.unref();
  };

  let watcher: FSWatcher;
  try {
    watcher = watch(dir, { persistent: false }, (_event, changed) => {
      // `..data` and friends: Kubernetes swaps a config map's files by renaming a symlinked directory.
      if (changed === null || changed === name || changed.startsWith('..')) schedule();
    });
  } catch (err) {
    throw new EnmeshError('ENMESH_ERR_CONFIG_READ', `cannot watch ${dir} for changes to ${name}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
      cause: err,
      file,
    });
  }
  watcher.on('error', (err) => {
    emitError(new EnmeshError('ENMESH_ERR_CONFIG_READ', `watching ${dir} failed: ${err.message}; changes to ${name} are no longer seen`, { cause: err, file }));
  });

  // A known version means "tell me if the file already differs"; otherwise just learn the baseline.
  void run(options.knownVersion !== undefined);

  return {
    close(): void {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}
