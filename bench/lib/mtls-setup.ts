/**
 * mTLS for a benchmark run, without a control plane: an in-process CA and a
 * ready SvidManager per service, signed the way the control plane signs them.
 * Give `svids` to `meshConnector` / `attachMeshTls`; `raw` is the same key
 * material as plain TLS options, for the raw-TLS baseline of the same run.
 *
 *   const pki = await createBenchPki('bench.local', ['client', 'upstream']);
 *   const { svids, raw } = pki.get('upstream')!;
 *   ...
 *   pki.close();
 */
import type { SecureContextOptions } from 'node:tls';
import { CertificateAuthority } from '../../src/control-plane/ca/authority.ts';
import type { SvidSigner } from '../../src/security/ca-client.ts';
import { SvidManager } from '../../src/security/svid-manager.ts';

export interface BenchIdentity {
  readonly svids: SvidManager;
  /** key, cert chain and trust bundle of the current SVID, as tls options. */
  readonly raw: SecureContextOptions;
}

export interface BenchPki extends ReadonlyMap<string, BenchIdentity> {
  readonly authority: CertificateAuthority;
  close(): void;
}

export async function createBenchPki(trustDomain: string, services: readonly string[], svidTtlMs = 3600_000): Promise<BenchPki> {
  const authority = await CertificateAuthority.create({ trustDomain, svidTtlMs });
  const out = new Map<string, BenchIdentity>();
  for (const service of services) {
    const signer: SvidSigner = {
      sign: async (csrPem) => {
        const issued = await authority.signCsr(csrPem, service);
        return { certChainPem: issued.certChainPem, bundlePem: issued.bundlePem };
      },
      fetchBundle: async () => authority.bundle().pem,
    };
    const svids = new SvidManager({ trustDomain, service, signer, bundleRefreshMs: 0 });
    await svids.start();
    out.set(service, { svids, raw: svids.contextOptions() });
  }
  return Object.assign(out, {
    authority,
    close() {
      for (const id of out.values()) id.svids.close();
    },
  });
}
