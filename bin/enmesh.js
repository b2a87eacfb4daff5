#!/usr/bin/env node
// Launcher: the compiled CLI when the package is built (installed packages are
// never type-stripped by Node), else the TypeScript sources (a checkout).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = new URL('../dist/cli/main.js', import.meta.url);
const entry = existsSync(fileURLToPath(dist)) ? dist : new URL('../src/cli/main.ts', import.meta.url);
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
