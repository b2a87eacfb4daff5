/**
 * Debian's chromium driven by playwright-core, for the dashboard tests, and a
 * directory for their screenshots (kept after the run, its path printed).
 */
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined when they can (under CI they always must). */
export function chromiumMissing(): string | undefined {
  if (existsSync(CHROMIUM_PATH) || process.env.CI === 'true') return undefined;
  return `${CHROMIUM_PATH} not found (apt-get install chromium, or set CHROMIUM_PATH)`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    timeout: 60_000,
    // No outside network here: these keep chromium from stalling on it.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export async function screenshotDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'enmesh-dashboard-'));
  console.log(`[dashboard] screenshots in ${dir}`);
  return dir;
}

/** Browser console errors and uncaught exceptions of a page (CSP violations show up here too). */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    // A 404 is how the page learns an optional endpoint is absent (it then polls or hides the section).
    if (m.type() === 'error' && !/status of 404/.test(m.text())) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

export interface Rect {
  readonly name: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** Pairs of rectangles that overlap by more than `slack` pixels each way. */
export function overlapping(rects: readonly Rect[], slack = 1): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < rects.length; i++) {
    for (let j = i + 1; j < rects.length; j++) {
      const a = rects[i]!;
      const b = rects[j]!;
      const dx = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
      const dy = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
      if (dx > slack && dy > slack) out.push([a.name, b.name]);
    }
  }
  return out;
}
