import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const root = new URL('../../..', import.meta.url).pathname;
const watch = new URL('./load-watch.ts', import.meta.url).pathname;

/** Runs `body` as a module in a fresh process (this worker may have loaded grpc-js already). */
async function fresh(body: string): Promise<unknown> {
  const script = `import Module from 'node:module';\nimport { whenGrpcLoaded, loadedGrpcEntry } from ${JSON.stringify(watch)};\n${body}`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root, timeout: 20_000 });
  return JSON.parse(stdout.trim());
}

it('calls back once grpc-js finished loading, by import or require, and lets go of Module._load', async () => {
  const result = await fresh(`
const original = Module._load;
let calls = 0;
let sawExports = false;
whenGrpcLoaded(() => {
  calls++;
  sawExports = typeof Module.createRequire(process.cwd() + '/index.js')('@grpc/grpc-js').Server === 'function';
});
const wrapped = Module._load !== original;
const before = { calls, entry: loadedGrpcEntry() };
await import('node:http');
await import('@grpc/grpc-js');
Module.createRequire(process.cwd() + '/index.js')('@grpc/grpc-js');
console.log(JSON.stringify({ wrapped, before, calls, sawExports, restored: Module._load === original, entry: typeof loadedGrpcEntry() }));
`);
  expect(result).toEqual({ wrapped: true, before: { calls: 0 }, calls: 1, sawExports: true, restored: true, entry: 'string' });
});

it('calls back at once when grpc-js is already loaded, and stopping before the load means never', async () => {
  const result = await fresh(`
const original = Module._load;
let stoppedCalls = 0;
const stop = whenGrpcLoaded(() => stoppedCalls++);
stop();
const restored = Module._load === original;
await import('@grpc/grpc-js');
let lateCalls = 0;
whenGrpcLoaded(() => lateCalls++);
console.log(JSON.stringify({ restored, stoppedCalls, lateCalls, untouched: Module._load === original }));
`);
  expect(result).toEqual({ restored: true, stoppedCalls: 0, lateCalls: 1, untouched: true });
});
