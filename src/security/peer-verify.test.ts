import { beforeAll, describe, expect, it } from 'vitest';
import { REVIEWS, TRUST_DOMAIN, buildPki } from '../../test/fixtures/security/corpus.ts';
import type { Pki } from '../../test/fixtures/security/corpus.ts';
import { makeIntermediate, makeLeaf, makeRoot } from '../../test/fixtures/security/pki.ts';
import { isEnmeshError } from '../errors.ts';
import { PeerVerifier, parseTrustBundle, peerError } from './peer-verify.ts';
import type { TrustBundle } from './peer-verify.ts';
import { pemToDers } from './x509.ts';

let pki: Pki;
let bundle: TrustBundle;

beforeAll(async () => {
  pki = await buildPki();
  bundle = parseTrustBundle(TRUST_DOMAIN, pki.root.pem);
}, 30_000);

function verifier(b: () => TrustBundle | undefined = () => bundle, now?: () => number): PeerVerifier {
  return new PeerVerifier({ trustDomain: TRUST_DOMAIN, bundle: b, ...(now === undefined ? {} : { now }) });
}

describe('peer verification', () => {
  it('accepts a valid SVID in both roles and returns its identity', () => {
    const v = verifier();
    for (const role of ['server', 'client'] as const) {
      const r = v.verifyChain([pki.good.der], role);
      expect(r).toMatchObject({ ok: true, identity: { spiffeId: REVIEWS, trustDomain: TRUST_DOMAIN, service: 'reviews' } });
    }
    expect(Object.values(v.refusals).every((n) => n === 0)).toBe(true);
  });

  it('refuses 100% of the negative corpus, each with its reason, and counts it', () => {
    const v = verifier();
    const got = pki.corpus.map((e) => {
      const r = v.verifyChain(e.chain, 'server');
      return { name: e.name, reason: r.ok ? 'ACCEPTED' : r.reason };
    });
    expect(got).toEqual(pki.corpus.map((e) => ({ name: e.name, reason: e.reason })));
    const expectedCounts: Record<string, number> = {};
    for (const e of pki.corpus) expectedCounts[e.reason] = (expectedCounts[e.reason] ?? 0) + 1;
    for (const [reason, n] of Object.entries(expectedCounts)) expect(v.refusals[reason as keyof typeof v.refusals]).toBe(n);
  });

  it('checks the EKU of the role: a serverAuth-only certificate is no client', async () => {
    const serverOnly = await makeLeaf({ issuer: pki.root, id: REVIEWS, eku: ['1.3.6.1.5.5.7.3.1'] });
    const v = verifier();
    expect(v.verifyChain([serverOnly.der], 'server').ok).toBe(true);
    expect(v.verifyChain([serverOnly.der], 'client')).toMatchObject({ ok: false, reason: 'eku' });
  });

  it('refuses a valid SVID that is not the identity expected for the connection', () => {
    const v = verifier();
    expect(v.verifyChain([pki.ratings.der], 'server', REVIEWS)).toMatchObject({ ok: false, reason: 'unexpected-identity' });
    expect(v.verifyChain([pki.ratings.der], 'server', [REVIEWS, 'spiffe://demo.local/service/ratings']).ok).toBe(true);
    expect(v.verifyChain([pki.ratings.der], 'server', (id) => id.service === 'ratings').ok).toBe(true);
    expect(v.refusals['unexpected-identity']).toBe(1);
  });

  it('refuses everything without a trust bundle, and nothing at all with an empty chain', () => {
    expect(verifier(() => undefined).verifyChain([pki.good.der], 'server')).toMatchObject({ ok: false, reason: 'untrusted' });
    expect(verifier().verifyChain([], 'client')).toMatchObject({ ok: false, reason: 'no-certificate' });
    expect(verifier().verifyChain([new Uint8Array([0x30, 0x03, 1, 2, 3])], 'client')).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('follows a trust bundle rotation: old + new roots accepted together, then only the new', async () => {
    const next = await makeRoot('CN=next root');
    const fromNext = await makeLeaf({ issuer: next, id: REVIEWS });
    let current = parseTrustBundle(TRUST_DOMAIN, pki.root.pem);
    const v = verifier(() => current);
    expect(v.verifyChain([fromNext.der], 'server').ok).toBe(false);
    current = parseTrustBundle(TRUST_DOMAIN, `${pki.root.pem}\n${next.pem}`);
    expect(v.verifyChain([fromNext.der], 'server').ok).toBe(true);
    expect(v.verifyChain([pki.good.der], 'server').ok).toBe(true);
    current = parseTrustBundle(TRUST_DOMAIN, next.pem);
    // The cache is per bundle version: the old root's SVID is refused at once.
    expect(v.verifyChain([pki.good.der], 'server')).toMatchObject({ ok: false, reason: 'untrusted' });
  });

  it('re-checks the validity window of a cached result', () => {
    let now = Date.now();
    const v = verifier(() => bundle, () => now);
    expect(v.verifyChain([pki.good.der], 'server').ok).toBe(true);
    now += 2 * 3600_000;
    expect(v.verifyChain([pki.good.der], 'server')).toMatchObject({ ok: false, reason: 'expired' });
  });

  it('builds the path through intermediates and enforces pathLen', async () => {
    const root0 = await makeRoot('CN=root pathlen 0', { pathLen: 0 });
    const root1 = await makeRoot('CN=root pathlen 1', { pathLen: 1 });
    const inter0 = await makeIntermediate(root0, 'CN=inter under 0');
    const inter1 = await makeIntermediate(root1, 'CN=inter under 1');
    const leaf0 = await makeLeaf({ issuer: inter0, id: REVIEWS });
    const leaf1 = await makeLeaf({ issuer: inter1, id: REVIEWS });
    const b = parseTrustBundle(TRUST_DOMAIN, `${root0.pem}\n${root1.pem}`);
    const v = verifier(() => b);
    const der = (pem: string): Uint8Array => pemToDers(pem)[0]!;
    expect(v.verifyChain([leaf1.der, der(inter1.pem)], 'client').ok).toBe(true);
    expect(v.verifyChain([leaf0.der, der(inter0.pem)], 'client')).toMatchObject({ ok: false, reason: 'chain-invalid' });
    // Without its intermediate (and a fresh cache) the leaf chains to nothing.
    expect(verifier(() => b).verifyChain([leaf1.der], 'client')).toMatchObject({ ok: false, reason: 'untrusted' });
  });

  it('makes an error carrying the reason for checkServerIdentity callers', () => {
    const err = peerError({ reason: 'eku', message: 'x' });
    expect(isEnmeshError(err) && err.code).toBe('ENMESH_ERR_PEER_IDENTITY');
    expect(err.reason).toBe('eku');
  });
});
