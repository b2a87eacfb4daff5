/**
 * The undici side of outbound mTLS: a request (an attempt of a mesh call, or
 * any request the application sends straight to a mesh endpoint's address)
 * whose origin is an mTLS endpoint goes to the mesh's mTLS dispatcher, whose
 * connector presents this process's SVID and verifies the server's. fetch,
 * undici and node:http (which dispatches through undici) all pass here.
 *
 * It sits under the mesh interceptor: `dispatch → mtls → mesh`.
 */
import type { MeshMtls } from '../../security/mesh-mtls.ts';
import type { Interceptor } from './interceptor.ts';

export function createMtlsInterceptor(mtls: MeshMtls): Interceptor {
  return (dispatch) =>
    function mtlsDispatch(opts, handler) {
      if (!mtls.active) return dispatch(opts, handler);
      const origin = opts.origin;
      const key = typeof origin === 'string' ? origin : origin === undefined ? '' : origin.origin;
      if (mtls.outboundIdentity(key) === undefined) return dispatch(opts, handler);
      return mtls.dispatcher().dispatch(opts, handler);
    };
}
