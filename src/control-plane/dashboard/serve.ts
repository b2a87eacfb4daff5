/**
 * The operator dashboard on the control plane's admin port: `GET /` (the page),
 * `/ui/app.js`, `/ui/app.css`, and `/ui/mesh.json` (the published model as the
 * page draws it). Everything else the page reads comes from the admin API.
 *
 * The browser script is TypeScript (ui/app.ts). A published package serves the
 * file `npm run build` emitted beside this module; from source, the types are
 * stripped once, on the first request, and the result is kept.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { MeshModel } from '../../model/types.ts';
import type { AdminServer } from '../admin.ts';
import { Reply } from '../admin.ts';
import { meshView } from './mesh-view.ts';

export interface DashboardSources {
  /** The model in force (what clients are served), if one is published. */
  readonly model: () => MeshModel | undefined;
}

/**
 * The page loads only its own files and talks only to its own origin. SVG is
 * built through the DOM and styled through CSSOM, so no inline style or script
 * needs allowing.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset {
  readonly body: string;
  readonly etag: string;
  readonly type: string;
}

const UI_DIR = new URL('./ui/', import.meta.url);

/** The built script beside this module (dist), or else the source with its types stripped. */
async function loadScript(): Promise<string> {
  const built = new URL('app.js', UI_DIR);
  if (existsSync(fileURLToPath(built))) return readFile(built, 'utf8');
  const source = await readFile(new URL('app.ts', UI_DIR), 'utf8');
  const { stripTypeScriptTypes } = await import('node:module');
  // Node flags the API as experimental on first use; in a checkout that is expected, not news for the operator.
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (!String(warning).includes('stripTypeScriptTypes')) Reflect.apply(emitWarning, process, [warning, ...rest]);
  }) as typeof process.emitWarning;
  try {
    return stripTypeScriptTypes(source, { mode: 'strip' });
  } finally {
    process.emitWarning = emitWarning;
  }
}

function asset(body: string, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** Loads an asset on first use and keeps it (or the failure, so a broken install answers the same every time). */
function once(load: () => Promise<Asset>): () => Promise<Asset> {
  let pending: Promise<Asset> | undefined;
  return () => (pending ??= load());
}

function serve(get: () => Promise<Asset>) {
  return async (req: IncomingMessage): Promise<Reply> => {
    const a = await get();
    const headers = {
      'content-type': a.type,
      etag: a.etag,
      // Revalidate every time: a control-plane upgrade changes the files under the same URLs.
      'cache-control': 'no-cache',
      'content-security-policy': DASHBOARD_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    };
    if (req.headers['if-none-match'] === a.etag) return new Reply(304, '', headers);
    return new Reply(200, a.body, headers);
  };
}

/** Registers the dashboard's routes on the admin server. */
export function mountDashboard(admin: AdminServer, src: DashboardSources): void {
  const html = once(async () => asset(await readFile(new URL('index.html', UI_DIR), 'utf8'), 'text/html; charset=utf-8'));
  const css = once(async () => asset(await readFile(new URL('app.css', UI_DIR), 'utf8'), 'text/css; charset=utf-8'));
  const js = once(async () => asset(await loadScript(), 'text/javascript; charset=utf-8'));
  const assets: Readonly<Record<string, (req: IncomingMessage) => Promise<Reply>>> = {
    'app.css': serve(css),
    'app.js': serve(js),
  };
  admin.route('GET', '/', serve(html)).route('GET', '/ui/{asset}', (req, _url, { params }) => {
    const name = params.asset!;
    if (name === 'mesh.json') return meshView(src.model());
    const asset = Object.hasOwn(assets, name) ? assets[name] : undefined;
    return asset === undefined ? new Reply(404, { error: `no such dashboard file: /ui/${name}` }) : asset(req);
  });
}
