/**
 * `node --import enmesh/register app.js`: starts the mesh from `ENMESH_*`
 * environment variables before the application's first line runs.
 */
import { init } from './mesh.ts';

await init();
