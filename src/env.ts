/** `ENMESH_*` environment variables → init options, for `init()` with no arguments and `--import enmesh/register`. */
import { EnmeshError } from './errors.ts';
import type { InitOptions } from './init-options.ts';

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): InitOptions {
  const options: { -readonly [K in keyof InitOptions]: InitOptions[K] } = {};
  const name = env.ENMESH_SERVICE?.trim();
  if (name) {
    const port = env.ENMESH_PORT === undefined || env.ENMESH_PORT === '' ? undefined : Number(env.ENMESH_PORT);
    if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
      throw new EnmeshError('ENMESH_ERR_INIT', `ENMESH_PORT must be a port number 1..65535, got "${env.ENMESH_PORT}"`);
    }
    options.service = {
      name,
      ...(port !== undefined ? { port } : {}),
      labels: parseLabels(env.ENMESH_LABELS ?? ''),
      ...(env.ENMESH_ZONE ? { zone: env.ENMESH_ZONE } : {}),
      ...(env.ENMESH_HOST ? { host: env.ENMESH_HOST } : {}),
    };
  }
  if (env.ENMESH_CONFIG) options.config = env.ENMESH_CONFIG;
  if (env.ENMESH_CONTROL_PLANE) options.controlPlane = env.ENMESH_CONTROL_PLANE.split(',').map((s) => s.trim()).filter(Boolean);
  if (env.ENMESH_REDIS_URL) options.redis = env.ENMESH_REDIS_URL;
  if (env.ENMESH_METRICS_PORT) {
    const port = Number(env.ENMESH_METRICS_PORT);
    if (!(Number.isInteger(port) && port >= 0 && port < 65536)) {
      throw new EnmeshError('ENMESH_ERR_INIT', `ENMESH_METRICS_PORT must be a port number 0..65535, got "${env.ENMESH_METRICS_PORT}"`);
    }
    options.metrics = { port };
  }
  if (env.ENMESH_TRACING) {
    const exporter = env.ENMESH_TRACING;
    if (exporter !== 'otlp' && exporter !== 'zipkin' && exporter !== 'console') {
      throw new EnmeshError('ENMESH_ERR_INIT', `ENMESH_TRACING must be otlp, zipkin or console, got "${exporter}"`);
    }
    const rate = env.ENMESH_TRACING_SAMPLE_RATE === undefined || env.ENMESH_TRACING_SAMPLE_RATE === '' ? undefined : Number(env.ENMESH_TRACING_SAMPLE_RATE);
    if (rate !== undefined && !(rate >= 0 && rate <= 1)) {
      throw new EnmeshError('ENMESH_ERR_INIT', `ENMESH_TRACING_SAMPLE_RATE must be a number from 0 to 1, got "${env.ENMESH_TRACING_SAMPLE_RATE}"`);
    }
    options.tracing = {
      exporter,
      ...(env.ENMESH_TRACING_ENDPOINT ? { endpoint: env.ENMESH_TRACING_ENDPOINT } : {}),
      ...(rate !== undefined ? { sampleRate: rate } : {}),
    };
  }
  if (env.ENMESH_TOKEN || env.ENMESH_TOKEN_FILE || env.ENMESH_CA_URL || env.ENMESH_SVID_DIR) {
    options.security = {
      ...(env.ENMESH_TOKEN ? { token: env.ENMESH_TOKEN.trim() } : {}),
      ...(env.ENMESH_TOKEN_FILE ? { tokenFile: env.ENMESH_TOKEN_FILE } : {}),
      ...(env.ENMESH_CA_URL ? { caUrl: env.ENMESH_CA_URL } : {}),
      ...(env.ENMESH_SVID_DIR ? { writeFiles: env.ENMESH_SVID_DIR } : {}),
    };
  }
  if (env.ENMESH_CONSUL) {
    const check = env.ENMESH_CONSUL_CHECK;
    if (check !== undefined && check !== '' && check !== 'ttl' && check !== 'http') {
      throw new EnmeshError('ENMESH_ERR_INIT', `ENMESH_CONSUL_CHECK must be "ttl" or "http", got "${check}"`);
    }
    options.consul = {
      address: env.ENMESH_CONSUL.trim(),
      ...(env.ENMESH_CONSUL_TOKEN ? { token: env.ENMESH_CONSUL_TOKEN.trim() } : {}),
      ...(check ? { check } : {}),
    };
  }
  if (env.ENMESH_XDS_MODE) {
    if (env.ENMESH_XDS_MODE !== 'delta' && env.ENMESH_XDS_MODE !== 'sotw') {
      throw new EnmeshError('ENMESH_ERR_INIT', `ENMESH_XDS_MODE must be "delta" or "sotw", got "${env.ENMESH_XDS_MODE}"`);
    }
    options.xdsMode = env.ENMESH_XDS_MODE;
  }
  return options;
}

/** `version=v1,team=blue` → { version: 'v1', team: 'blue' } */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(',')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq <= 0) throw new EnmeshError('ENMESH_ERR_INIT', `ENMESH_LABELS: "${p}" is not key=value (example: ENMESH_LABELS=version=v1,team=blue)`);
    labels[p.slice(0, eq).trim()] = p.slice(eq + 1).trim();
  }
  return labels;
}
