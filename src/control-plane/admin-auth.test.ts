import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { actorOf, adminTokenGuard, resolveAdminToken } from './admin-auth.ts';

const req = (method: string, headers: Record<string, string> = {}): IncomingMessage => ({ method, headers }) as unknown as IncomingMessage;

describe('admin token', () => {
  it('takes the given token, else the environment, else generates one', async () => {
    expect(await resolveAdminToken({ token: 'given-token', env: { ENMESH_ADMIN_TOKEN: 'env-token' } })).toEqual({ token: 'given-token', generated: false });
    expect(await resolveAdminToken({ env: { ENMESH_ADMIN_TOKEN: 'env-token' } })).toEqual({ token: 'env-token', generated: false });
    const a = await resolveAdminToken({ env: {} });
    const b = await resolveAdminToken({ env: {} });
    expect(a.generated).toBe(true);
    expect(a.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(a.token).not.toBe(b.token);
    await expect(resolveAdminToken({ token: 'has space' })).rejects.toThrow(/must not contain spaces/);
  });

  it('writes the token file readable by its owner only, even over an existing file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'enmesh-auth-'));
    try {
      const file = join(dir, 'token');
      await writeFile(file, 'old', { mode: 0o644 });
      const { token } = await resolveAdminToken({ file, env: {} });
      expect((await readFile(file, 'utf8')).trim()).toBe(token);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('guards mutating /api/v1 calls only, except the CA signing endpoint', () => {
    const guard = adminTokenGuard('s3cret-token');
    expect(guard(req('GET'), '/api/v1/config')).toBeUndefined();
    expect(guard(req('POST'), '/api/v1/ca/sign')).toBeUndefined();
    expect(guard(req('POST'), '/api/v1/rollback')?.status).toBe(401);
    expect(guard(req('DELETE', { authorization: 'Bearer s3cret-tokem' }), '/api/v1/canaries/reviews')?.body).toEqual({ error: 'wrong admin token' });
    expect(guard(req('PUT', { authorization: 'Basic s3cret-token' }), '/api/v1/config')?.status).toBe(401);
    expect(guard(req('PUT', { authorization: 'bearer s3cret-token' }), '/api/v1/config')).toBeUndefined();
  });

  it('names the actor from x-enmesh-actor, printable and bounded', () => {
    expect(actorOf(req('POST'))).toBe('admin');
    expect(actorOf(req('POST', { 'x-enmesh-actor': ' alice ' }))).toBe('alice');
    expect(actorOf(req('POST', { 'x-enmesh-actor': `bob\u0007${'x'.repeat(200)}` }))).toMatch(/^bob\?x+$/);
    expect(actorOf(req('POST', { 'x-enmesh-actor': 'x'.repeat(200) })).length).toBe(100);
  });
});
