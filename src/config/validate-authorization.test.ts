import { describe, expect, it } from 'vitest';
import { isEnmeshError } from '../errors.ts';
import { buildModel } from './validate.ts';

const services = { ratings: { protocol: 'http', port: 9080 } };

function issuesOf(authorization: unknown[]): { path: string; message: string }[] {
  try {
    buildModel({ services, policies: { authorization } }, 'test.yaml');
  } catch (err) {
    if (isEnmeshError(err) && err.issues) return [...err.issues];
    throw err;
  }
  return [];
}

describe('authorization policies: requestPrincipals, headers, when', () => {
  it('reads them into the model', () => {
    const model = buildModel(
      {
        services,
        policies: {
          authorization: [
            {
              name: 'admins',
              target: 'ratings',
              from: [{ requestPrincipals: ['https://issuer.example/*', 'https://other.example/u1'] }, { requestPrincipal: '*' }],
              to: [{ methods: ['get'], headers: { 'X-Canary': 'true', 'x-any': '*' } }],
              when: [
                { key: 'request.auth.claims[groups]', values: ['admin'] },
                { key: 'request.headers[x-region]', notValues: ['eu-test*'] },
              ],
            },
          ],
        },
      },
      'test.yaml',
    );
    expect(model.policies.authorization[0]).toStrictEqual({
      name: 'admins',
      target: 'ratings',
      action: 'allow',
      dryRun: false,
      from: [{ requestPrincipal: 'https://issuer.example/*' }, { requestPrincipal: 'https://other.example/u1' }, { requestPrincipal: '*' }],
      to: [{ methods: ['GET'], paths: [], headers: { 'x-canary': 'true', 'x-any': '*' } }],
      when: [
        { key: 'request.auth.claims[groups]', values: ['admin'] },
        { key: 'request.headers[x-region]', notValues: ['eu-test*'] },
      ],
    });
  });

  it('refuses bad values with the key path and the fix', () => {
    const issues = issuesOf([
      {
        name: 'bad',
        target: 'ratings',
        from: [{ requestPrincipal: 'https://*.example/u' }],
        to: [{ headers: { 'x a': 'v', 'x-b': 'a*b*' } }],
        when: [{ key: 'request.time', values: ['x'] }, { key: 'request.auth.principal' }, { key: 'source.principal', values: [3] }],
      },
    ]);
    const by = Object.fromEntries(issues.map((i) => [i.path, i.message]));
    expect(by['policies.authorization[0].from[0].requestPrincipal']).toMatch(/pattern "https:\/\/\*\.example\/u" is not supported: use an exact value, prefix\*, \*suffix or \*/);
    expect(by['policies.authorization[0].to[0].headers["x a"]']).toMatch(/not a header name/);
    expect(by['policies.authorization[0].to[0].headers.x-b']).toMatch(/is not supported/);
    expect(by['policies.authorization[0].when[0].key']).toMatch(/unknown key "request.time": use request.auth.claims\[name\]/);
    expect(by['policies.authorization[0].when[1]']).toMatch(/needs values or notValues/);
    expect(Object.keys(by)).toContain('policies.authorization[0].when[2].values[0]');
  });
});

describe('authorization patterns the engine cannot match', () => {
  it('are refused at load time with their key path, in paths, principals and services alike', () => {
    const issues = issuesOf([
      {
        name: 'middle',
        target: 'ratings',
        from: [{ principal: 'spiffe://demo.local/*/reviews' }, { services: ['rev*ews'] }],
        to: [{ paths: ['/api/*/items', '/ok/*'] }],
      },
    ]);
    expect(issues.map((i) => i.path)).toEqual([
      'policies.authorization[0].from[0].principal',
      'policies.authorization[0].from[1].services[0]',
      'policies.authorization[0].to[0].paths[0]',
    ]);
    for (const i of issues) expect(i.message).toContain('no * in the middle');
  });
});
