import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import type { MeshModel } from '../model/types.ts';
import { parseMeshYaml } from './load.ts';

/**
 * Values that would otherwise be accepted with a meaning nobody wrote: an
 * empty list turning a rule into "everyone", a timer that fires at once.
 */

const SERVICE = 'services:\n  reviews:\n    protocol: http\n    port: 9080\n';

function load(yaml: string): MeshModel {
  return parseMeshYaml(yaml, 'mesh.yaml');
}

/** `path: message` of every issue, without the file position. */
function issues(yaml: string): string[] {
  try {
    load(yaml);
  } catch (err) {
    if (isEnmeshError(err) && err.issues) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  throw new Error('accepted');
}

/** The service block plus `yaml` indented under it. */
const svc = (yaml: string): string => `${SERVICE}${yaml.replace(/^/gm, '    ')}\n`;
const route = (yaml: string): string => svc(`routes:\n${yaml.replace(/^/gm, '  ')}`);
const policies = (yaml: string): string => `${SERVICE}policies:\n${yaml.replace(/^/gm, '  ')}\n`;

describe('empty lists', () => {
  it('refuses a from entry listing no sources (it would match every caller)', () => {
    for (const kind of ['services', 'principals', 'namespaces', 'requestPrincipals']) {
      expect(issues(policies(`authorization:\n  - { name: a, target: reviews, from: [{ ${kind}: [] }] }`))).toEqual([
        `policies.authorization[0].from[0].${kind}: ${kind} is empty: list at least one ${kind.slice(0, -1)}, or remove this from entry`,
      ]);
    }
  });

  it('refuses a condition with no values (it would only ask for the key to be present)', () => {
    expect(issues(policies('authorization:\n  - { name: a, target: reviews, when: [{ key: "request.headers[x-a]", values: [] }] }'))).toEqual([
      "policies.authorization[0].when[0].values: values is empty: list at least one pattern (use ['*'] to require only that the key is present)",
    ]);
    expect(issues(policies('authorization:\n  - { name: a, target: reviews, when: [{ key: "request.headers[x-a]", notValues: [] }] }'))).toEqual([
      expect.stringMatching(/^policies\.authorization\[0\]\.when\[0\]\.notValues: notValues is empty/),
    ]);
  });

  it('refuses empty retry lists, which would switch retries off silently', () => {
    expect(issues(route('- retries: { on: [] }'))).toEqual([
      'services.reviews.routes[0].retries.on: on is empty: list at least one of 5xx, reset, connect-failure (or statusCodes), or set attempts: 0 to turn retries off',
    ]);
    expect(issues(route('- retries: { methods: [] }'))).toEqual([
      'services.reviews.routes[0].retries.methods: methods is empty: list the methods to retry (* for all), remove it for the default, or set attempts: 0 to turn retries off',
    ]);
    // Listed status codes are retried whatever `on` says, so `on: []` narrows retries to them.
    expect(load(route('- retries: { on: [], statusCodes: [503] }')).services.get('reviews')!.routes[0].retries!.on).toEqual([]);
  });
});

describe('inline jwks', () => {
  const authn = (jwks: string): string => policies(`authentication:\n  - { name: a, target: reviews, jwt: { issuer: x, jwks: ${jwks} } }`);

  it('refuses JSON nested deeper than the loader allows, at any depth', () => {
    for (const n of [40, 5000]) {
      expect(issues(authn(`'{"keys":[${'['.repeat(n)}${']'.repeat(n)}]}'`))).toEqual([
        'policies.authentication[0].jwt.jwks: nested deeper than 32 levels; a JWKS is { keys: [{ kty, ... }] }',
      ]);
    }
  });

  it('checks the keys: a non-empty list of JWKs with a kty', () => {
    expect(issues(authn('{ keys: [] }'))).toEqual([
      'policies.authentication[0].jwt.jwks.keys: keys is empty: add at least one key (a JWK like { kty: EC, crv, x, y, kid }), or use jwksUri',
    ]);
    expect(issues(authn(`'{"keys":["k1", {"kid":"k2"}]}'`))).toEqual([
      'policies.authentication[0].jwt.jwks.keys[0]: expected a JWK mapping like { kty: EC, crv, x, y, kid }, got "k1"',
      'policies.authentication[0].jwt.jwks.keys[1].kty: expected the key type as a string (kty: RSA, EC, OKP or oct), got an empty value',
    ]);
    expect(load(authn('{ keys: [{ kty: oct, k: c2VjcmV0 }] }')).policies.authentication[0].jwt.jwks).toEqual({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] });
  });
});

describe('timer durations', () => {
  const tooLong = (path: string): string => `${path}: expected a duration up to 596h (the longest a timer can wait), got "597h"`;

  it('refuses durations longer than a timer can wait', () => {
    const r = 'services.reviews.routes[0]';
    expect(issues(route('- hedge: { delay: 597h }'))).toEqual([tooLong(`${r}.hedge.delay`)]);
    expect(issues(route('- fault: { delay: { duration: 597h } }'))).toEqual([tooLong(`${r}.fault.delay.duration`)]);
    expect(issues(route('- retries: { backoff: { base: 597h, max: 597h } }'))).toEqual([tooLong(`${r}.retries.backoff.base`), tooLong(`${r}.retries.backoff.max`)]);
    expect(issues(svc('outlierDetection: { interval: 597h, baseEjectionTime: 597h, maxEjectionTime: 597h }'))).toEqual(
      ['interval', 'baseEjectionTime', 'maxEjectionTime'].map((k) => tooLong(`services.reviews.outlierDetection.${k}`)),
    );
    expect(issues(svc('circuitBreaker: { window: 597h, resetTimeout: 597h }'))).toEqual(
      ['window', 'resetTimeout'].map((k) => tooLong(`services.reviews.circuitBreaker.${k}`)),
    );
    expect(issues(svc('adaptiveConcurrency: { interval: 597h }'))).toEqual([tooLong('services.reviews.adaptiveConcurrency.interval')]);
    expect(load(route('- hedge: { delay: 596h }')).services.get('reviews')!.routes[0].hedge!.delayMs).toBe(596 * 3_600_000);
    // A derived backoff cap stays within the limit.
    expect(load(route('- retries: { backoff: { base: 500h } }')).services.get('reviews')!.routes[0].retries!.backoff.maxMs).toBe(2_147_483_647);
  });

  it('keeps accepting long route timeouts, which the request path caps', () => {
    const r = load(route('- timeout: 1000h\n  retries: { perTryTimeout: 1000h }')).services.get('reviews')!.routes[0];
    expect([r.timeoutMs, r.retries!.perTryTimeoutMs]).toEqual([3_600_000_000, 3_600_000_000]);
  });

  it('refuses a positive duration that rounds to 0ms instead of reading it as none', () => {
    expect(issues(route('- timeout: 0.4ms'))).toEqual([
      'services.reviews.routes[0].timeout: "0.4ms" rounds to 0ms (durations are whole milliseconds): write at least 1ms',
    ]);
    expect(issues(svc('outlierDetection: { interval: 0.1ms }'))).toEqual([expect.stringContaining('interval: "0.1ms" rounds to 0ms')]);
    expect(load(route('- timeout: 0s')).services.get('reviews')!.routes[0].timeoutMs).toBe(0);
  });
});

describe('header values', () => {
  const r = 'services.reviews.routes[0]';

  it('refuses values Node cannot send, with the key path', () => {
    expect(issues(route('- headers: { request: { set: { x-a: "v\\r\\nx-injected: 1" } } }'))).toEqual([
      `${r}.headers.request.set.x-a: header value contains a line break (CR/LF), which would split the header; use printable ASCII (percent-encode anything else)`,
    ]);
    expect(issues(route('- headers: { response: { add: { x-a: "a\\0b" } } }'))).toEqual([
      `${r}.headers.response.add.x-a: header value contains a NUL character; use printable ASCII (percent-encode anything else)`,
    ]);
    expect(issues(route('- directResponse: { status: 200, headers: { x-price: "5 €" } }'))).toEqual([
      `${r}.directResponse.headers.x-price: header value contains "€" (U+20AC), outside Latin-1; use printable ASCII (percent-encode anything else)`,
    ]);
    expect(issues(route('- headers: { request: { set: { "x a": v } } }'))).toEqual([
      `${r}.headers.request.set["x a"]: invalid header name "x a": use letters, digits and - (e.g. x-route)`,
    ]);
  });

  it('accepts tabs and Latin-1', () => {
    const h = load(route('- headers: { request: { set: { x-a: "caf\\u00e9\\tok" } } }')).services.get('reviews')!.routes[0].requestHeaders!;
    expect(h.set).toEqual([['x-a', 'café\tok']]);
  });
});

describe('subsets', () => {
  it('refuses a subset left empty, which would select every endpoint', () => {
    expect(issues(svc('subsets:\n  v2:\n'))).toEqual([
      'services.reviews.subsets.v2: subset "v2" has no labels: give the subset\'s labels, e.g. { version: v2 } (a subset of every endpoint is written {})',
    ]);
    expect(load(svc('subsets: { all: {} }')).services.get('reviews')!.subsets.get('all')).toEqual({});
  });
});

describe('quoted scalars', () => {
  it('suggests removing the quotes when the value would be valid unquoted', () => {
    expect(issues('services:\n  reviews: { protocol: http, port: "80" }\n')).toEqual([
      'services.reviews.port: expected an integer 1..65535, got "80" (remove the quotes: 80)',
    ]);
    expect(issues(svc('loadBalancer: ring-hash\nhashOn: { sourceIp: "true" }'))).toEqual([
      'services.reviews.hashOn.sourceIp: sourceIp only takes true; got "true" (remove the quotes: true)',
    ]);
    expect(issues(policies('authorization:\n  - { name: a, target: reviews, dryRun: "false" }'))).toEqual([
      'policies.authorization[0].dryRun: expected true or false, got "false" (remove the quotes: false)',
    ]);
    expect(issues(route('- backends: [{ weight: "5" }]'))).toEqual([expect.stringMatching(/weight: .*got "5" \(remove the quotes: 5\)$/)]);
    // No hint when the unquoted value would be wrong too.
    expect(issues('services:\n  reviews: { protocol: http, port: "99999" }\n')).toEqual(['services.reviews.port: expected an integer 1..65535, got "99999"']);
  });
});

describe('redirect', () => {
  it('refuses a redirect that changes nothing (clients would loop)', () => {
    const loop = 'services.reviews.routes[0].redirect: this redirect points back to the same URL, so clients would loop: set at least one of scheme, host, port, path, prefixRewrite';
    expect(issues(route('- redirect: {}'))).toEqual([loop]);
    expect(issues(route('- redirect: { status: 301, stripQuery: true }'))).toEqual([loop]);
    expect(load(route('- redirect: { scheme: https }')).services.get('reviews')!.routes[0].redirect!.scheme).toBe('https');
  });
});
