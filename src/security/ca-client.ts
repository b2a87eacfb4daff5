/**
 * The SDK's client of the control plane CA (`POST /api/v1/ca/sign`,
 * `GET /api/v1/ca/bundle`). It has its own undici Agent so its requests
 * never pass through the mesh's own interceptors, and every request is
 * bounded in time.
 */
import { Agent, request } from 'undici';
import { EnmeshError } from '../errors.ts';

export interface SignedSvid {
  /** Leaf first, then intermediates. */
  readonly certChainPem: string;
  readonly bundlePem: string;
}

/** What the SVID manager needs from a CA; tests pass an in-process one. */
export interface SvidSigner {
  sign(csrPem: string): Promise<SignedSvid>;
  /** The current trust bundle (PEM), for rotation between renewals. */
  fetchBundle?(): Promise<string>;
}

export interface HttpCaClientOptions {
  /** Base URL of the control plane's admin API, e.g. `http://127.0.0.1:15000`. */
  readonly url: string;
  /** The workload token (`enmesh token create`), or a function reading the current one. */
  readonly token: string | (() => string | Promise<string>);
  /** Lifetime to ask for (the CA caps it), e.g. `1h`. */
  readonly ttl?: string;
  /** CA certificates to trust for an https URL. */
  readonly caPem?: string;
  /** Per request. Default 5000 ms. */
  readonly timeoutMs?: number;
}

const MAX_RESPONSE_BYTES = 256 * 1024;

export interface HttpCaClient extends SvidSigner {
  fetchBundle(): Promise<string>;
  close(): Promise<void>;
}

export function httpCaClient(options: HttpCaClientOptions): HttpCaClient {
  const base = options.url.replace(/\/+$/, '');
  const timeout = options.timeoutMs ?? 5000;
  const agent = new Agent({
    connect: { timeout, ...(options.caPem === undefined ? {} : { ca: options.caPem }) },
    headersTimeout: timeout,
    bodyTimeout: timeout,
  });

  async function call(method: 'GET' | 'POST', path: string, headers: Record<string, string>, body?: string): Promise<Record<string, unknown>> {
    let res;
    try {
      res = await request(`${base}${path}`, { method, headers, body, dispatcher: agent, signal: AbortSignal.timeout(timeout) });
    } catch (err) {
      throw new EnmeshError('ENMESH_ERR_CA', `CA at ${base} unreachable: ${(err as Error).message}`, { cause: err });
    }
    const length = Number(res.headers['content-length'] ?? 0);
    if (length > MAX_RESPONSE_BYTES) {
      res.body.destroy();
      throw new EnmeshError('ENMESH_ERR_CA', `CA at ${base} sent a ${length}-byte response`);
    }
    const text = await res.body.text();
    let json: Record<string, unknown>;
    try {
      json = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new EnmeshError('ENMESH_ERR_CA', `CA at ${base}${path} answered ${res.statusCode} with non-JSON`);
    }
    if (res.statusCode !== 200) {
      throw new EnmeshError('ENMESH_ERR_CA', `CA at ${base} refused (${res.statusCode} ${String(json.reason ?? '')}): ${String(json.error ?? text.slice(0, 200))}`);
    }
    return json;
  }

  return {
    async sign(csrPem) {
      const token = typeof options.token === 'function' ? await options.token() : options.token;
      const json = await call(
        'POST',
        '/api/v1/ca/sign',
        { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        JSON.stringify({ csr: csrPem, ...(options.ttl === undefined ? {} : { ttl: options.ttl }) }),
      );
      if (typeof json.certChainPem !== 'string' || typeof json.bundlePem !== 'string') {
        throw new EnmeshError('ENMESH_ERR_CA', `CA at ${base} answered without certChainPem/bundlePem`);
      }
      return { certChainPem: json.certChainPem, bundlePem: json.bundlePem };
    },
    async fetchBundle() {
      const json = await call('GET', '/api/v1/ca/bundle', {});
      if (typeof json.pem !== 'string') throw new EnmeshError('ENMESH_ERR_CA', `CA at ${base} answered a bundle without pem`);
      return json.pem;
    },
    close: () => agent.close(),
  };
}
