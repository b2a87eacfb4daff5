/** `enmesh token create`: mints a workload token with the CA's token key. */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CliIo, Command } from '../../cli/io.ts';
import { formatError } from '../../cli/io.ts';
import { loadMeshFile } from '../../config/load.ts';
import { parseDuration } from '../../config/duration.ts';
import { isTrustDomain } from '../../security/spiffe-id.ts';
import { TOKEN_KEY_FILE } from './service.ts';
import { DEFAULT_TOKEN_TTL_MS, TokenSigner } from './tokens.ts';

const HELP = `Usage: enmesh token create --service <name> [options]

Prints a token that lets a workload of <name> get its SVID from the
control plane's CA (give it to the workload as ENMESH_TOKEN). Anyone
holding the token can obtain certificates for <name> until it expires:
keep it as secret as a password.

Options:
  -s, --service <name>           the service the token stands for (required)
      --ttl <duration>           lifetime, e.g. 1h, 24h, 720h (default 24h)
      --ca-dir <dir>             the control plane's CA directory (default: $ENMESH_CA_DIR)
      --key <file>               the token signing key (default: <ca-dir>/${TOKEN_KEY_FILE})
      --trust-domain <domain>    the mesh trust domain (default: read from --config)
  -c, --config <mesh.yaml>       mesh config to read the trust domain from (default: $ENMESH_CONFIG)
  -h, --help                     show this help
`;

export const tokenCommand: Command = {
  summary: 'create a workload token for the CA (token create --service <name>)',
  async run(argv: readonly string[], io: CliIo): Promise<number> {
    const usage = (message: string): number => {
      io.stderr(`enmesh token: ${message}\n\n${HELP}`);
      return 2;
    };
    let values;
    let positionals;
    try {
      ({ values, positionals } = parseArgs({
        args: [...argv],
        options: {
          service: { type: 'string', short: 's' },
          ttl: { type: 'string' },
          'ca-dir': { type: 'string' },
          key: { type: 'string' },
          'trust-domain': { type: 'string' },
          config: { type: 'string', short: 'c' },
          help: { type: 'boolean', short: 'h' },
        },
        strict: true,
        allowPositionals: true,
      }));
    } catch (err) {
      return usage((err as Error).message);
    }
    if (values.help === true) {
      io.stdout(HELP);
      return 0;
    }
    if (positionals.length !== 1 || positionals[0] !== 'create') return usage(`expected the subcommand "create", got ${positionals.join(' ') || 'nothing'}`);
    if (values.service === undefined) return usage('--service <name> is required');
    let ttlMs = DEFAULT_TOKEN_TTL_MS;
    if (values.ttl !== undefined) {
      try {
        ttlMs = parseDuration(values.ttl);
      } catch (err) {
        return usage(`--ttl: ${(err as Error).message}`);
      }
    }
    const caDir = values['ca-dir'] ?? process.env.ENMESH_CA_DIR;
    const keyFile = values.key ?? (caDir === undefined || caDir === '' ? undefined : join(caDir, TOKEN_KEY_FILE));
    if (keyFile === undefined) return usage('say where the token key is: --key <file> or --ca-dir <dir> (or set ENMESH_CA_DIR)');

    try {
      let trustDomain = values['trust-domain'];
      if (trustDomain === undefined) {
        const config = values.config ?? process.env.ENMESH_CONFIG;
        if (config === undefined || config === '') return usage('say which trust domain: --trust-domain <domain> or --config <mesh.yaml>');
        trustDomain = (await loadMeshFile(config)).mesh.trustDomain;
      }
      if (!isTrustDomain(trustDomain)) return usage(`"${trustDomain}" is not a trust domain (lower-case letters, digits, . - _)`);
      const signer = await TokenSigner.fromFile(trustDomain, keyFile);
      io.stdout(`${await signer.mint(values.service, ttlMs)}\n`);
      return 0;
    } catch (err) {
      io.stderr(`enmesh token: ${formatError(err)}\n`);
      return 1;
    }
  },
};
