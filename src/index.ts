/**
 * enmesh: an in-process service mesh for Node.js.
 *
 *   import { init } from 'enmesh';
 *   const mesh = await init({ service: { name: 'productpage', port: 9080 }, config: './mesh.yaml' });
 *
 * @packageDocumentation
 */
export { init, Mesh } from './mesh.ts';
export type { MeshEvents } from './mesh.ts';
export type { InitOptions } from './init-options.ts';
export { EnmeshError, isEnmeshError } from './errors.ts';
export type { EnmeshErrorCode, ConfigIssue } from './errors.ts';
export type { Interceptor } from './transports/undici/interceptor.ts';
export { parseMeshYaml, loadMeshFile } from './config/load.ts';
export { TIMEOUT_HEADER } from './policy/deadline.ts';
export { RESPONSE_FLAGS_HEADER, ResponseFlags } from './policy/response-flags.ts';
export type * from './model/types.ts';
