/**
 * `enmesh <command> [options]`. Each command lives in its own file and
 * returns an exit code: 0 success, 1 failure, 2 usage error, 3 control plane
 * unreachable (operator commands).
 */
import { tokenCommand } from '../control-plane/ca/token-command.ts';
import { canaryCommand } from './canary.ts';
import { applyCommand, diffCommand, validateCommand } from './config-commands.ts';
import { controlPlaneCommand } from './control-plane.ts';
import { getCommand } from './get.ts';
import type { CliIo, Command } from './io.ts';
import { processIo } from './io.ts';
import { rollbackCommand } from './rollback.ts';
import { statusCommand } from './status.ts';

const COMMANDS: ReadonlyMap<string, Command> = new Map([
  ['control-plane', controlPlaneCommand],
  ['status', statusCommand],
  ['get', getCommand],
  ['validate', validateCommand],
  ['diff', diffCommand],
  ['apply', applyCommand],
  ['rollback', rollbackCommand],
  ['canary', canaryCommand],
  ['token', tokenCommand],
]);

function usage(): string {
  const lines = ['Usage: enmesh <command> [options]', '', 'Commands:'];
  for (const [name, cmd] of COMMANDS) lines.push(`  ${name.padEnd(16)} ${cmd.summary}`);
  lines.push('', 'Run `enmesh <command> --help` for the options of a command.');
  return `${lines.join('\n')}\n`;
}

export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    if (name === 'help' && rest[0] !== undefined && COMMANDS.has(rest[0])) return COMMANDS.get(rest[0])!.run(['--help'], io);
    io.stdout(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS.get(name);
  if (command === undefined) {
    io.stderr(`enmesh: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  return command.run(rest, io);
}
