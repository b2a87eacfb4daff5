/**
 * What every operator command shares: the common flags (--server, --token,
 * --output, --help), usage errors (exit 2), and turning a failure into its
 * message and exit code (1: refused or invalid, 3: control plane unreachable).
 */
import { parseArgs } from 'node:util';
import { isEnmeshError } from '../errors.ts';
import { AdminCallError, AdminClient, adminAddress } from './admin-client.ts';
import type { CliIo, Command } from './io.ts';
import { UsageError, formatError } from './io.ts';
import { styleFor } from './output.ts';
import type { Style } from './output.ts';

type OptionConfig = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };

export const COMMON_HELP = `Common options:
  -s, --server <url>       admin API of the control plane (default: $ENMESH_ADMIN or http://127.0.0.1:15000)
      --token <token>      admin token for changes (default: $ENMESH_ADMIN_TOKEN)
  -o, --output <format>    table (default) or json
  -h, --help               show this help

Exit codes: 0 done, 1 refused or invalid, 2 usage error, 3 control plane unreachable.
`;

const COMMON_OPTIONS: Readonly<Record<string, OptionConfig>> = {
  server: { type: 'string', short: 's' },
  token: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
};

export { UsageError };

export interface Invocation {
  readonly io: CliIo;
  readonly values: Readonly<Record<string, string | boolean | (string | boolean)[] | undefined>>;
  readonly positionals: readonly string[];
  /** `--output json`. */
  readonly json: boolean;
  readonly style: Style;
  /** The admin client for --server/--token (created on first use). */
  client(): AdminClient;
  str(name: string): string | undefined;
  flag(name: string): boolean;
}

export interface OperatorCommandSpec {
  /** As typed after `enmesh`, e.g. `get` or `canary`. */
  readonly name: string;
  readonly summary: string;
  /** Usage and command options; the common options are appended. */
  readonly help: string;
  readonly options?: Readonly<Record<string, OptionConfig>>;
  /** Without the common options block (offline commands). */
  readonly offline?: boolean;
  run(inv: Invocation): Promise<number>;
}

export function operatorCommand(spec: OperatorCommandSpec): Command {
  const help = spec.offline === true ? spec.help : `${spec.help}\n${COMMON_HELP}`;
  return {
    summary: spec.summary,
    async run(argv, io) {
      const prefix = `enmesh ${spec.name}`;
      let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
      let positionals: string[];
      try {
        ({ values, positionals } = parseArgs({ args: [...argv], options: { ...COMMON_OPTIONS, ...spec.options }, strict: true, allowPositionals: true }));
      } catch (err) {
        io.stderr(`${prefix}: ${(err as Error).message}\nRun \`enmesh ${spec.name} --help\` for usage.\n`);
        return 2;
      }
      if (values.help === true) {
        io.stdout(help);
        return 0;
      }
      const output = (values.output as string | undefined) ?? 'table';
      if (output !== 'table' && output !== 'json') {
        io.stderr(`${prefix}: --output must be table or json, got "${output}"\n`);
        return 2;
      }
      let client: AdminClient | undefined;
      const inv: Invocation = {
        io,
        values,
        positionals,
        json: output === 'json',
        style: styleFor(io),
        client() {
          if (client !== undefined) return client;
          const server = adminAddress(values.server as string | undefined);
          const token = (values.token as string | undefined) ?? process.env.ENMESH_ADMIN_TOKEN;
          const actor = process.env.ENMESH_ACTOR ?? process.env.USER;
          client = new AdminClient({ server, ...(token === undefined ? {} : { token }), ...(actor === undefined ? {} : { actor }) });
          return client;
        },
        str: (name) => values[name] as string | undefined,
        flag: (name) => values[name] === true,
      };
      try {
        return await spec.run(inv);
      } catch (err) {
        return report(prefix, spec.name, err, io);
      }
    },
  };
}

function report(prefix: string, name: string, err: unknown, io: CliIo): number {
  if (err instanceof UsageError) {
    io.stderr(`${prefix}: ${err.message}\nRun \`enmesh ${name} --help\` for usage.\n`);
    return 2;
  }
  if (err instanceof AdminCallError) {
    const lines = [`${prefix}: ${err.message}`];
    for (const i of err.issues ?? []) if (!err.message.includes(i.message)) lines.push(`  - ${i.path === '' ? '(document)' : i.path}: ${i.message}`);
    io.stderr(`${lines.join('\n')}\n`);
    return err.exitCode;
  }
  io.stderr(`${prefix}: ${isEnmeshError(err) ? formatError(err) : err instanceof Error ? err.message : String(err)}\n`);
  return 1;
}

/** A share from a percentage (`1%`) or a fraction (`0.01`). */
export function parsePercentFlag(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(value.trim());
  if (m === null) throw new UsageError(`${flag} must be a percentage like 1% or a share like 0.01, got "${value}"`);
  const n = Number(m[1]);
  const share = m[2] === '%' ? n / 100 : n;
  if (!(share >= 0 && share < 1)) throw new UsageError(`${flag} must be below 100%, got "${value}"`);
  return share;
}
