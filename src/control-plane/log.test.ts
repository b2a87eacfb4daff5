import { describe, expect, it } from 'vitest';
import { createMeshFile } from '../../test/helpers/mesh-file.ts';
import { consoleLogger } from './log.ts';
import { startControlPlane } from './server.ts';

const GOOD = 'services:\n  ratings:\n    protocol: http\n    port: 9080\n    endpoints: [{ address: 127.0.0.1:9081 }]\n';
/** Two problems: the rejection lists one per line. */
const BAD = 'services:\n  ratings:\n    protocol: smtp\n    port: 9080\n    retryPolicy: {}\n    endpoints: [{ address: 127.0.0.1:9081 }]\n';

describe('consoleLogger', () => {
  it('writes each entry as one line, line breaks in the message escaped', () => {
    const written: string[] = [];
    const log = consoleLogger('enmesh test', (t) => written.push(t));
    log.error('config rejected:\n  - a: bad\r\n  - b: worse');
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^\S+ error enmesh test: config rejected:\\n {2}- a: bad\\n {2}- b: worse\n$/);
  });

  it("keeps a rejected config's multi-line message on one line of the control plane's log", async () => {
    const file = await createMeshFile(GOOD);
    const written: string[] = [];
    const cp = await startControlPlane({ config: file.path, xdsPort: 0, adminPort: 0, startupHoldMs: 0, ca: false, adminToken: 't', log: consoleLogger('enmesh control-plane', (t) => written.push(t)) });
    try {
      await file.write(BAD);
      const deadline = Date.now() + 5000;
      while (cp.configError() === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const message = cp.configError()?.message ?? '';
      expect(message.split('\n').length).toBeGreaterThan(2);
      const rejected = written.filter((t) => t.includes('rejected, still serving'));
      expect(rejected).toHaveLength(1);
      expect(rejected[0]!.indexOf('\n')).toBe(rejected[0]!.length - 1);
      expect(rejected[0]).toContain('services.ratings.protocol');
      expect(rejected[0]).toContain('services.ratings.retryPolicy');
      for (const t of written) expect(t.indexOf('\n')).toBe(t.length - 1);
    } finally {
      await cp.close();
      await file.remove();
    }
  });
});
