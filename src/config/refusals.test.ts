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

  it('refuses a route matching an empty list of methods (it would match every method)', () => {
    expect(issues(route('- match: { method: [] }'))).toEqual([
      'services.reviews.routes[0].match.method: method is empty: list at least one method, e.g. [GET, HEAD], or remove method to match every method',
    ]);
    expect(load(route('- match: { method: [get, HEAD] }')).services.get('reviews')!.routes[0].match.methods).toEqual(['GET', 'HEAD']);
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

describe('mirror', () => {
  it('refuses a mirror without a target (it would copy requests to where they already go)', () => {
    const none = 'services.reviews.routes[0].mirror: a mirror needs a target: set service, subset or both, e.g. { subset: v2 }';
    expect(issues(route('- mirror: {}'))).toEqual([none]);
    expect(issues(route('- mirror: { percent: 5 }'))).toEqual([none]);
    const r = load(svc('subsets: { v2: { version: v2 } }\nroutes:\n  - mirror: { subset: v2, percent: 5 }')).services.get('reviews')!.routes[0];
    expect(r.mirror).toEqual({ service: 'reviews', subset: 'v2', percent: 5 });
    expect(load(route('- mirror: { service: reviews }')).services.get('reviews')!.routes[0].mirror).toEqual({ service: 'reviews', percent: 100 });
  });
});

describe('regular expressions', () => {
  const r = 'services.reviews.routes[0].match';
  const notRe2 = '(xDS clients such as Envoy read these regexes as RE2)';

  it('refuses back-references and look-around, which RE2 lacks, wherever a regex is matched', () => {
    expect(issues(route('- match: { path: { regex: "/(a+)/\\\\1" } }'))).toEqual([
      `${r}.path.regex: invalid regular expression "/(a+)/\\\\1": the back-reference \\1 is not RE2 syntax ${notRe2}: repeat the group's pattern instead`,
    ]);
    expect(issues(route('- match: { headers: { x-user: { regex: "(?<u>[a-z]+)-\\\\k<u>" } } }'))).toEqual([
      expect.stringMatching(/^services\.reviews\.routes\[0\]\.match\.headers\.x-user\.regex: invalid regular expression .*: the back-reference \\k<u> is not RE2 syntax /),
    ]);
    expect(issues(route('- match: { query: { v: { regex: "(?!beta)[a-z]+" } } }'))).toEqual([
      `${r}.query.v.regex: invalid regular expression "(?!beta)[a-z]+": the lookahead (?!...) is not RE2 syntax ${notRe2}: rewrite the pattern without look-around (e.g. with a character class, or a second header or query match)`,
    ]);
    for (const [pattern, feature] of [
      ['(?=a)a', 'the lookahead (?=...)'],
      ['(?<=/v1)/items', 'the lookbehind (?<=...)'],
      ['(?<!x)y', 'the lookbehind (?<!...)'],
      ['a{1001}', 'the repeat count {1001}'],
      ['\\\\u00e9', 'the escape \\u'],
      ['[\\\\b]', '\\b in a class'],
    ]) {
      expect(issues(route(`- match: { path: { regex: "${pattern}" } }`))).toEqual([expect.stringContaining(`: ${feature} is not RE2 syntax`)]);
    }
  });

  it('refuses what RE2 reads otherwise than JavaScript', () => {
    for (const [pattern, feature] of [
      ['[^]', 'the class [^]'],
      ['[[:digit:]]+', 'the POSIX class [:digit:]'],
      ['\\\\Aabc', 'the escape \\A'],
      ['\\\\p{L}+', 'the escape \\p'],
    ]) {
      expect(issues(route(`- match: { headers: { x-a: { regex: "${pattern}" } } }`))).toEqual([expect.stringContaining(`: ${feature} means something else in RE2`)]);
    }
  });

  it('accepts the syntax JavaScript and RE2 share', () => {
    const patterns = [
      '^/items/[0-9]+$', '(?:v1|v2)\\\\.[a-z]{2,8}', '[\\\\]\\\\-_.]+', '(?<ver>v\\\\d+)', '\\\\x41\\\\t\\\\/', 'a{1000}',
      // Escaped or in a class, these are plain characters, not look-around or a back-reference.
      '\\\\(?=x\\\\)', '[(?=]', '\\\\\\\\1', '[?!<=]+',
    ];
    for (const p of patterns) {
      expect(load(route(`- match: { path: { regex: "${p}" } }`)).services.get('reviews')!.routes[0].match.path!.kind).toBe('regex');
    }
  });
});

describe('routes that answer themselves', () => {
  const r = 'services.reviews.routes[0]';

  it('refuses keys that act on the forwarded request, naming each', () => {
    for (const key of ['timeout: 1s', 'retries: { attempts: 2 }', 'hedge: { delay: 10ms }', 'mirror: { service: reviews }', 'fault: { abort: { status: 503 } }']) {
      const name = key.slice(0, key.indexOf(':'));
      expect(issues(route(`- redirect: { host: example.com }\n  ${key}`))).toEqual([
        `${r}.${name}: ${name} applies to forwarded requests only, and this route answers itself (redirect); remove ${name}`,
      ]);
      expect(issues(route(`- directResponse: { status: 200 }\n  ${key}`))).toEqual([
        `${r}.${name}: ${name} applies to forwarded requests only, and this route answers itself (directResponse); remove ${name}`,
      ]);
    }
    expect(issues(route('- directResponse: { status: 200 }\n  headers: { request: { set: { x-a: b } }, response: { set: { x-b: c } } }'))).toEqual([
      `${r}.headers.request: headers.request changes forwarded requests only, and this route answers itself (directResponse); remove it (headers.response applies)`,
    ]);
  });

  it('keeps response headers on such routes, and policies on forwarding ones', () => {
    const direct = load(route('- directResponse: { status: 200 }\n  headers: { response: { set: { x-b: c } } }')).services.get('reviews')!.routes[0];
    expect(direct.responseHeaders!.set).toEqual([['x-b', 'c']]);
    const fwd = load(route('- timeout: 1s\n  retries: { attempts: 1 }')).services.get('reviews')!.routes[0];
    expect([fwd.timeoutMs, fwd.retries!.attempts]).toEqual([1000, 1]);
  });
});

describe('endpoints', () => {
  it('refuses one IPv6 address written twice in different forms', () => {
    expect(issues(svc('endpoints: ["[::1]:9080", "[0:0::1]:9080"]'))).toEqual([
      'services.reviews.endpoints[1]: duplicate endpoint address "[0:0::1]:9080" (also endpoints[0], written "[::1]:9080"); list each address once',
    ]);
    expect(issues(svc('endpoints: [{ address: "[2001:DB8::1]:9080" }, { address: "[2001:db8:0:0:0:0:0:1]:9080" }]'))).toEqual([
      'services.reviews.endpoints[1].address: duplicate endpoint address "[2001:db8:0:0:0:0:0:1]:9080" (also endpoints[0], written "[2001:DB8::1]:9080"); list each address once',
    ]);
    expect(issues(svc('endpoints: ["[::ffff:127.0.0.1]:9080", "[::ffff:7f00:1]:9080"]'))).toHaveLength(1);
    // Other ports, and the same address in IPv4 form, are other endpoints.
    expect(load(svc('endpoints: ["[::1]:9080", "[::1]:9081", "[::ffff:127.0.0.1]:9080", "127.0.0.1:9080"]')).services.get('reviews')!.endpoints).toHaveLength(4);
  });
});
