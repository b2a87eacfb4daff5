import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { EnmeshError } from '../errors.ts';
import { isEnmeshError } from '../errors.ts';
import { parseMeshYaml } from './load.ts';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/config/', import.meta.url));

async function problems(fixture: string): Promise<EnmeshError> {
  const text = await readFile(`${FIXTURES}${fixture}`, 'utf8');
  try {
    parseMeshYaml(text, fixture);
  } catch (err) {
    if (isEnmeshError(err)) return err;
    throw err;
  }
  throw new Error(`${fixture} was accepted`);
}

// One fixture per kind of mistake: the exact key path and what the message must say.
const CASES: [fixture: string, path: string, message: RegExp][] = [
  ['unknown-key', 'services.reviews.routes[0].backends[0].weigth', /^unknown key "weigth" — did you mean "weight"\? Allowed keys: service, subset, weight$/],
  ['wrong-type', 'services.reviews.port', /^expected an integer 1\.\.65535, got "abc"$/],
  ['port-out-of-range', 'services.reviews.port', /^expected an integer 1\.\.65535, got 70000$/],
  ['weight-zero', 'services.reviews.routes[0].backends', /every backend has weight 0/],
  ['weight-negative', 'services.reviews.routes[0].backends[1].weight', /integer weight 0\.\..* got -5$/],
  ['weight-non-integer', 'services.reviews.routes[0].backends[1].weight', /integer weight 0\.\..* got 2\.5$/],
  ['weight-missing', 'services.reviews.routes[0].backends[1].weight', /when one backend of a route has a weight, all of them need one/],
  ['duplicate-route-name', 'services.reviews.routes[1].name', /duplicate route name "main" \(also routes\[0\]\)/],
  ['duplicate-endpoint', 'services.reviews.endpoints[1].address', /duplicate endpoint address "127\.0\.0\.1:9081" \(also endpoints\[0\]\)/],
  ['duplicate-yaml-key', 'services.reviews.port', /duplicate key "port" \(first defined at line 4\)/],
  ['bad-duration', 'services.reviews.routes[0].timeout', /expected a duration like 250ms, 2s.*got "2 seconds"/],
  ['bare-number-duration', 'services.reviews.routes[0].retries.perTryTimeout', /got 500 \(add a unit: "500ms" or "500s"\)/],
  ['unknown-subset', 'services.reviews.routes[0].backends[0].subset', /unknown subset "v3".*\. Subsets of "reviews": v1, v2$/],
  ['unknown-service', 'services.ratings.routes[0].backends[0].service', /unknown service "review" — did you mean "reviews"\? Services in this mesh: reviews, ratings/],
  ['bad-regex', 'services.reviews.routes[0].match.path.regex', /invalid regular expression "\^\/items\/\(": .+/],
  ['bad-enum', 'services.reviews.loadBalancer', /expected one of round-robin \| random \| least-request \| ring-hash \| peak-ewma, got "least_request" — did you mean "least-request"\?/],
  ['missing-port', 'services.reviews.port', /missing required key "port"/],
  ['missing-protocol', 'services.reviews.protocol', /missing required key "protocol": set it to http or grpc/],
  ['rewrite-without-prefix', 'services.reviews.routes[0].rewrite', /needs match\.path\.prefix/],
  ['two-actions', 'services.reviews.routes[0]', /exactly one action .* this one has backends and directResponse/],
  ['bad-address', 'services.reviews.endpoints[0].address', /expected an address host:port \(IPv6 in brackets: \[::1\]:9081\)/],
  ['hash-on-without-ring-hash', 'services.reviews.hashOn', /only used by loadBalancer: ring-hash \(this service uses least-request\)/],
  ['percent-out-of-range', 'services.reviews.routes[0].mirror.percent', /expected a percentage 0\.\.100, got 150/],
  ['abort-status', 'services.reviews.routes[0].fault.abort.status', /expected an HTTP status 200\.\.599, got 150/],
  ['bad-grpc-method', 'services.ratings.routes[0].match.method', /expected a gRPC method like \/pkg\.Service\/Method/],
  ['bad-retry-condition', 'services.reviews.routes[0].retries.on[1]', /got "connect-failures" — did you mean "connect-failure"\?/],
  ['duplicate-policy-name', 'policies.authorization[1].name', /duplicate authorization policy name "p"/],
  ['header-match-two-kinds', 'services.reviews.routes[0].match.headers.x-user', /set exactly one of exact, prefix, suffix, regex, present, absent, not exact and prefix/],
  ['unknown-policy-target', 'policies.authentication[0].target', /unknown service "reveiws" — did you mean "reviews"\?/],
  ['bad-mtls', 'mesh.mtls', /expected one of disabled \| permissive \| strict, got "on"/],
];

describe('bad mesh.yaml', () => {
  it.each(CASES)('%s: one issue at %s', async (fixture, path, message) => {
    const err = await problems(`bad/${fixture}.yaml`);
    expect(err.code).toBe('ENMESH_ERR_CONFIG_INVALID');
    expect(err.file).toBe(`bad/${fixture}.yaml`);
    expect(err.issues).toHaveLength(1);
    expect(err.issues![0].path).toBe(path);
    expect(err.issues![0].message).toMatch(message);
    expect(err.message).toMatch(new RegExp(`^bad/${fixture}\\.yaml: 1 problem:\\n  - ${escape(path)}: `));
    // Issues found by validation carry the place in the file.
    expect(err.message).toMatch(new RegExp(`\\(bad/${fixture}\\.yaml:\\d+:\\d+\\)$`));
  });

  it('covers every fixture in the folder', async () => {
    const { readdir } = await import('node:fs/promises');
    const files = (await readdir(`${FIXTURES}bad`)).map((f) => f.replace(/\.yaml$/, '')).sort();
    expect(files).toEqual(CASES.map((c) => c[0]).sort());
  });

  it('reports every problem of a document at once, in document order', async () => {
    const err = await problems('multi-error.yaml');
    expect(err.issues!.map((i) => i.path)).toEqual([
      'mesh.mtls',
      'services.reviews.protocol',
      'services.reviews.port',
      'services.reviews.endpoints[0].address',
      'services.reviews.routes[0].backends[0].wieght',
      'services.reviews.routes[0].backends[0].subset',
      'services.reviews.routes[0].timeout',
      'services.ratings.protocol',
    ]);
    expect(err.message.split('\n')[0]).toBe('multi-error.yaml: 8 problems:');
    expect(err.message).toContain('  - services.reviews.port: expected an integer 1..65535, got 0 (multi-error.yaml:6:5)');
    expect(err.issues![4].message).toContain('did you mean "weight"?');
    expect(err.issues![5].message).toContain('unknown subset "v1". Service "reviews" defines no subsets; add one under services.reviews.subsets');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
