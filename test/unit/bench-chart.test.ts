import { describe, expect, it } from 'vitest';
import { renderChart } from '../../bench/lib/chart.ts';

/** Widths of the bars drawn, in order (the background rectangle has no x). */
const barWidths = (svg: string): number[] => [...svg.matchAll(/<rect x="[^"]+" y="[^"]+" width="([^"]+)"/g)].map((m) => Number(m[1]));

describe('the benchmark chart', () => {
  it('draws latency and throughput bars to one scale per panel, labelled with their values', () => {
    const svg = renderChart({
      subtitle: 'npm run bench, <test> & co',
      latency: [
        { name: 'raw undici.request', p50Us: 100, p90Us: 200 },
        { name: 'enmesh (client + server)', p50Us: 110, p90Us: 220 },
        { name: 'sidecar pair (2× HAProxy)', p50Us: 250, p90Us: 500 },
      ],
      throughput: [{ label: 'undici.request', raw: 40_000, mesh: 30_000 }],
    });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    // Text is escaped.
    expect(svg).toContain('npm run bench, &lt;test&gt; &amp; co');
    const [rawP90, rawP50, meshP90, meshP50, sideP90, sideP50, tpRaw, tpMesh] = barWidths(svg);
    // Latency: one scale (500 µs is the end of it), p50 drawn over p90.
    expect(sideP90).toBeCloseTo(480, 0);
    expect(rawP50! / sideP90!).toBeCloseTo(100 / 500, 3);
    expect(rawP90! / rawP50!).toBeCloseTo(2, 3);
    expect(meshP50! / rawP50!).toBeCloseTo(1.1, 3);
    expect(meshP90! / sideP50!).toBeCloseTo(220 / 250, 3);
    // Throughput: its own scale (50k), the ratio printed.
    expect(tpMesh! / tpRaw!).toBeCloseTo(0.75, 3);
    expect(tpRaw! / 480).toBeCloseTo(40_000 / 50_000, 3);
    expect(svg).toContain('30.0k (0.75×)');
    expect(svg).toContain('110 / 220');
    // The three sides get the three colours.
    expect(svg).toContain('#8a8f98');
    expect(svg).toContain('#2f7de1');
    expect(svg).toContain('#d9822b');
  });

  it('leaves out a panel with no data', () => {
    const svg = renderChart({ subtitle: 's', throughput: [{ label: 'fetch', raw: 10, mesh: 9 }] });
    expect(svg).not.toContain('Latency at');
    expect(svg).toContain('Throughput');
  });
});
