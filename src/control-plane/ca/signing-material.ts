/**
 * Where the CA's signing certificate and key come from:
 * - generated here: a self-signed EC P-256 root, pathLen 0;
 * - operator files: a root, or an intermediate issued by the operator's
 *   own PKI, with its key (PKCS#8 or SEC1/PKCS#1 PEM, EC P-256/P-384 or RSA);
 * - a CA directory: `ca-cert.pem` + `ca-key.pem` when present (operator
 *   files or a root generated on an earlier start), else a root generated
 *   and saved there, so a restarted control plane keeps its trust root.
 */
import { X509Certificate as NodeX509, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { EnmeshError } from '../../errors.ts';
import { EC_P256, generateKeyPair, privateKeyToPem, randomSerial, splitPem } from '../../security/x509.ts';
import type { CryptoKey } from '../../security/x509.ts';

export interface SigningMaterial {
  /** The certificate SVIDs are signed with (a root or an intermediate). */
  readonly cert: x509.X509Certificate;
  readonly key: CryptoKey;
  /** Certificates sent after every SVID: `cert` itself unless it is a root, and its chain up to (not including) the root. */
  readonly intermediates: readonly x509.X509Certificate[];
  /** The roots published in the trust bundle. */
  readonly roots: readonly x509.X509Certificate[];
}

export interface SigningFiles {
  /** The signing certificate, optionally followed by its chain (intermediates, then the root). */
  readonly certFile: string;
  readonly keyFile: string;
  /** More roots to publish (the operator root when `certFile` has none, or the next root during a rollover). */
  readonly bundleFile?: string;
}

export const CA_CERT_FILE = 'ca-cert.pem';
export const CA_KEY_FILE = 'ca-key.pem';
export const CA_BUNDLE_FILE = 'bundle.pem';

export function floorSeconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

/** A new self-signed root for `trustDomain`, valid from an hour ago for `ttlMs`. */
export async function generateRoot(trustDomain: string, ttlMs: number, now: number): Promise<SigningMaterial> {
  const keys = await generateKeyPair();
  const serial = randomSerial();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial,
    // A distinct name per root keeps path building unambiguous while two roots are published.
    name: `CN=enmesh CA ${serial.slice(0, 8)}, O=${trustDomain}`,
    notBefore: new Date(floorSeconds(now - 3600_000)),
    notAfter: new Date(floorSeconds(now + ttlMs)),
    keys,
    signingAlgorithm: EC_P256,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, key: keys.privateKey, intermediates: [], roots: [cert] };
}

/** Reads and checks operator signing material. Throws `ENMESH_ERR_CA` saying which file is wrong and how. */
export async function loadSigningMaterial(files: SigningFiles, now = Date.now()): Promise<SigningMaterial> {
  const certPem = await readText(files.certFile);
  const keyPem = await readText(files.keyFile);
  const chain = splitPem(certPem).map((p) => new x509.X509Certificate(p));
  if (chain.length === 0) throw caError(files.certFile, 'holds no PEM CERTIFICATE block');
  const extraRoots = files.bundleFile === undefined ? [] : splitPem(await readText(files.bundleFile)).map((p) => new x509.X509Certificate(p));

  const leaf = chain[0]!;
  const nodeCert = new NodeX509(leaf.toString('pem'));
  if (!nodeCert.ca) throw caError(files.certFile, 'the first certificate is not a CA (basicConstraints cA is not true)');
  const ku = leaf.getExtension(x509.KeyUsagesExtension);
  if (ku !== null && (ku.usages & x509.KeyUsageFlags.keyCertSign) === 0) throw caError(files.certFile, 'the first certificate may not sign certificates (keyUsage lacks keyCertSign)');
  if (leaf.notAfter.getTime() <= now) throw caError(files.certFile, `the signing certificate expired at ${leaf.notAfter.toISOString()}`);
  if (leaf.notBefore.getTime() > now) throw caError(files.certFile, `the signing certificate is not valid before ${leaf.notBefore.toISOString()}`);

  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(keyPem);
  } catch (err) {
    throw caError(files.keyFile, `is not a private key in PEM: ${(err as Error).message}`);
  }
  if (!nodeCert.checkPrivateKey(keyObject)) throw caError(files.keyFile, `does not match the certificate in ${files.certFile}`);
  const key = await toSigningKey(keyObject, files.keyFile);

  const selfSigned = (c: x509.X509Certificate): boolean => c.subject === c.issuer && new NodeX509(c.toString('pem')).checkIssued(new NodeX509(c.toString('pem')));
  // Peers need every certificate between the SVID and the root: the signing certificate itself when it is not a root.
  const intermediates = chain.filter((c) => !selfSigned(c));
  const roots = dedupe([...chain.filter(selfSigned), ...extraRoots]);
  if (roots.length === 0) {
    throw caError(files.certFile, `has no root certificate: append the root to it or name it in bundleFile (${CA_BUNDLE_FILE} in a CA directory)`);
  }
  return { cert: leaf, key, intermediates, roots };
}

/**
 * The signing material of a CA directory: loaded when `ca-cert.pem` exists,
 * otherwise generated and saved there (key file mode 0600).
 */
export async function loadOrCreateCaDir(dir: string, trustDomain: string, rootTtlMs: number, now = Date.now()): Promise<{ material: SigningMaterial; created: boolean }> {
  const certFile = join(dir, CA_CERT_FILE);
  const keyFile = join(dir, CA_KEY_FILE);
  const bundleFile = join(dir, CA_BUNDLE_FILE);
  if (await exists(certFile)) {
    const material = await loadSigningMaterial({ certFile, keyFile, ...((await exists(bundleFile)) ? { bundleFile } : {}) }, now);
    return { material, created: false };
  }
  const material = await generateRoot(trustDomain, rootTtlMs, now);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // 'wx': never overwrite a key another process wrote meanwhile.
  await writeFile(keyFile, await privateKeyToPem(material.key), { mode: 0o600, flag: 'wx' });
  await writeFile(certFile, material.cert.toString('pem') + '\n', { mode: 0o644, flag: 'wx' });
  return { material, created: true };
}

async function toSigningKey(key: KeyObject, file: string): Promise<CryptoKey> {
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') {
    const curve = details.namedCurve === 'prime256v1' ? 'P-256' : details.namedCurve === 'secp384r1' ? 'P-384' : undefined;
    if (curve === undefined) throw caError(file, `uses curve ${details.namedCurve}; use P-256 or P-384`);
    return key.toCryptoKey({ name: 'ECDSA', namedCurve: curve }, false, ['sign']);
  }
  if (key.asymmetricKeyType === 'rsa') {
    if ((details.modulusLength ?? 0) < 2048) throw caError(file, `is a ${details.modulusLength}-bit RSA key; use 2048 bits or more`);
    return key.toCryptoKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['sign']);
  }
  throw caError(file, `holds a ${key.asymmetricKeyType} key; use EC P-256/P-384 or RSA`);
}

function dedupe(certs: x509.X509Certificate[]): x509.X509Certificate[] {
  const seen = new Set<string>();
  return certs.filter((c) => {
    const pem = c.toString('base64');
    if (seen.has(pem)) return false;
    seen.add(pem);
    return true;
  });
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw caError(file, `cannot be read: ${(err as Error).message}`);
  }
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw caError(file, `cannot be read: ${(err as Error).message}`);
  }
}

function caError(file: string, what: string): EnmeshError {
  return new EnmeshError('ENMESH_ERR_CA', `CA file ${file} ${what}`);
}
