/**
 * The undici interceptor: requests whose origin is a mesh service are run as
 * an OutboundCall; everything else goes straight through (one Map lookup).
 *
 *   const dispatcher = new Agent().compose(mesh.interceptor())
 */
import type { Dispatcher } from 'undici';
import type { MeshRuntime } from '../../runtime/mesh-runtime.ts';
import { OutboundCall } from '../../runtime/outbound-call.ts';

export type DispatchFn = Dispatcher['dispatch'];
export type Interceptor = (dispatch: DispatchFn) => DispatchFn;

export function createMeshInterceptor(runtime: MeshRuntime): Interceptor {
  return (dispatch) =>
    function meshDispatch(opts, handler) {
      const compiled = runtime.compiled;
      if (compiled === undefined) return dispatch(opts, handler);
      const origin = opts.origin;
      const svc = compiled.byOrigin.get(typeof origin === 'string' ? origin : origin === undefined ? '' : origin.origin);
      if (svc === undefined) return dispatch(opts, handler);
      runtime.stats.requests++;
      return new OutboundCall(runtime, compiled, svc, opts, handler, dispatch).start();
    };
}
