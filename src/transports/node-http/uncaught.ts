/**
 * An application's exception, caught where the mesh called into its code
 * (an event listener, a request handler), raised where Node would have
 * raised it: as an uncaught exception, not into the mesh's own machinery
 * (an upstream request it would abort, a promise it would reject).
 */
export function throwUncaught(err: unknown): void {
  process.nextTick(() => {
    throw err;
  });
}
