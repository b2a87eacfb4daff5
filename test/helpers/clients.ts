/** The same request made through every hooked client API, for tests that must hold on all transports. */
import http from 'node:http';
import https from 'node:https';
import { Writable } from 'node:stream';
import { request as undiciRequest, stream as undiciStream } from 'undici';

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export interface RequestSpec {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

export type Client = (url: string, spec?: RequestSpec) => Promise<Reply>;

const viaFetch: Client = async (url, spec = {}) => {
  const res = await fetch(url, { method: spec.method ?? 'GET', headers: spec.headers ?? {}, ...(spec.body !== undefined ? { body: spec.body } : {}) });
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  return { status: res.status, headers, body: await res.text() };
};

const viaUndiciRequest: Client = async (url, spec = {}) => {
  const res = await undiciRequest(url, { method: (spec.method ?? 'GET') as 'GET', headers: spec.headers ?? {}, body: spec.body ?? null });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
};

const viaUndiciStream: Client = async (url, spec = {}) => {
  const chunks: Buffer[] = [];
  let status = 0;
  let headers: Record<string, string | string[] | undefined> = {};
  await undiciStream(url, { method: (spec.method ?? 'GET') as 'GET', headers: spec.headers ?? {}, body: spec.body ?? null }, (data) => {
    status = data.statusCode;
    headers = data.headers;
    return new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    });
  });
  return { status, headers, body: Buffer.concat(chunks).toString() };
};

function nodeClient(mod: typeof http | typeof https, useGet: boolean, extra: https.RequestOptions = {}): Client {
  return (url, spec = {}) =>
    new Promise<Reply>((resolve, reject) => {
      const onResponse = (res: http.IncomingMessage): void => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
        res.on('error', reject);
      };
      const options = { method: spec.method ?? 'GET', headers: spec.headers ?? {}, ...extra };
      if (useGet) {
        mod.get(url, options, onResponse).on('error', reject);
        return;
      }
      const req = mod.request(url, options, onResponse);
      req.on('error', reject);
      if (spec.body !== undefined) req.write(spec.body);
      req.end();
    });
}

export const clients: Record<string, Client> = {
  fetch: viaFetch,
  'undici.request': viaUndiciRequest,
  'undici.stream': viaUndiciStream,
  'http.request': nodeClient(http, false),
  'http.get': nodeClient(http, true),
};

export function httpsClient(ca: string | Buffer): Client {
  return nodeClient(https, false, { ca });
}

/** Runs `n` requests with at most `concurrency` in flight; bounded by count. */
export async function runMany<T>(n: number, concurrency: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      results[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return results;
}

/** A GET the application can abort, per client API: resolves once the response starts, rejects with the abort. */
export type AbortableSend = (url: string, signal: AbortSignal) => Promise<unknown>;

export const abortableClients: Record<string, AbortableSend> = {
  'undici.request': (url, signal) => undiciRequest(url, { signal }),
  fetch: (url, signal) => fetch(url, { signal }),
  'http.request': (url, signal) =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { signal });
      req.on('error', reject);
      req.on('response', resolve);
      req.end();
    }),
};
