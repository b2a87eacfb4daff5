import { describe, expect, it } from 'vitest';
import { decodeOid, derToPem, pemToDers, readBasicConstraints, readGeneralNames, readKeyUsage, readOidSequence, visibleAscii } from './x509.ts';

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

describe('DER readers', () => {
  it('reads GeneralNames exactly, kinds and bytes', () => {
    // SEQUENCE { [6] "a:b", [2] "x", [7] 127.0.0.1 }
    const der = bytes(0x30, 0x0e, 0x86, 0x03, 0x61, 0x3a, 0x62, 0x82, 0x01, 0x78, 0x87, 0x04, 127, 0, 0, 1);
    expect(readGeneralNames(der)?.map((n) => [n.kind, [...n.bytes]])).toEqual([
      ['uri', [0x61, 0x3a, 0x62]],
      ['dns', [0x78]],
      ['ip', [127, 0, 0, 1]],
    ]);
  });

  it.each([
    ['trailing bytes', [0x30, 0x03, 0x86, 0x01, 0x61, 0x00]],
    ['length past the end', [0x30, 0x05, 0x86, 0x01, 0x61]],
    ['non-minimal long length', [0x30, 0x81, 0x03, 0x86, 0x01, 0x61]],
    ['indefinite length', [0x30, 0x80, 0x86, 0x01, 0x61, 0x00, 0x00]],
    ['universal tag inside', [0x30, 0x03, 0x16, 0x01, 0x61]],
    ['constructed URI', [0x30, 0x03, 0xa6, 0x01, 0x61]],
    ['not a SEQUENCE', [0x31, 0x03, 0x86, 0x01, 0x61]],
  ])('refuses GeneralNames with %s', (_name, der) => {
    expect(readGeneralNames(bytes(...der))).toBeUndefined();
  });

  it('accepts only visible ASCII as text', () => {
    expect(visibleAscii(bytes(0x61, 0x7e))).toBe('a~');
    for (const bad of [0x00, 0x20, 0x7f, 0x80, 0xff]) expect(visibleAscii(bytes(0x61, bad))).toBeUndefined();
  });

  it('decodes OIDs, key usage, basic constraints and OID lists', () => {
    expect(decodeOid(bytes(0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01))).toBe('1.3.6.1.5.5.7.3.1');
    expect(decodeOid(bytes(0x55, 0x1d, 0x11))).toBe('2.5.29.17');
    expect(decodeOid(bytes(0x2b, 0x80, 0x01))).toBeUndefined(); // non-minimal arc
    expect(decodeOid(bytes(0x2b, 0x86))).toBeUndefined(); // truncated
    expect(readKeyUsage(bytes(0x03, 0x02, 0x07, 0x80))).toBe(1); // digitalSignature
    expect(readKeyUsage(bytes(0x03, 0x02, 0x01, 0x06))).toBe(32 | 64); // keyCertSign, cRLSign
    expect(readBasicConstraints(bytes(0x30, 0x00))).toEqual({ ca: false, pathLen: undefined });
    expect(readBasicConstraints(bytes(0x30, 0x06, 0x01, 0x01, 0xff, 0x02, 0x01, 0x00))).toEqual({ ca: true, pathLen: 0 });
    expect(readBasicConstraints(bytes(0x30, 0x03, 0x01, 0x01, 0x01))).toBeUndefined(); // TRUE must be 0xff in DER
    expect(readOidSequence(bytes(0x30, 0x05, 0x06, 0x03, 0x55, 0x1d, 0x11))).toEqual(['2.5.29.17']);
  });

  it('round-trips PEM', () => {
    const der = bytes(...Array.from({ length: 100 }, (_, i) => i));
    const pem = derToPem(der, 'CERTIFICATE');
    expect(pem.split('\n').every((l) => l.length <= 64)).toBe(true);
    expect([...pemToDers(`junk\n${pem}\n${pem}`)[1]!]).toEqual([...der]);
    expect(pemToDers(pem, 'PRIVATE KEY')).toEqual([]);
  });
});
