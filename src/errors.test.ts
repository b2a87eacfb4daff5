import { describe, expect, it } from 'vitest';
import { EnmeshError, isEnmeshError } from './errors.ts';

describe('EnmeshError', () => {
  it('is recognised by brand, also across copies', () => {
    const err = new EnmeshError('ENMESH_ERR_CONFIG_INVALID', 'bad', { file: 'mesh.yaml', issues: [{ path: 'a', message: 'b' }] });
    expect(isEnmeshError(err)).toBe(true);
    expect(err.code).toBe('ENMESH_ERR_CONFIG_INVALID');
    expect(err.file).toBe('mesh.yaml');
    const foreign = Object.assign(new Error('x'), { [Symbol.for('enmesh.error')]: true });
    expect(isEnmeshError(foreign)).toBe(true);
    expect(isEnmeshError(new Error('plain'))).toBe(false);
    expect(isEnmeshError(null)).toBe(false);
  });
});
