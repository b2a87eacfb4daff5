/**
 * The CA works from every replica when the operator supplies the signing
 * material: replicas sharing one CA directory (root + token key) accept each
 * other's workload tokens and issue SVIDs under one root; replicas with an
 * intermediate each, issued by one operator root, issue SVIDs that every
 * workload verifies against the same trust bundle.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger } from '../../../src/control-plane/log.ts';
import { startControlPlane } from '../../../src/control-plane/server.ts';
import type { ControlPlane } from '../../../src/control-plane/server.ts';
import { httpCaClient } from '../../../src/security/ca-client.ts';
import { privateKeyToPem, splitPem } from '../../../src/security/x509.ts';
import { makeCsr, makeIntermediate, makeRoot } from '../../fixtures/security/pki.ts';
import { createMeshFile } from '../../helpers/mesh-file.ts';
import type { MeshFile } from '../../helpers/mesh-file.ts';

const MESH = `mesh: { trustDomain: demo.local }
services:
  reviews: { protocol: http, port: 9080 }
`;

let file: MeshFile;
let dir: string;
const started: ControlPlane[] = [];

const replica = async (ca: NonNullable<Parameters<typeof startControlPlane>[0]['ca']>): Promise<ControlPlane> => {
  const cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, log: silentLogger, ca });
  started.push(cp);
  return cp;
};
const url = (cp: ControlPlane): string => `http://127.0.0.1:${cp.adminPort}`;

/** Signs a fresh CSR for `reviews` at `cp` with `token`; returns the chain (leaf first) and the bundle. */
async function svidFrom(cp: ControlPlane, token: string): Promise<{ chain: X509Certificate[]; bundle: X509Certificate[] }> {
  const ca = httpCaClient({ url: url(cp), token });
  try {
    const signed = await ca.sign((await makeCsr()).pem);
    return { chain: splitPem(signed.certChainPem).map((p) => new X509Certificate(p)), bundle: splitPem(signed.bundlePem).map((p) => new X509Certificate(p)) };
  } finally {
    await ca.close();
  }
}

/** True when `chain` leads from its leaf to one of `roots`, each link signed by the next. */
function chainsTo(chain: X509Certificate[], roots: X509Certificate[]): boolean {
  for (let i = 0; i + 1 < chain.length; i++) if (!chain[i]!.verify(chain[i + 1]!.publicKey)) return false;
  const top = chain.at(-1)!;
  return roots.some((r) => top.verify(r.publicKey));
}

beforeAll(async () => {
  file = await createMeshFile(MESH);
  dir = await mkdtemp(join(tmpdir(), 'enmesh-ca-replicas-'));
});

afterAll(async () => {
  await Promise.all(started.map((cp) => cp.close()));
  await file?.remove();
  await rm(dir, { recursive: true, force: true });
});

it('replicas sharing one CA directory accept each other\'s tokens and sign under one root', async () => {
  const shared = join(dir, 'shared');
  // The first replica generates the root and token key; the others start once the directory holds them.
  const a = await replica({ dir: shared });
  const b = await replica({ dir: shared });
  const token = await a.ca!.mintToken('reviews');
  const fromA = await svidFrom(a, token);
  const fromB = await svidFrom(b, token);
  expect(fromB.bundle.map((c) => c.fingerprint256)).toEqual(fromA.bundle.map((c) => c.fingerprint256));
  expect(chainsTo(fromA.chain, fromB.bundle)).toBe(true);
  expect(chainsTo(fromB.chain, fromA.bundle)).toBe(true);
  expect(fromB.chain[0]!.subjectAltName).toContain('spiffe://demo.local/service/reviews');
});

it('replicas with an intermediate each, under one operator root, issue SVIDs every workload verifies', async () => {
  const root = await makeRoot('CN=operator root, O=demo');
  const files = async (name: string): Promise<{ certFile: string; keyFile: string }> => {
    const inter = await makeIntermediate(root, `CN=enmesh ${name}, O=demo`);
    const certFile = join(dir, `${name}-cert.pem`);
    const keyFile = join(dir, `${name}-key.pem`);
    // The intermediate followed by its chain up to the root.
    await writeFile(certFile, `${inter.pem}\n${root.pem}\n`);
    await writeFile(keyFile, await privateKeyToPem(inter.keys.privateKey), { mode: 0o600 });
    return { certFile, keyFile };
  };
  // Tokens verify on every replica when they share the token key.
  const tokenKeyFile = join(dir, 'shared', 'token-key.pem');
  const a = await replica({ ...(await files('replica-a')), tokenKeyFile });
  const b = await replica({ ...(await files('replica-b')), tokenKeyFile });
  const token = await a.ca!.mintToken('reviews');
  const fromA = await svidFrom(a, token);
  const fromB = await svidFrom(b, token);
  const rootCert = new X509Certificate(root.pem);
  for (const bundle of [fromA.bundle, fromB.bundle]) expect(bundle.map((c) => c.fingerprint256)).toContain(rootCert.fingerprint256);
  // Leaf + the replica's intermediate; each verifies against the other replica's bundle.
  expect(fromA.chain).toHaveLength(2);
  expect(fromA.chain[1]!.fingerprint256).not.toBe(fromB.chain[1]!.fingerprint256);
  expect(chainsTo(fromA.chain, fromB.bundle)).toBe(true);
  expect(chainsTo(fromB.chain, fromA.bundle)).toBe(true);
});
