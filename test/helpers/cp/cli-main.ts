/**
 * The `enmesh` CLI run from the TypeScript sources, whether or not a build
 * exists (bin/enmesh.js prefers dist/, which may be older than the sources
 * under test): `node --conditions=enmesh-source cli-main.ts control-plane ...`.
 */
import { main } from '../../../src/cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
