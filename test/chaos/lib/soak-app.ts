/**
 * The soak application: an enmesh process in local-file mode calling one
 * service at a steady rate while the test rewrites its mesh.yaml.
 *
 *   node --conditions=enmesh-source soak-app.ts <mesh.yaml> <url> <rps>
 *
 * Every second it prints one JSON line: `{"t","rss","heap","heapTotal","external","fds","maxDelayMs",
 * "requests","failed","configs"}` (the event-loop delay is the worst since the
 * previous line). It stops when stdin closes.
 */
import { readdir } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { request } from 'undici';
import { init } from 'enmesh';

const [config = '', url = '', rpsText = '100'] = process.argv.slice(2);
const rps = Number(rpsText);
const mesh = await init({ config });
let configs = 0;
mesh.on('config', () => configs++);
mesh.on('error', () => {});

let requests = 0;
let failed = 0;
let stopped = false;
const started = performance.now();
const loop = (async () => {
  for (let i = 0; !stopped; i++) {
    const wait = started + (i * 1000) / rps - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    requests++;
    request(url, { headersTimeout: 10_000, bodyTimeout: 10_000 }).then(
      async (res) => {
        await res.body.dump();
        if (res.statusCode !== 200) failed++;
      },
      () => void failed++,
    );
  }
})();

const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
const timer = setInterval(async () => {
  const fds = (await readdir('/proc/self/fd')).length;
  const m = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ t: Date.now(), rss: m.rss, heap: m.heapUsed, heapTotal: m.heapTotal, external: m.external, fds, maxDelayMs: delay.max / 1e6, requests, failed, configs })}\n`);
  delay.reset();
}, 1000);

process.stdin.resume();
process.stdin.on('close', async () => {
  stopped = true;
  clearInterval(timer);
  await loop;
  await mesh.close();
  process.exit(0);
});
