/** `enmesh control-plane`: runs the xDS control plane until SIGINT or SIGTERM. */
import { parseArgs } from 'node:util';
import { consoleLogger } from '../control-plane/log.ts';
import { startControlPlane } from '../control-plane/server.ts';
import { MIN_SVID_TTL_MS } from '../control-plane/ca/authority.ts';
import { DEFAULT_STREAM_ADMISSION, MAX_ADMISSION_FLOOR, MAX_ADMISSION_RATIO } from '../control-plane/stream-admission.ts';
import { parseDuration } from '../config/duration.ts';
import type { CliIo, Command } from './io.ts';
import { formatError } from './io.ts';

const HELP = `Usage: enmesh control-plane --config <mesh.yaml> [options]

Serves mesh.yaml (reloaded on every change) and self-registered instances
to enmesh SDKs and gRPC xDS clients over ADS (xDS v3, SotW and delta).

Options:
  -c, --config <path>            mesh config file, or consul-kv://<key> to read it from Consul KV
                                 (default: $ENMESH_CONFIG)
      --consul <url>             Consul agent (http://127.0.0.1:8500): catalog instances become endpoints,
                                 registrations are written through (default: $ENMESH_CONSUL)
      --consul-token <token>     Consul ACL token (default: $ENMESH_CONSUL_TOKEN)
      --consul-dc <dc,...>       datacenters to read, each a locality zone (default: the agent's)
      --consul-consistency <m>   default, stale or consistent reads (default: default)
      --consul-accept-warning    instances with warning checks get traffic too
      --xds-port <port>          xDS (ADS) gRPC port, 0 for any free port (default 15010)
      --admin-port <port>        admin HTTP API port, 0 for any free port (default 15000)
      --host <address>           address to bind both ports (default 127.0.0.1)
      --registration-grace <ms>  how long a registered instance outlives its stream (default 2000)
      --startup-hold <ms>        after start, how long the first push waits for services that rely on
                                 registration to get an instance back (default 5000; 0: push at once;
                                 runs on while new streams are being paced, up to 3 times as long)
      --xds-admission-floor <n>  new xDS streams admitted per second however few are connected; the rest
                                 end with UNAVAILABLE and retry on their backoff (default 20; 0: no pacing)
      --xds-admission-ratio <r>  once more are connected, admit up to this share of them per second
                                 (default 0.2: 1000 connected streams admit 200 new ones per second)
      --admin-token <token>      token for mutating admin API calls (default: $ENMESH_ADMIN_TOKEN; else one
                                 is generated and logged once)
      --admin-token-file <path>  also write the admin token to this file (mode 0600)
      --audit-log <path>         append every operator action to this file as JSON lines
      --ca-dir <dir>             CA directory: ca-cert.pem + ca-key.pem (+ bundle.pem) are used when present,
                                 else a root is generated and kept there; token-key.pem signs workload
                                 tokens (default: a root in memory, new at every start)
      --ca-cert <path>           operator CA certificate (root or intermediate, with its chain); needs --ca-key
      --ca-key <path>            its private key (PEM)
      --ca-bundle <path>         extra roots to publish in the trust bundle
      --ca-ttl <duration>        SVID lifetime, the most a workload may ask for (default 24h; e.g. 1h, 10m)
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
          'xds-admission-floor': { type: 'string' },
          'xds-admission-ratio': { type: 'string' },
          consul: { type: 'string' },
          'consul-token': { type: 'string' },
          'consul-dc': { type: 'string' },
          'consul-consistency': { type: 'string' },
          'consul-accept-warning': { type: 'boolean' },
          'admin-token': { type: 'string' },
          'admin-token-file': { type: 'string' },
          'audit-log': { type: 'string' },
          'ca-dir': { type: 'string' },
          'ca-cert': { type: 'string' },
          'ca-key': { type: 'string' },
          'ca-bundle': { type: 'string' },
          'ca-ttl': { type: 'string' },
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
    let admissionFloor: number;
    let admissionRatio: number;
    try {
      xdsPort = parseInteger(values['xds-port'], '--xds-port', 15010, 65535);
      adminPort = parseInteger(values['admin-port'], '--admin-port', 15000, 65535);
      graceMs = parseInteger(values['registration-grace'], '--registration-grace', 2000, 3_600_000);
      holdMs = parseInteger(values['startup-hold'], '--startup-hold', 5000, 600_000);
      admissionFloor = parseInteger(values['xds-admission-floor'], '--xds-admission-floor', DEFAULT_STREAM_ADMISSION.floor, MAX_ADMISSION_FLOOR);
      admissionRatio = parseRatio(values['xds-admission-ratio'], '--xds-admission-ratio', DEFAULT_STREAM_ADMISSION.ratio, MAX_ADMISSION_RATIO);
    } catch (err) {
      io.stderr(`enmesh control-plane: ${(err as Error).message}\n`);
      return 2;
    }
    const host = values.host ?? '127.0.0.1';
    const consulAddress = values.consul ?? process.env.ENMESH_CONSUL;
    const consistency = (values['consul-consistency'] ?? 'default') as 'default' | 'stale' | 'consistent';
    if (consistency !== 'default' && consistency !== 'stale' && consistency !== 'consistent') {
      io.stderr(`enmesh control-plane: --consul-consistency must be default, stale or consistent, got "${consistency}"\n`);
      return 2;
    }
    if (consulAddress === undefined || consulAddress === '') {
      // Without an agent to read from these would be dropped without a word.
      const orphan = (['consul-token', 'consul-dc', 'consul-consistency', 'consul-accept-warning'] as const).find((k) => values[k] !== undefined);
      if (orphan !== undefined) {
        io.stderr(`enmesh control-plane: --${orphan} needs --consul <url> (or $ENMESH_CONSUL), the Consul agent to read from\n`);
        return 2;
      }
    }
    const consulToken = values['consul-token'] ?? process.env.ENMESH_CONSUL_TOKEN;
    const datacenters = (values['consul-dc'] ?? '').split(',').map((d) => d.trim()).filter(Boolean);
    const consul =
      consulAddress === undefined || consulAddress === ''
        ? undefined
        : {
            address: consulAddress,
            consistency,
            ...(consulToken ? { token: consulToken } : {}),
            ...(datacenters.length > 0 ? { datacenters } : {}),
            ...(values['consul-accept-warning'] === true ? { acceptWarning: true } : {}),
          };

    const operatorOptions = {
      ...(values['admin-token'] === undefined ? {} : { adminToken: values['admin-token'] }),
      ...(values['admin-token-file'] === undefined ? {} : { adminTokenFile: values['admin-token-file'] }),
      ...(values['audit-log'] === undefined ? {} : { auditLog: values['audit-log'] }),
    };

    let svidTtlMs: number | undefined;
    if (values['ca-ttl'] !== undefined) {
      try {
        svidTtlMs = parseDuration(values['ca-ttl']);
      } catch {
        svidTtlMs = Number.NaN;
      }
      if (!(svidTtlMs >= MIN_SVID_TTL_MS)) {
        io.stderr(`enmesh control-plane: --ca-ttl must be a duration of at least 1s, like 24h or 10m, got "${values['ca-ttl']}"\n`);
        return 2;
      }
    }
    if ((values['ca-cert'] === undefined) !== (values['ca-key'] === undefined)) {
      io.stderr('enmesh control-plane: --ca-cert and --ca-key go together (the CA certificate and its private key)\n');
      return 2;
    }
    const ca = {
      ...(values['ca-dir'] === undefined ? {} : { dir: values['ca-dir'] }),
      ...(values['ca-cert'] === undefined ? {} : { certFile: values['ca-cert'] }),
      ...(values['ca-key'] === undefined ? {} : { keyFile: values['ca-key'] }),
      ...(values['ca-bundle'] === undefined ? {} : { bundleFile: values['ca-bundle'] }),
      ...(svidTtlMs === undefined ? {} : { svidTtlMs }),
    };

    let cp;
    try {
      cp = await startControlPlane({ config, xdsPort, adminPort, host, registrationGraceMs: graceMs, startupHoldMs: holdMs, xdsAdmission: { floor: admissionFloor, ratio: admissionRatio }, ...(consul === undefined ? {} : { consul }), ...operatorOptions, ca, log: consoleLogger('enmesh control-plane', io.stderr) });
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

function parseRatio(value: string | undefined, flag: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n > max) throw new Error(`${flag} must be a number from 0 to ${max}, like 0.2, got "${value}"`);
  return n;
}
