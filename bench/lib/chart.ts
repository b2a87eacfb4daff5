/**
 * The benchmark's chart: one SVG with the open-loop latency of raw calls,
 * calls through enmesh and calls through the sidecar pair (p50 and p90), and
 * the closed-loop throughput of each client raw and through enmesh. Plain
 * SVG text, so it renders in a browser or on GitHub with nothing installed.
 */

export interface LatencyBar {
  readonly name: string;
  readonly p50Us: number;
  readonly p90Us: number;
}

export interface ThroughputPair {
  readonly label: string;
  /** Requests per second, medians over rounds. */
  readonly raw: number;
  readonly mesh: number;
}

export interface ChartData {
  readonly subtitle: string;
  readonly latency?: readonly LatencyBar[];
  readonly throughput?: readonly ThroughputPair[];
}

const WIDTH = 760;
const LEFT = 190;
const BAR_WIDTH = WIDTH - LEFT - 90;
const COLORS = { raw: '#8a8f98', mesh: '#2f7de1', sidecar: '#d9822b', p90: 0.45 };

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const num = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
const kilo = (n: number): string => `${(n / 1000).toFixed(1)}k`;

/** Rounds a scale's end up to 1, 2 or 5 times a power of ten. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return ([1, 2, 5, 10].find((m) => m * p >= v) ?? 10) * p;
}

function colorOf(name: string): string {
  if (/enmesh/i.test(name)) return COLORS.mesh;
  if (/sidecar|haproxy|proxy/i.test(name)) return COLORS.sidecar;
  return COLORS.raw;
}

export function renderChart(data: ChartData): string {
  const parts: string[] = [];
  let y = 56;
  const text = (x: number, yy: number, s: string, attrs = ''): void => {
    parts.push(`<text x="${x}" y="${yy}" ${attrs}>${esc(s)}</text>`);
  };
  const rect = (x: number, yy: number, w: number, h: number, fill: string, opacity = 1): void => {
    parts.push(`<rect x="${x}" y="${yy}" width="${Math.max(0, w).toFixed(1)}" height="${h}" fill="${fill}" fill-opacity="${opacity}"/>`);
  };

  if (data.latency !== undefined && data.latency.length > 0) {
    text(16, y, 'Latency at 1,000 requests/s, open loop (µs from the scheduled send; p50 solid, p90 light)', 'font-weight="bold"');
    y += 14;
    const max = niceMax(Math.max(...data.latency.map((b) => b.p90Us)));
    for (const b of data.latency) {
      const c = colorOf(b.name);
      text(16, y + 17, b.name);
      rect(LEFT, y + 4, (b.p90Us / max) * BAR_WIDTH, 18, c, COLORS.p90);
      rect(LEFT, y + 4, (b.p50Us / max) * BAR_WIDTH, 18, c);
      text(LEFT + (b.p90Us / max) * BAR_WIDTH + 6, y + 17, `${num(b.p50Us)} / ${num(b.p90Us)}`);
      y += 26;
    }
    text(LEFT, y + 12, `0 … ${num(max)} µs`, 'fill="#666"');
    y += 34;
  }

  if (data.throughput !== undefined && data.throughput.length > 0) {
    text(16, y, 'Throughput, closed loop, 50 concurrent, 1 KB (requests/s; raw grey, through enmesh blue)', 'font-weight="bold"');
    y += 14;
    const max = niceMax(Math.max(...data.throughput.flatMap((p) => [p.raw, p.mesh])));
    for (const p of data.throughput) {
      text(16, y + 21, p.label);
      rect(LEFT, y + 4, (p.raw / max) * BAR_WIDTH, 13, COLORS.raw);
      text(LEFT + (p.raw / max) * BAR_WIDTH + 6, y + 15, kilo(p.raw));
      rect(LEFT, y + 19, (p.mesh / max) * BAR_WIDTH, 13, COLORS.mesh);
      text(LEFT + (p.mesh / max) * BAR_WIDTH + 6, y + 30, `${kilo(p.mesh)} (${(p.mesh / p.raw).toFixed(2)}×)`);
      y += 38;
    }
    text(LEFT, y + 12, `0 … ${kilo(max)} requests/s`, 'fill="#666"');
    y += 30;
  }

  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold">enmesh vs raw clients vs a sidecar pair</text>`,
    `<text x="16" y="42" fill="#666">${esc(data.subtitle)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
