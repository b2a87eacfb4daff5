/**
 * When @grpc/grpc-js is loaded. The gRPC hooks patch the application's copy,
 * and loading it for a process that never speaks gRPC would cost that process
 * about 1.5 MB (docs/performance.md, P8), so `init()` installs them at once
 * only when grpc-js is already loaded, and otherwise the moment it is.
 *
 * CommonJS modules go through `Module._load` whether they are required or
 * imported from ECMAScript modules (Node ≥ 22), so one wrapper sees grpc-js's
 * entry point load, by name or by path, and lets go of `_load` afterwards.
 */
import { createRequire } from 'node:module';
import Module from 'node:module';

type Load = (request: string, ...rest: unknown[]) => unknown;
const loader = Module as unknown as { _load: Load };
const cache = createRequire(import.meta.url).cache;

/** grpc-js's entry point, as its copies are named in the module cache and as ECMAScript imports request it. */
const ENTRY = /[\\/]@grpc[\\/]grpc-js[\\/]build[\\/]src[\\/]index\.js$/;

/** The entry point of a copy of grpc-js that is loaded, if any. */
export function loadedGrpcEntry(): string | undefined {
  for (const path of Object.keys(cache)) if (ENTRY.test(path)) return path;
  return undefined;
}

/**
 * Calls `loaded` now if grpc-js is loaded, else once it finishes loading.
 * Returns a function that stops waiting (nothing to do once it was called).
 */
export function whenGrpcLoaded(loaded: () => void): () => void {
  if (loadedGrpcEntry() !== undefined) {
    loaded();
    return () => {};
  }
  const original = loader._load;
  let waiting = true;
  const stop = (): void => {
    if (!waiting) return;
    waiting = false;
    // Someone wrapped _load after us: stay in their chain, as a pass-through.
    if (loader._load === load) loader._load = original;
  };
  function load(this: unknown, request: string, ...rest: unknown[]): unknown {
    const exports = original.apply(this, [request, ...rest] as Parameters<Load>);
    if (waiting && (request === '@grpc/grpc-js' || ENTRY.test(request)) && loadedGrpcEntry() !== undefined) {
      stop();
      loaded();
    }
    return exports;
  }
  loader._load = load;
  return stop;
}
