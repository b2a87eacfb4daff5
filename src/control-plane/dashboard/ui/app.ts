/**
 * The enmesh operator dashboard: one page, plain DOM and SVG, live over the
 * admin API's event stream (`/api/v1/events`), or by polling the GET endpoints
 * when the stream is not available.
 *
 * Everything is drawn from `state`; each section redraws only when its data
 * changed, and controls being used (a dragged slider) are never replaced under
 * the pointer.
 */

// ---- API shapes (docs/dashboard.md, the admin API contract) -----------------

interface Latency {
  meanMs: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
}
interface Traffic {
  requests: number;
  requestsPerSecond: number;
  successRate: number | null;
  inProgress: number;
  droppedPerSecond: number;
  latency: Latency;
}
interface ServiceLoad extends Traffic {
  service: string;
}
interface EdgeLoad extends Traffic {
  source: string;
  destination: string;
}
interface LoadBody {
  intervalMs?: number;
  windowMs: number;
  services: ServiceLoad[];
  edges: EdgeLoad[];
}
interface Fault {
  delay?: { percent: number; durationMs: number };
  abort?: { percent: number; status: number };
}
interface BackendView {
  key: string;
  service: string;
  subset: string | null;
  weight: number;
}
interface RouteView {
  name: string;
  backends: BackendView[];
  match: string;
  timeoutMs: number;
  retries: number;
  fault: Fault | null;
}
interface EndpointView {
  address: string;
  labels: Record<string, string>;
  zone: string;
  weight: number;
  healthy: boolean;
  origin: string;
  drained: boolean;
}
interface ServiceView {
  name: string;
  protocol: string;
  port: number;
  loadBalancer: string;
  endpoints: EndpointView[];
  routes: RouteView[];
  rateLimit: { requestsPerSecond: number; burst: number; scope: string } | null;
  outlierDetection: boolean;
  circuitBreaker: boolean;
}
interface MeshView {
  modelVersion: string | null;
  mesh: string | null;
  services: ServiceView[];
}
interface TypeView {
  sentVersion: string;
  ackedVersion: string;
  lastNack: { version: string; error: string; at: string } | null;
}
interface ClientView {
  id: string;
  kind: string;
  nodeId: string;
  cluster: string;
  snapshotVersion: string;
  registration: string | null;
  types: Record<string, TypeView>;
}
interface AuditEntry {
  id: string | number;
  at: string;
  actor: string;
  action: string;
  target: string;
  version: string | null;
  diff: string;
  result: 'applied' | 'rejected';
  error?: string;
}
interface PolicyState {
  services: { service: string; openBreakers: { reporter: string; cluster: string }[]; ejected: { address: string; reporters: string[] }[] }[];
}
interface Canary {
  service: string;
  from: string;
  to: string;
  route: string;
  steps: number[];
  step: number;
  weight: number;
  state: string;
  reason?: string;
}
interface ApiError {
  error: string;
  issues?: { path: string; message: string }[];
}

// ---- state ------------------------------------------------------------------

/** Samples kept per sparkline: two minutes of 2 s load updates. */
const HISTORY = 60;

interface Series {
  rps: number[];
  success: number[];
  p99: number[];
}

const state = {
  mesh: null as MeshView | null,
  load: null as LoadBody | null,
  clients: [] as ClientView[],
  audit: [] as AuditEntry[],
  auditAvailable: true,
  policy: null as PolicyState | null,
  canaries: new Map<string, Canary>(),
  history: new Map<string, Series>(),
  selected: null as string | null,
  token: null as string | null,
  /** Weights sent for a route (`service/route`) and not yet seen in the model. */
  pending: new Map<string, { weights: Record<string, number>; at: number }>(),
};

// ---- DOM helpers ------------------------------------------------------------

type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined>;

function setAttrs(el: Element, attrs: Attrs | null | undefined): void {
  if (!attrs) return;
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag: string, attrs?: Attrs | null, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag) as SVGElement;
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`dashboard: #${id} missing from the page`);
  return el as T;
}

// ---- formatting -------------------------------------------------------------

function fmtRps(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}
function fmtPct(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  const p = v * 100;
  return `${p >= 99.95 ? '100' : p.toFixed(1)}%`;
}
function fmtMs(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : v >= 10 ? `${v.toFixed(0)} ms` : `${v.toFixed(1)} ms`;
}
function fmtTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleTimeString();
}
function shortVersion(v: string | null | undefined): string {
  if (!v) return '–';
  return v.length > 12 ? v.slice(0, 12) : v;
}
function successClass(rate: number | null): string {
  if (rate === null) return 'idle';
  return rate >= 0.99 ? 'ok' : rate >= 0.95 ? 'warn' : 'bad';
}
/** A label that fits `max` characters, with the full text kept for the tooltip. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
/** Calls from processes that run no named service report an empty source. */
function nodeName(service: string): string {
  return service === '' ? '(unnamed client)' : service;
}

// ---- API access -------------------------------------------------------------

class HttpError extends Error {
  readonly status: number;
  readonly body: ApiError | null;
  constructor(status: number, body: ApiError | null, fallback: string) {
    super(body?.error ?? fallback);
    this.status = status;
    this.body = body;
  }
}

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  if (!res.ok) throw new HttpError(res.status, (await res.json().catch(() => null)) as ApiError | null, `${path}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

async function send(method: 'POST' | 'PUT' | 'DELETE', path: string, body: unknown): Promise<unknown> {
  if (state.token === null) throw new Error('read-only: open the dashboard with #token=<admin token> to make changes');
  const res = await fetch(path, {
    method,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${state.token}`, 'x-enmesh-actor': 'dashboard' },
    body: JSON.stringify(body),
  });
  const parsed = (await res.json().catch(() => null)) as ApiError | null;
  if (!res.ok) {
    if (res.status === 401) throw new HttpError(401, parsed, 'the admin token was refused; open the dashboard with a valid #token=');
    throw new HttpError(res.status, parsed, `${method} ${path}: HTTP ${res.status}`);
  }
  return parsed;
}

function servicePath(service: string): string {
  return `/api/v1/services/${encodeURIComponent(service)}`;
}

// ---- toast ------------------------------------------------------------------

let toastTimer: ReturnType<typeof setTimeout> | undefined;
function toast(message: string, kind: 'ok' | 'error'): void {
  const el = byId('toast');
  el.textContent = message;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), kind === 'error' ? 8000 : 3000);
}
function failed(what: string, err: unknown): void {
  let text = `${what}: ${err instanceof Error ? err.message : String(err)}`;
  if (err instanceof HttpError && err.body?.issues) text += ` (${err.body.issues.map((i) => `${i.path}: ${i.message}`).join('; ')})`;
  toast(text, 'error');
}

// ---- token ------------------------------------------------------------------

/** The admin token comes in the URL fragment (never sent to a server), then lives in sessionStorage. */
function readToken(): void {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m !== null) {
    state.token = decodeURIComponent(m[1]!);
    sessionStorage.setItem('enmesh-admin-token', state.token);
    // Keep the token out of the address bar and history.
    history.replaceState(null, '', location.pathname + location.search);
  } else {
    state.token = sessionStorage.getItem('enmesh-admin-token');
  }
  document.body.classList.toggle('read-only', state.token === null);
  byId('access').textContent = state.token === null ? 'read-only — open the dashboard URL with #token=<admin token> to change routes and policies' : '';
}

// ---- topology graph ---------------------------------------------------------

const NODE_W = 150;
const NODE_H = 38;
/** Room between tiers for the edges and their labels; more when the panel is wide. */
const MIN_COL_GAP = 150;
const MAX_COL_GAP = 320;
const ROW_GAP = 16;
const PAD = 16;
const LABEL_H = 15;
/** Where along an edge its label may go, best first. */
const LABEL_SPOTS = [0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78];
/** Nodes without traffic are laid out in rows of this many below the call graph. */
const IDLE_COLS = 6;

interface Placed {
  x: number;
  y: number;
}
interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/**
 * Layers by longest call path from the callers (cycles are cut by bounding the
 * relaxation), rows ordered by the mean row of each node's callers so edges
 * cross less. Services with no traffic go in a grid underneath.
 */
function layout(names: string[], edges: EdgeLoad[], room: number): { pos: Map<string, Placed>; width: number; height: number } {
  const connected = new Set<string>();
  for (const e of edges) {
    if (e.source === e.destination) continue;
    connected.add(nodeName(e.source));
    connected.add(nodeName(e.destination));
  }
  const layer = new Map<string, number>();
  for (const n of connected) layer.set(n, 0);
  for (let pass = 0; pass < connected.size; pass++) {
    let changed = false;
    for (const e of edges) {
      const a = nodeName(e.source);
      const b = nodeName(e.destination);
      if (a === b) continue;
      const want = layer.get(a)! + 1;
      if (want > layer.get(b)! && want < connected.size) {
        layer.set(b, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  const columns: string[][] = [];
  for (const n of [...connected].sort()) (columns[layer.get(n)!] ??= []).push(n);
  const dense = columns.filter((c) => c !== undefined);
  const row = new Map<string, number>();
  dense[0]?.forEach((n, i) => row.set(n, i));
  const callers = new Map<string, string[]>();
  for (const e of edges) {
    const b = nodeName(e.destination);
    (callers.get(b) ?? callers.set(b, []).get(b)!).push(nodeName(e.source));
  }
  for (let c = 1; c < dense.length; c++) {
    const col = dense[c]!;
    const key = (n: string): number => {
      const rows = (callers.get(n) ?? []).map((p) => row.get(p)).filter((r): r is number => r !== undefined);
      return rows.length === 0 ? Infinity : rows.reduce((a, b) => a + b, 0) / rows.length;
    };
    col.sort((a, b) => key(a) - key(b) || a.localeCompare(b));
    col.forEach((n, i) => row.set(n, i));
  }
  const pos = new Map<string, Placed>();
  const gap = dense.length < 2 ? MIN_COL_GAP : Math.max(MIN_COL_GAP, Math.min(MAX_COL_GAP, (room - 2 * PAD - dense.length * NODE_W) / (dense.length - 1)));
  const tallest = Math.max(0, ...dense.map((c) => c.length));
  const graphH = tallest * (NODE_H + ROW_GAP);
  dense.forEach((col, c) => {
    // Centre shorter columns against the tallest one.
    const offset = (graphH - col.length * (NODE_H + ROW_GAP)) / 2;
    col.forEach((n, i) => pos.set(n, { x: PAD + c * (NODE_W + gap), y: PAD + offset + i * (NODE_H + ROW_GAP) }));
  });
  const idle = names.filter((n) => !connected.has(n)).sort();
  const idleTop = PAD + graphH + (graphH > 0 && idle.length > 0 ? 24 : 0);
  idle.forEach((n, i) => pos.set(n, { x: PAD + (i % IDLE_COLS) * (NODE_W + 24), y: idleTop + Math.floor(i / IDLE_COLS) * (NODE_H + ROW_GAP) }));
  const width = Math.max(dense.length * (NODE_W + gap) - gap, idle.length > 0 ? Math.min(idle.length, IDLE_COLS) * (NODE_W + 24) - 24 : 0) + 2 * PAD;
  const height = idleTop + Math.ceil(idle.length / IDLE_COLS) * (NODE_H + ROW_GAP) + PAD;
  return { pos, width, height };
}

function bezierPoint(p0: number, p1: number, p2: number, p3: number, t: number): number {
  const u = 1 - t;
  return u * u * u * p0 + 3 * u * u * t * p1 + 3 * u * t * t * p2 + t * t * t * p3;
}

/** What a node says under its name: the traffic it receives, or else what it sends. */
function nodeStats(load: ServiceLoad | undefined, out: number | undefined): string {
  if (load !== undefined) return `${fmtRps(load.requestsPerSecond)}/s · ${fmtPct(load.successRate)}`;
  return out === undefined ? 'no traffic' : `calls ${fmtRps(out)}/s`;
}

function renderGraph(): void {
  const host = byId('graph');
  const loadByService = new Map((state.load?.services ?? []).map((v) => [v.service, v] as const));
  const edges = state.load?.edges ?? [];
  const names = new Set<string>((state.mesh?.services ?? []).map((sv) => sv.name));
  for (const e of edges) {
    names.add(nodeName(e.source));
    names.add(nodeName(e.destination));
  }
  if (names.size === 0) {
    host.replaceChildren(h('p', { class: 'muted' }, 'No services yet.'));
    return;
  }
  const { pos, width, height } = layout([...names], edges, host.clientWidth);
  const svg = s('svg', { width, height, viewBox: `0 0 ${width} ${height}`, class: 'topology', role: 'img', 'aria-label': 'service call graph' });
  svg.append(
    s('defs', null, s('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 8, markerHeight: 8, markerUnits: 'userSpaceOnUse', orient: 'auto-start-reverse' }, s('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))),
  );
  const edgeLayer = s('g', { class: 'edges' });
  const labelLayer = s('g', { class: 'edge-labels' });
  const nodeLayer = s('g', { class: 'nodes' });
  const taken: Box[] = [...pos.values()].map((p) => ({ x: p.x - 4, y: p.y - 4, w: NODE_W + 8, h: NODE_H + 8 }));
  const maxRps = Math.max(1, ...edges.map((e) => e.requestsPerSecond));
  for (const e of [...edges].sort((a, b) => b.requestsPerSecond - a.requestsPerSecond)) {
    const a = pos.get(nodeName(e.source));
    const b = pos.get(nodeName(e.destination));
    if (a === undefined || b === undefined) continue;
    let d: string;
    let at: (t: number) => [number, number];
    if (a === b) {
      const x = a.x + NODE_W - 20;
      const y = a.y;
      d = `M${x},${y} C${x + 10},${y - 40} ${x + 50},${y - 10} ${a.x + NODE_W},${y + 12}`;
      at = () => [x + 40, y - 26];
    } else {
      const forward = b.x > a.x;
      const x0 = forward ? a.x + NODE_W : a.x + NODE_W / 2;
      const y0 = forward ? a.y + NODE_H / 2 : a.y + NODE_H;
      const x3 = forward ? b.x : b.x + NODE_W / 2;
      const y3 = forward ? b.y + NODE_H / 2 : b.y + NODE_H;
      const bend = forward ? (x3 - x0) / 2 : 0;
      const drop = forward ? 0 : 60;
      const c1 = [x0 + bend, y0 + drop] as const;
      const c2 = [x3 - bend, y3 + drop] as const;
      d = `M${x0},${y0} C${c1[0]},${c1[1]} ${c2[0]},${c2[1]} ${x3},${y3}`;
      at = (t) => [bezierPoint(x0, c1[0], c2[0], x3, t), bezierPoint(y0, c1[1], c2[1], y3, t)];
    }
    const cls = successClass(e.successRate);
    const title = `${nodeName(e.source)} → ${nodeName(e.destination)}: ${fmtRps(e.requestsPerSecond)} req/s, success ${fmtPct(e.successRate)}, p50 ${fmtMs(e.latency.p50Ms)}, p99 ${fmtMs(e.latency.p99Ms)}`;
    const widthPx = 1.2 + 4 * Math.sqrt(e.requestsPerSecond / maxRps);
    const path = s('path', { d, class: `edge ${cls}`, 'marker-end': 'url(#arrow)', 'data-source': e.source, 'data-destination': e.destination }, s('title', null, title));
    path.style.strokeWidth = `${widthPx.toFixed(1)}px`;
    edgeLayer.append(path);
    // Place the label at the first spot along the edge that is free of nodes and other labels.
    const text = `${fmtRps(e.requestsPerSecond)}/s ${fmtPct(e.successRate)} p99 ${fmtMs(e.latency.p99Ms).replace(' ', '')}`;
    const w = text.length * 6 + 8;
    let placed: Box | undefined;
    search: for (const t of LABEL_SPOTS) {
      const [cx, cy] = at(t);
      for (const dy of [0, -LABEL_H / 2 - 1, LABEL_H / 2 + 1]) {
        const box = { x: cx - w / 2, y: cy - LABEL_H / 2 + dy, w, h: LABEL_H };
        if (!taken.some((o) => overlaps(o, box))) {
          placed = box;
          break search;
        }
      }
    }
    if (placed === undefined) {
      // Crowded: the numbers stay in the edge's tooltip.
      path.classList.add('crowded');
      continue;
    }
    taken.push(placed);
    labelLayer.append(
      s(
        'g',
        { class: `edge-label ${cls}`, 'data-source': e.source, 'data-destination': e.destination },
        s('rect', { x: placed.x, y: placed.y, width: placed.w, height: placed.h, rx: 3 }),
        s('text', { x: placed.x + placed.w / 2, y: placed.y + LABEL_H - 4, 'text-anchor': 'middle' }, text),
        s('title', null, title),
      ),
    );
  }
  const policy = new Map((state.policy?.services ?? []).map((p) => [p.service, p] as const));
  const outbound = new Map<string, number>();
  for (const e of edges) outbound.set(nodeName(e.source), (outbound.get(nodeName(e.source)) ?? 0) + e.requestsPerSecond);
  for (const [name, p] of pos) {
    const load = loadByService.get(name);
    const ps = policy.get(name);
    const trouble = (ps?.openBreakers.length ?? 0) > 0 || (ps?.ejected.length ?? 0) > 0;
    const g = s(
      'g',
      {
        class: `node ${successClass(load?.successRate ?? null)}${name === state.selected ? ' selected' : ''}${trouble ? ' trouble' : ''}`,
        'data-service': name,
        transform: `translate(${p.x},${p.y})`,
        tabindex: 0,
      },
      s('rect', { width: NODE_W, height: NODE_H, rx: 6 }),
      s('text', { x: 10, y: 16, class: 'node-name' }, name),
      s('text', { x: 10, y: 31, class: 'node-stats' }, nodeStats(load, outbound.get(name))),
      s('title', null, name),
    );
    g.addEventListener('click', () => select(name));
    g.addEventListener('keydown', (ev) => {
      if ((ev as KeyboardEvent).key === 'Enter') select(name);
    });
    nodeLayer.append(g);
  }
  svg.append(edgeLayer, nodeLayer, labelLayer);
  // The graph is drawn anew on each load update: keyboard focus stays on the same service's node.
  const focused = document.activeElement instanceof SVGElement && host.contains(document.activeElement) ? document.activeElement.closest('g.node')?.getAttribute('data-service') : undefined;
  host.replaceChildren(svg);
  if (focused != null) for (const g of nodeLayer.querySelectorAll<SVGGElement>('g.node')) if (g.getAttribute('data-service') === focused) g.focus();
  // Names are shortened by what they measure in the font in use, not by a character count.
  for (const el of nodeLayer.querySelectorAll<SVGTextElement>('text.node-name')) fitText(el, NODE_W - 18);
}

function fitText(el: SVGTextElement, maxWidth: number): void {
  const full = el.textContent ?? '';
  let n = full.length;
  while (n > 1 && el.getComputedTextLength() > maxWidth) el.textContent = `${full.slice(0, --n)}…`;
}

// ---- services table -----------------------------------------------------------

function sparkline(values: number[], fixedMax?: number): SVGElement {
  const W = 84;
  const H = 22;
  // The background spans the whole two minutes, so a young or steady series still reads as a time line.
  const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'spark' }, s('rect', { width: W, height: H, rx: 2, class: 'spark-bg' }));
  if (values.length < 2) return svg;
  const max = fixedMax ?? Math.max(...values);
  const min = fixedMax === undefined ? Math.min(...values) : 0;
  const span = max - min || 1;
  const step = W / (HISTORY - 1);
  const x0 = W - (values.length - 1) * step;
  const pts = values.map((v, i) => `${(x0 + i * step).toFixed(1)},${(H - 2 - ((v - min) / span) * (H - 4)).toFixed(1)}`).join(' ');
  const last = pts.slice(pts.lastIndexOf(' ') + 1).split(',');
  svg.append(s('polyline', { points: pts }), s('circle', { cx: last[0], cy: last[1], r: 1.8 }));
  return svg;
}

function pushHistory(load: LoadBody): void {
  const seen = new Set<string>();
  for (const v of load.services) {
    seen.add(v.service);
    let series = state.history.get(v.service);
    if (series === undefined) state.history.set(v.service, (series = { rps: [], success: [], p99: [] }));
    series.rps.push(v.requestsPerSecond);
    series.success.push(v.successRate ?? 1);
    series.p99.push(v.latency.p99Ms ?? 0);
    for (const k of ['rps', 'success', 'p99'] as const) if (series[k].length > HISTORY) series[k].shift();
  }
  // A service that went quiet keeps its line, falling to zero.
  for (const [name, series] of state.history) {
    if (seen.has(name)) continue;
    series.rps.push(0);
    if (series.rps.length > HISTORY) series.rps.shift();
  }
}

function renderServices(): void {
  const tbody = byId<HTMLTableElement>('services').tBodies[0]!;
  const loadBy = new Map((state.load?.services ?? []).map((v) => [v.service, v] as const));
  const policy = new Map((state.policy?.services ?? []).map((p) => [p.service, p] as const));
  const names = [...(state.mesh?.services ?? []).map((sv) => sv.name)];
  for (const v of state.load?.services ?? []) if (!names.includes(v.service)) names.push(v.service);
  const rows = names.map((name) => {
    const sv = state.mesh?.services.find((x) => x.name === name);
    const l = loadBy.get(name);
    const hist = state.history.get(name);
    const ps = policy.get(name);
    const healthy = sv?.endpoints.filter((e) => e.healthy && !e.drained).length ?? 0;
    const badges: Child[] = [];
    if (ps && ps.openBreakers.length > 0) badges.push(h('span', { class: 'badge bad' }, `breaker open ×${ps.openBreakers.length}`));
    if (ps && ps.ejected.length > 0) badges.push(h('span', { class: 'badge warn' }, `ejected ×${ps.ejected.length}`));
    if (sv?.rateLimit) badges.push(h('span', { class: 'badge' }, `limit ${sv.rateLimit.requestsPerSecond}/s`));
    if (sv?.routes.some((r) => r.fault)) badges.push(h('span', { class: 'badge warn' }, 'fault'));
    const canary = state.canaries.get(name);
    if (canary && canary.state === 'progressing') badges.push(h('span', { class: 'badge' }, `canary ${canary.weight}%`));
    const tr = h(
      'tr',
      { 'data-service': name, class: name === state.selected ? 'selected' : null, tabindex: 0 },
      h('td', { class: 'name' }, h('span', { class: `dot ${successClass(l?.successRate ?? null)}` }), name, h('small', { class: 'muted' }, sv ? ` ${sv.protocol}` : '')),
      h('td', null, sv ? `${healthy}/${sv.endpoints.length}` : '–'),
      h('td', { class: 'num rps' }, fmtRps(l?.requestsPerSecond)),
      h('td', { class: 'spark-cell' }, sparkline(hist?.rps ?? [])),
      h('td', { class: 'num success' }, fmtPct(l?.successRate)),
      h('td', { class: 'spark-cell' }, sparkline(hist?.success ?? [], 1)),
      h('td', { class: 'num' }, fmtMs(l?.latency.p50Ms)),
      h('td', { class: 'num p99' }, fmtMs(l?.latency.p99Ms)),
      h('td', { class: 'spark-cell' }, sparkline(hist?.p99 ?? [])),
      h('td', { class: 'badges' }, ...badges),
    );
    tr.addEventListener('click', () => select(name));
    tr.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') select(name);
    });
    return tr;
  });
  tbody.replaceChildren(...rows);
}

// ---- service detail: endpoints, routes, policies ------------------------------

function select(name: string): void {
  state.selected = name;
  renderGraph();
  renderServices();
  renderDetail(true);
}

/** True while the operator is dragging a slider or typing in the detail panel. */
let interacting = false;
/** A redraw was held back while the operator was busy; done when they let go. */
let detailStale = false;

function beginInteraction(): void {
  interacting = true;
}
function endInteraction(): void {
  interacting = false;
  // Later, not now: leaving a field for a checkbox must not replace the checkbox under the click.
  setTimeout(() => {
    if (!interacting && detailStale) renderDetail();
  }, 300);
}

function renderDetail(force = false): void {
  const host = byId('detail');
  if (interacting && !force) {
    detailStale = true;
    return;
  }
  detailStale = false;
  const name = state.selected;
  const sv = state.mesh?.services.find((x) => x.name === name);
  if (name === null || sv === undefined) {
    host.replaceChildren(h('p', { class: 'muted' }, name === null ? 'Select a service to see its endpoints, routes and policies.' : `${name} is not in the mesh config (it only calls others).`));
    return;
  }
  host.replaceChildren(
    h('h2', null, sv.name, ' ', h('small', { class: 'muted' }, `${sv.protocol} · port ${sv.port} · ${sv.loadBalancer}`)),
    endpointsSection(sv),
    routesSection(sv),
    rateLimitSection(sv),
  );
  const canary = canarySection(sv);
  if (canary !== null) host.append(canary);
}

function endpointsSection(sv: ServiceView): HTMLElement {
  const ps = state.policy?.services.find((p) => p.service === sv.name);
  const ejected = new Map((ps?.ejected ?? []).map((e) => [e.address, e.reporters] as const));
  const rows = sv.endpoints.map((e) => {
    const by = ejected.get(e.address);
    // A drained endpoint is also published unhealthy: say why.
    const health = e.drained ? h('span', { class: 'badge warn' }, 'drained') : !e.healthy ? h('span', { class: 'badge bad' }, 'unhealthy') : h('span', { class: 'badge ok' }, 'healthy');
    const btn = h('button', { type: 'button', class: 'small needs-token', 'data-endpoint': e.address }, e.drained ? 'undrain' : 'drain');
    btn.addEventListener('click', () => {
      btn.disabled = true;
      send('POST', `${servicePath(sv.name)}/endpoints/${encodeURIComponent(e.address)}/drain`, { drained: !e.drained }).then(
        () => toast(`${e.address} ${e.drained ? 'undrained' : 'drained'}`, 'ok'),
        (err) => {
          btn.disabled = false;
          failed(`drain ${e.address}`, err);
        },
      );
    });
    return h(
      'tr',
      { 'data-endpoint': e.address },
      h('td', { class: 'mono' }, e.address),
      h('td', null, Object.entries(e.labels).map(([k, v]) => `${k}=${v}`).join(' ') || '–'),
      h('td', null, e.zone || '–'),
      h('td', null, health),
      h('td', null, by ? h('span', { class: 'badge warn', title: `ejected by ${by.join(', ')}` }, `ejected (${by.length})`) : '–'),
      h('td', { class: 'muted' }, e.origin),
      h('td', null, btn),
    );
  });
  const breakers = ps && ps.openBreakers.length > 0
    ? h('p', { class: 'bad-text' }, `circuit breaker open at ${ps.openBreakers.map((b) => b.reporter).join(', ')}`)
    : h('p', { class: 'muted' }, sv.circuitBreaker ? 'circuit breaker closed everywhere' : 'no circuit breaker configured');
  return h(
    'div',
    { class: 'section' },
    h('h3', null, `Endpoints (${sv.endpoints.length})`),
    sv.endpoints.length === 0
      ? h('p', { class: 'muted' }, 'no endpoints')
      : h('table', { class: 'grid compact' }, h('thead', null, h('tr', null, h('th', null, 'address'), h('th', null, 'labels'), h('th', null, 'zone'), h('th', null, 'health'), h('th', null, 'outlier'), h('th', null, 'origin'), h('th'))), h('tbody', null, ...rows)),
    breakers,
  );
}

function routeKey(service: string, route: string): string {
  return `${service}/${route}`;
}

function splitBar(backends: BackendView[], weights: Record<string, number>): HTMLElement {
  const total = backends.reduce((a, b) => a + (weights[b.key] ?? 0), 0) || 1;
  const bar = h('div', { class: 'split-bar' });
  backends.forEach((b, i) => {
    const share = ((weights[b.key] ?? 0) / total) * 100;
    const seg = h('span', { class: `seg seg${i % 6}`, title: `${b.key}: ${weights[b.key]}` }, share >= 12 ? `${b.key} ${share.toFixed(0)}%` : '');
    seg.style.width = `${share}%`;
    bar.append(seg);
  });
  return bar;
}

const debounceTimers = new Map<string, ReturnType<typeof setTimeout>>();
function debounce(key: string, ms: number, fn: () => void): void {
  clearTimeout(debounceTimers.get(key));
  debounceTimers.set(key, setTimeout(fn, ms));
}

function routesSection(sv: ServiceView): HTMLElement {
  const items = sv.routes.map((r) => {
    const key = routeKey(sv.name, r.name);
    const inForce = Object.fromEntries(r.backends.map((b) => [b.key, b.weight]));
    const pending = state.pending.get(key);
    const shown = pending?.weights ?? inForce;
    const box = h('div', { class: 'route', 'data-route': r.name });
    box.append(
      h('div', { class: 'route-head' }, h('strong', null, r.name), h('span', { class: 'muted' }, ` ${r.match}`), r.timeoutMs > 0 ? h('span', { class: 'muted' }, ` · timeout ${fmtMs(r.timeoutMs)}`) : null, r.retries > 0 ? h('span', { class: 'muted' }, ` · ${r.retries} retries`) : null),
    );
    if (r.backends.length === 0) {
      box.append(h('p', { class: 'muted' }, 'redirect or direct response'));
    } else {
      const bar = splitBar(r.backends, shown);
      const status = h('span', { class: 'split-status muted' }, pending ? 'sent, waiting for the new config…' : 'in force');
      box.append(bar);
      if (r.backends.length === 2) {
        const [a, b] = r.backends as [BackendView, BackendView];
        const total = (shown[a.key] ?? 0) + (shown[b.key] ?? 0) || 1;
        const value = Math.round(((shown[b.key] ?? 0) / total) * 100);
        const label = h('span', { class: 'split-label' }, `${a.key} ${100 - value} / ${b.key} ${value}`);
        const slider = h('input', { type: 'range', min: 0, max: 100, step: 1, value, class: 'weight-slider needs-token', 'aria-label': `${r.name}: share of ${b.key} (%)`, 'data-route': r.name });
        slider.disabled = state.token === null;
        slider.addEventListener('pointerdown', beginInteraction);
        slider.addEventListener('pointerup', endInteraction);
        slider.addEventListener('pointercancel', endInteraction);
        slider.addEventListener('input', () => {
          const v = Number(slider.value);
          const weights = { [a.key]: 100 - v, [b.key]: v };
          // Pending from the first move, so a redraw meanwhile keeps the operator's value.
          state.pending.set(key, { weights, at: Date.now() });
          label.textContent = `${a.key} ${100 - v} / ${b.key} ${v}`;
          splitBarInto(bar, r.backends, weights);
          status.textContent = 'sending…';
          debounce(key, 300, () => {
            state.pending.set(key, { weights, at: Date.now() });
            send('POST', `${servicePath(sv.name)}/routes/${encodeURIComponent(r.name)}/weights`, { weights }).then(
              () => {
                status.textContent = 'sent, waiting for the new config…';
                // The stream may be down: look for the new model ourselves too.
                void refreshMesh();
              },
              (err) => {
                state.pending.delete(key);
                failed(`weights of ${sv.name}/${r.name}`, err);
                // Back to the split in force.
                renderDetail();
              },
            );
          });
        });
        box.append(h('div', { class: 'slider-row' }, h('span', null, a.key), slider, h('span', null, b.key), label));
      } else if (r.backends.length > 2) {
        box.append(h('div', { class: 'muted' }, r.backends.map((b) => `${b.key} ${shown[b.key] ?? 0}`).join(' / ')));
      }
      box.append(status);
    }
    box.append(faultControls(sv, r));
    return box;
  });
  return h('div', { class: 'section' }, h('h3', null, 'Routes'), ...items);
}

/** Redraws a split bar in place (the same element, so the slider's neighbours do not move). */
function splitBarInto(bar: HTMLElement, backends: BackendView[], weights: Record<string, number>): void {
  bar.replaceChildren(...splitBar(backends, weights).childNodes);
}

function numberInput(name: string, value: number, min: number, max: number, step = 1): HTMLInputElement {
  const input = h('input', { type: 'number', name, value, min, max, step, class: 'num-input needs-token' });
  input.disabled = state.token === null;
  input.addEventListener('focus', beginInteraction);
  input.addEventListener('blur', endInteraction);
  return input;
}

function faultControls(sv: ServiceView, r: RouteView): HTMLElement {
  const f = r.fault;
  const on = h('input', { type: 'checkbox', class: 'needs-token fault-toggle', checked: f !== null });
  on.disabled = state.token === null;
  const delayPct = numberInput('delay-percent', f?.delay?.percent ?? 0, 0, 100);
  const delayMs = numberInput('delay-ms', f?.delay?.durationMs ?? 100, 0, 600_000);
  const abortPct = numberInput('abort-percent', f?.abort?.percent ?? 0, 0, 100);
  const abortStatus = numberInput('abort-status', f?.abort?.status ?? 503, 200, 599);
  const apply = (): void => {
    const body = on.checked
      ? {
          ...(Number(delayPct.value) > 0 ? { delay: { percent: Number(delayPct.value), duration: `${Number(delayMs.value)}ms` } } : {}),
          ...(Number(abortPct.value) > 0 ? { abort: { percent: Number(abortPct.value), status: Number(abortStatus.value) } } : {}),
        }
      : { enabled: false };
    if (on.checked && !('delay' in body) && !('abort' in body)) {
      toast('set a delay or abort percentage above 0 first', 'error');
      on.checked = false;
      return;
    }
    send('POST', `${servicePath(sv.name)}/routes/${encodeURIComponent(r.name)}/fault`, body).then(
      () => toast(`fault on ${sv.name}/${r.name} ${on.checked ? 'enabled' : 'disabled'}`, 'ok'),
      (err) => {
        on.checked = !on.checked;
        failed(`fault on ${sv.name}/${r.name}`, err);
      },
    );
  };
  on.addEventListener('change', apply);
  return h(
    'div',
    { class: 'policy-row fault' },
    h('label', null, on, ' fault injection'),
    h('span', { class: 'fields' }, 'delay ', delayPct, '% × ', delayMs, 'ms · abort ', abortPct, '% with ', abortStatus),
  );
}

function rateLimitSection(sv: ServiceView): HTMLElement {
  const rl = sv.rateLimit;
  const on = h('input', { type: 'checkbox', class: 'needs-token rate-limit-toggle', checked: rl !== null });
  on.disabled = state.token === null;
  const rps = numberInput('rps', rl?.requestsPerSecond ?? 100, 1, 1_000_000);
  const burst = numberInput('burst', rl?.burst ?? 20, 0, 1_000_000);
  on.addEventListener('change', () => {
    const body = on.checked ? { requestsPerSecond: Number(rps.value), burst: Number(burst.value), scope: rl?.scope ?? 'local' } : { enabled: false };
    send('POST', `${servicePath(sv.name)}/rate-limit`, body).then(
      () => toast(`rate limit of ${sv.name} ${on.checked ? 'enabled' : 'disabled'}`, 'ok'),
      (err) => {
        on.checked = !on.checked;
        failed(`rate limit of ${sv.name}`, err);
      },
    );
  });
  return h(
    'div',
    { class: 'section' },
    h('h3', null, 'Rate limit'),
    h('div', { class: 'policy-row' }, h('label', null, on, ' limit requests'), h('span', { class: 'fields' }, rps, ' req/s, burst ', burst, rl ? ` (${rl.scope})` : '')),
  );
}

function canarySection(sv: ServiceView): HTMLElement | null {
  const c = state.canaries.get(sv.name);
  if (c === undefined) return null;
  return h(
    'div',
    { class: 'section' },
    h('h3', null, 'Canary'),
    h('p', null, `${c.from} → ${c.to} on ${c.route}: ${c.state}, ${c.weight}% (step ${c.step + 1} of ${c.steps.length})`, c.reason ? h('span', { class: 'muted' }, ` — ${c.reason}`) : null),
  );
}

// ---- clients and audit ----------------------------------------------------------

function clientStatus(c: ClientView): HTMLElement {
  const types = Object.values(c.types);
  // NACKed while the version it rejected is still the last one sent; a later ACK clears it.
  const nack = types.find((t) => t.lastNack !== null && t.lastNack.version === t.sentVersion && t.ackedVersion !== t.sentVersion)?.lastNack;
  if (nack) return h('span', { class: 'badge bad', title: nack.error }, 'NACKed', h('span', { class: 'nack-error' }, ` ${clip(nack.error, 90)}`));
  if (types.length > 0 && types.every((t) => t.sentVersion === '' || t.ackedVersion === t.sentVersion)) return h('span', { class: 'badge ok' }, 'ACKed');
  return h('span', { class: 'badge' }, 'pending');
}

function renderClients(): void {
  const tbody = byId<HTMLTableElement>('clients').tBodies[0]!;
  const rows = [...state.clients]
    .sort((a, b) => a.cluster.localeCompare(b.cluster) || a.nodeId.localeCompare(b.nodeId))
    .map((c) =>
      h(
        'tr',
        { 'data-client': c.id },
        h('td', { class: 'mono', title: c.nodeId }, clip(c.nodeId, 38)),
        h('td', null, c.cluster || '–'),
        h('td', null, c.kind),
        h('td', { class: 'mono', title: c.snapshotVersion }, shortVersion(c.snapshotVersion)),
        h('td', null, clientStatus(c)),
      ),
    );
  tbody.replaceChildren(...(rows.length > 0 ? rows : [h('tr', null, h('td', { colspan: 5, class: 'muted' }, 'no clients connected'))]));
}

function renderAudit(): void {
  const host = byId('audit');
  if (!state.auditAvailable) {
    host.replaceChildren(h('p', { class: 'muted' }, 'This control plane keeps no audit log.'));
    return;
  }
  if (state.audit.length === 0) {
    host.replaceChildren(h('p', { class: 'muted' }, 'No changes yet.'));
    return;
  }
  host.replaceChildren(
    ...state.audit.slice(0, 100).map((e) =>
      h(
        'details',
        { class: `audit-entry ${e.result}`, 'data-audit': String(e.id) },
        h(
          'summary',
          null,
          h('span', { class: 'muted' }, fmtTime(e.at)),
          ' ',
          h('strong', null, e.actor),
          ` ${e.action} `,
          h('span', { class: 'mono' }, e.target),
          ' ',
          h('span', { class: `badge ${e.result === 'applied' ? 'ok' : 'bad'}` }, e.result),
          e.version ? h('span', { class: 'muted mono' }, ` → ${shortVersion(e.version)}`) : null,
        ),
        e.error ? h('p', { class: 'bad-text' }, e.error) : null,
        e.diff ? h('pre', { class: 'diff' }, ...diffLines(e.diff)) : null,
      ),
    ),
  );
}

function diffLines(diff: string): HTMLElement[] {
  return diff.split('\n').map((line) => h('span', { class: line.startsWith('+') && !line.startsWith('+++') ? 'add' : line.startsWith('-') && !line.startsWith('---') ? 'del' : '' }, `${line}\n`));
}

// ---- header ------------------------------------------------------------------

type Conn = 'connecting' | 'live' | 'polling';
function setConn(c: Conn): void {
  const el = byId('conn');
  el.dataset.state = c;
  el.textContent = c === 'live' ? '● live' : c === 'polling' ? '● polling every 2 s' : 'connecting…';
}

function renderHeader(): void {
  byId('mesh-name').textContent = state.mesh?.mesh ? `mesh ${state.mesh.mesh}` : '';
  byId('model-version').textContent = `model ${shortVersion(state.mesh?.modelVersion)}`;
}

// ---- data flow ------------------------------------------------------------------

function applyMesh(view: MeshView): void {
  state.mesh = view;
  // Weights that reached the model are no longer pending; give up on ones that never arrive.
  for (const [key, p] of state.pending) {
    const [svc, route] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
    const r = view.services.find((x) => x.name === svc)?.routes.find((x) => x.name === route);
    const arrived = r !== undefined && r.backends.every((b) => p.weights[b.key] === b.weight);
    if (arrived || Date.now() - p.at > 15_000) state.pending.delete(key);
  }
  if (state.selected === null) {
    // Start on a service with a weight split, as that is what operators come to change.
    state.selected = view.services.find((x) => x.routes.some((r) => r.backends.length > 1))?.name ?? view.services[0]?.name ?? null;
  }
  renderHeader();
  renderGraph();
  renderServices();
  renderDetail();
}

function applyLoad(load: LoadBody): void {
  state.load = load;
  pushHistory(load);
  renderGraph();
  renderServices();
}

function applyPolicy(p: PolicyState): void {
  state.policy = p;
  renderServices();
  renderDetail();
}

async function refreshMesh(): Promise<void> {
  try {
    applyMesh(await getJson<MeshView>('/ui/mesh.json'));
  } catch (err) {
    failed('mesh config', err);
  }
}

/** GETs that may not exist on every control plane answer 404: the section then stays empty. */
async function optional<T>(path: string, apply: (body: T) => void, onMissing?: () => void): Promise<void> {
  try {
    apply(await getJson<T>(path));
  } catch (err) {
    if (err instanceof HttpError && (err.status === 404 || err.status === 405)) onMissing?.();
  }
}

async function pollOnce(): Promise<void> {
  await Promise.all([
    optional<{ modelVersion: string | null }>('/healthz', (hz) => {
      if (hz.modelVersion !== state.mesh?.modelVersion) void refreshMesh();
    }),
    optional<LoadBody>('/api/v1/load', applyLoad),
    optional<{ clients: ClientView[] }>('/api/v1/clients', (b) => {
      state.clients = b.clients;
      renderClients();
    }),
    optional<{ entries: AuditEntry[] }>(
      '/api/v1/audit',
      (b) => {
        state.audit = b.entries;
        renderAudit();
      },
      () => {
        state.auditAvailable = false;
        renderAudit();
      },
    ),
    optional<PolicyState>('/api/v1/policy-state', applyPolicy),
    optional<{ canaries: Canary[] }>('/api/v1/canaries', (b) => {
      state.canaries = new Map(b.canaries.map((c) => [c.service, c] as const));
    }),
  ]);
}

let pollTimer: ReturnType<typeof setInterval> | undefined;
function startPolling(): void {
  if (pollTimer !== undefined) return;
  setConn('polling');
  pollTimer = setInterval(() => void pollOnce(), 2000);
}
function stopPolling(): void {
  clearInterval(pollTimer);
  pollTimer = undefined;
}

function connect(): void {
  const es = new EventSource('/api/v1/events');
  let opened = false;
  es.addEventListener('open', () => {
    opened = true;
    stopPolling();
    setConn('live');
  });
  es.addEventListener('error', () => {
    // CLOSED: no stream here (404) or it was refused; EventSource will not retry, so poll instead.
    if (es.readyState === EventSource.CLOSED) {
      es.close();
      startPolling();
      // Try the stream again now and then: the control plane may have been upgraded or restarted.
      setTimeout(connect, 30_000);
    } else if (!opened) {
      setConn('connecting');
    } else {
      // It reconnects by itself; keep the page fresh meanwhile.
      startPolling();
    }
  });
  const on = <T>(type: string, fn: (data: T) => void): void => {
    es.addEventListener(type, (ev) => {
      try {
        fn(JSON.parse((ev as MessageEvent<string>).data) as T);
      } catch (err) {
        console.error(`dashboard: bad ${type} event`, err);
      }
    });
  };
  on<{ modelVersion: string | null }>('snapshot', (d) => {
    if (d.modelVersion !== state.mesh?.modelVersion) void refreshMesh();
  });
  on<{ clients: ClientView[] }>('clients', (d) => {
    state.clients = d.clients;
    renderClients();
  });
  on<LoadBody>('load', applyLoad);
  on<{ entry: AuditEntry }>('audit', (d) => {
    const entry = 'entry' in d ? d.entry : (d as unknown as AuditEntry);
    state.audit = [entry, ...state.audit.filter((e) => e.id !== entry.id)].slice(0, 200);
    state.auditAvailable = true;
    renderAudit();
  });
  on<{ canary: Canary }>('canary', (d) => {
    const c = 'canary' in d ? d.canary : (d as unknown as Canary);
    state.canaries.set(c.service, c);
    renderServices();
    renderDetail();
  });
  on<PolicyState>('policy', applyPolicy);
}

async function main(): Promise<void> {
  readToken();
  // The graph's tier spacing follows the panel's width.
  window.addEventListener('resize', () => debounce('resize', 150, renderGraph));
  setConn('connecting');
  renderAudit();
  await refreshMesh();
  await pollOnce();
  if (typeof EventSource === 'function') connect();
  else startPolling();
}

void main();
