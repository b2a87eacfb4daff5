import { describe, expect, it } from 'vitest';
import { closest, configError, describeValue, editDistance, formatPath } from './issues.ts';

describe('formatPath', () => {
  it('joins keys with dots and indexes with brackets', () => {
    expect(formatPath(['services', 'reviews', 'routes', 0, 'backends', 1, 'weight'])).toBe('services.reviews.routes[0].backends[1].weight');
    expect(formatPath(['headers', 'x.y', 'exact'])).toBe('headers["x.y"].exact');
    expect(formatPath([])).toBe('');
  });
});

describe('suggestions', () => {
  it('counts an adjacent swap as one edit', () => {
    expect(editDistance('weigth', 'weight')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('suggests the closest key within a few edits, ignoring case', () => {
    expect(closest('weigth', ['subset', 'service', 'weight'])).toBe('weight');
    expect(closest('loadbalancer', ['loadBalancer', 'hashOn'])).toBe('loadBalancer');
    expect(closest('pot', ['port', 'protocol'])).toBe('port');
    expect(closest('zzzzzz', ['weight'])).toBeUndefined();
    // Short names are all one edit apart; only a case slip is suggested.
    expect(closest('v3', ['v1', 'v2'])).toBeUndefined();
    expect(closest('V1', ['v1', 'v2'])).toBe('v1');
  });
});

describe('configError', () => {
  it('summarises issues under the file name', () => {
    const err = configError('mesh.yaml', [
      { path: 'a.b', message: 'bad', line: 3, column: 5 },
      { path: '', message: 'worse' },
    ]);
    expect(err.code).toBe('ENMESH_ERR_CONFIG_INVALID');
    expect(err.file).toBe('mesh.yaml');
    expect(err.message).toBe('mesh.yaml: 2 problems:\n  - a.b: bad (mesh.yaml:3:5)\n  - (document): worse');
    // Locations live in the message only; issues keep the documented { path, message } shape.
    expect(err.issues).toEqual([
      { path: 'a.b', message: 'bad' },
      { path: '', message: 'worse' },
    ]);
  });
});

describe('describeValue', () => {
  it('renders values for "got ..." messages', () => {
    expect(describeValue('abc')).toBe('"abc"');
    expect(describeValue(5)).toBe('5');
    expect(describeValue(null)).toBe('an empty value');
    expect(describeValue([1])).toBe('a list');
    expect(describeValue({ a: 1 })).toBe('a mapping');
    expect(describeValue('x'.repeat(100))).toHaveLength(62);
  });
});
