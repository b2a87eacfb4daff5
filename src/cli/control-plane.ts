/** `enmesh control-plane`: runs the xDS control plane until SIGINT or SIGTERM. */
import { parseArgs } from 'node:util';
import { consoleLogger } from '../control-plane/log.ts';
import { startControlPlane } from '../control-plane/server.ts';
import type { CliIo, Command } from './io.ts';
import { formatError } from './io.ts';

const HELP = `Usage: enmesh control-plane --config <mesh.yaml> [options]

Serves mesh.yaml (reloaded on every change) and self-registered instances
to enmesh SDKs and gRPC xDS clients over ADS (xDS v3, SotW and delta).

Options:
  -c, --config <path>            mesh config file (default: $ENMESH_CONFIG)
      --xds-port <port>          xDS (ADS) gRPC port, 0 for any free port (default 15010)
      --admin-port <port>        admin HTTP API port, 0 for any free port (default 15000)
      --host <address>           address to bind both ports (default 127.0.0.1)
      --registration-grace <ms>  how long a registered instance outlives its stream (default 2000)
      --startup-hold <ms>        after start, how long the first push waits for services that rely on
                                 registration to get an instance back (default 5000; 0: push at once)
  -h, --help                     show this help
`;

export const controlPlaneCommand: Command = {
  summary: 'run the xDS control plane for a mesh.yaml',
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    let values;
    try {
      ({ values } = parseArgs({
        args: [...argv],
        options: {
          config: { type: 'string', short: 'c' },
          'xds-port': { type: 'string' },
          'admin-port': { type: 'string' },
          host: { type: 'string' },
          'registration-grace': { type: 'string' },
          'startup-hold': { type: 'string' },
          help: { type: 'boolean', short: 'h' },
        },
        strict: true,
        allowPositionals: false,
      }));
    } catch (err) {
      io.stderr(`enmesh control-plane: ${(err as Error).message}\n\n${HELP}`);
      return 2;
    }
    if (values.help === true) {
      io.stdout(HELP);
      return 0;
    }
    const config = values.config ?? process.env.ENMESH_CONFIG;
    if (config === undefined || config === '') {
      io.stderr(`enmesh control-plane: --config <mesh.yaml> is required (or set ENMESH_CONFIG)\n\n${HELP}`);
      return 2;
    }
    let xdsPort: number;
    let adminPort: number;
    let graceMs: number;
    let holdMs: number;
    try {
      xdsPort = parseInteger(values['xds-port'], '--xds-port', 15010, 65535);
      adminPort = parseInteger(values['admin-port'], '--admin-port', 15000, 65535);
      graceMs = parseInteger(values['registration-grace'], '--registration-grace', 2000, 3_600_000);
      holdMs = parseInteger(values['startup-hold'], '--startup-hold', 5000, 600_000);
    } catch (err) {
      io.stderr(`enmesh control-plane: ${(err as Error).message}\n`);
      return 2;
    }
    const host = values.host ?? '127.0.0.1';

    let cp;
    try {
      cp = await startControlPlane({ config, xdsPort, adminPort, host, registrationGraceMs: graceMs, startupHoldMs: holdMs, log: consoleLogger('enmesh control-plane', io.stderr) });
    } catch (err) {
      io.stderr(`enmesh control-plane: ${formatError(err)}\n`);
      return 1;
    }
    const shown = host.includes(':') ? `[${host}]` : host;
    io.stdout(`enmesh control-plane listening: xds ${shown}:${cp.xdsPort}, admin http://${shown}:${cp.adminPort}\n`);
    const signal = await io.waitForSignal();
    io.stderr(`enmesh control-plane: ${signal} received, shutting down\n`);
    await cp.close();
    return 0;
  },
};

function parseInteger(value: string | undefined, flag: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) > max) throw new Error(`${flag} must be an integer from 0 to ${max}, got "${value}"`);
  return Number(value);
}
