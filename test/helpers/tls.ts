/** A throwaway self-signed certificate made with the openssl CLI, for https tests. */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCert {
  readonly key: string;
  readonly cert: string;
}

export async function selfSignedCert(dnsName: string): Promise<TestCert> {
  const dir = await mkdtemp(join(tmpdir(), 'enmesh-tls-'));
  try {
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
      '-subj', `/CN=${dnsName}`, '-addext', `subjectAltName=DNS:${dnsName},IP:127.0.0.1`,
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ]);
    return { key: await readFile(join(dir, 'key.pem'), 'utf8'), cert: await readFile(join(dir, 'cert.pem'), 'utf8') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
