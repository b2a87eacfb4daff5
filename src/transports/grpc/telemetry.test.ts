import { describe, expect, it } from 'vitest';
import { presentedPrincipal } from './telemetry.ts';

const ctx = (subjectaltname: string | undefined) => ({ transportSecurityType: 'ssl', sslPeerCertificate: { subjectaltname } }) as unknown as Parameters<typeof presentedPrincipal>[0];

describe('presentedPrincipal', () => {
  it('is the one SPIFFE URI SAN of the server certificate', () => {
    expect(presentedPrincipal(ctx('DNS:ratings, URI:spiffe://demo.local/service/ratings'))).toBe('spiffe://demo.local/service/ratings');
  });
  it('is undefined over plaintext, without a URI SAN, with two, or with a URI that is not a SPIFFE ID', () => {
    expect(presentedPrincipal(undefined)).toBeUndefined();
    expect(presentedPrincipal(null)).toBeUndefined();
    expect(presentedPrincipal({} as Parameters<typeof presentedPrincipal>[0])).toBeUndefined();
    expect(presentedPrincipal(ctx('DNS:ratings'))).toBeUndefined();
    expect(presentedPrincipal(ctx(undefined))).toBeUndefined();
    expect(presentedPrincipal(ctx('URI:spiffe://demo.local/service/a, URI:spiffe://demo.local/service/b'))).toBeUndefined();
    expect(presentedPrincipal(ctx('URI:https://demo.local/service/a'))).toBeUndefined();
  });
  it('reads a connection once: the answer is kept per auth context', () => {
    const c = ctx('URI:spiffe://demo.local/service/reviews');
    expect(presentedPrincipal(c)).toBe('spiffe://demo.local/service/reviews');
    (c as { sslPeerCertificate: { subjectaltname: string } }).sslPeerCertificate.subjectaltname = 'DNS:changed';
    expect(presentedPrincipal(c)).toBe('spiffe://demo.local/service/reviews');
  });
});
