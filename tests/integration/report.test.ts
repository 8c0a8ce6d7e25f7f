/**
 * `cx report` as a user runs it: the real CLI, in its own process, over the shared
 * simulated run, writes one HTML file with every panel of the live dashboard; headless
 * Chromium then parses it (the SVGs are in its DOM, with their points) and draws it (the
 * screenshot is far from blank, and the first time series shows its series' colours).
 * The journeys dashboard's report holds the key-driver section of the active
 * calibration, and a line saying there is none once the defaults are chosen again.
 *
 *   CX_REPORT_SCREENSHOT=docs/images/report.png npx vitest run tests/integration/report.test.ts
 *
 * also writes the README's screenshot (the first screens of the page).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { dashboardModels } from '../../dashboards/build.ts';
import { PALETTE } from '../../report/charts.ts';
import { escapeXml } from '../../report/format.ts';
import { readDashboard } from '../../report/layout.ts';
import type { DashboardLayout } from '../../report/model.ts';
import { NO_CALIBRATION_ACTIVE } from '../../dashboards/keyDrivers.ts';
import { analystData } from '../analystData.ts';
import { ACTIVE_ID, activeCalibration } from '../fixtures/calibrations.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const WIDTH = 1400;

/** Chromium, as Debian installs it (chromium) or as other distributions name it. Missing fails the test: it is what proves the page draws. */
function chromiumBinary(): string {
  for (const name of ['chromium', 'chromium-browser']) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  throw new Error(
    'Chromium is needed to check that the report draws, and neither `chromium` nor `chromium-browser` is on the PATH. ' +
      `Install it: apt-get update && apt-get install -y --no-install-recommends chromium${process.env.CI === 'true' ? ' (.ci/run does this before npm install; did it run?)' : ''}`,
  );
}

function chromium(args: string[], profile: string) {
  const r = spawnSync(chromiumBinary(), ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run', `--user-data-dir=${profile}`, ...args], {
    encoding: 'utf8',
    timeout: 90_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`chromium ${args.join(' ')} failed (${r.signal ?? `exit ${r.status}`}):\n${r.stderr.slice(-2000)}`);
  return r;
}

function screenshot(page: string, png: string, height: number, profile: string, width = WIDTH): { png: PNG; ms: number } {
  const t = Date.now();
  chromium([`--screenshot=${png}`, `--window-size=${width},${height}`, pathToFileURL(page).href], profile);
  return { png: PNG.sync.read(readFileSync(png)), ms: Date.now() - t };
}

/** Share of pixels in a box that are neither the page's background (#f4f5f7) nor a panel's (white). */
function inkShare(img: PNG, box = { x: 0, y: 0, w: img.width, h: img.height }): number {
  let ink = 0;
  for (let y = box.y; y < box.y + box.h; y++) {
    for (let x = box.x; x < box.x + box.w; x++) {
      const i = (y * img.width + x) * 4;
      const [r, g, b] = [img.data[i] as number, img.data[i + 1] as number, img.data[i + 2] as number];
      const near = (c: [number, number, number]) => Math.abs(r - c[0]) + Math.abs(g - c[1]) + Math.abs(b - c[2]) < 24;
      if (!near([255, 255, 255]) && !near([0xf4, 0xf5, 0xf7])) ink++;
    }
  }
  return ink / (box.w * box.h);
}

/** Pixels within a small distance of a CSS hex colour. */
function pixelsOf(img: PNG, hex: string): number {
  const [cr, cg, cb] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) as [number, number, number];
  let count = 0;
  for (let i = 0; i < img.data.length; i += 4) {
    if (Math.abs((img.data[i] as number) - cr) + Math.abs((img.data[i + 1] as number) - cg) + Math.abs((img.data[i + 2] as number) - cb) < 40) count++;
  }
  return count;
}

/** Each panel's markup in the page, in order, by its <article>. */
const articles = (html: string) => html.split('<article ').slice(1).map((a) => a.slice(0, a.indexOf('</article>')));

/** The section (a dashboard row) with this title: its panels' markup. */
const sectionOf = (html: string, title: string) => {
  const at = html.indexOf(`<h2>${escapeXml(title)}</h2>`);
  return at < 0 ? '' : html.slice(at, html.indexOf('</section>', at));
};

/** A table's body rows, each as its cells' text. */
const tableRows = (markup: string) =>
  [...markup.matchAll(/<tr>(.*?)<\/tr>/g)].map((m) => [...(m[1] as string).matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((c) => c[1] as string)).filter((r) => r.length > 0);

const KEY_DRIVERS = 'Key drivers: what moves outcomes (the active calibration)';

describe('cx report', () => {
  let dir: string;
  let out: string;
  let html: string;
  let layout: DashboardLayout;
  let cli: { status: number | null; stdout: string; stderr: string; ms: number };
  let range: { from: string; to: string };
  let dataDir: string;
  let database: string;
  let journeys: { status: number | null; stderr: string; html: string };
  let journeysNone: { status: number | null; stderr: string; html: string };

  beforeAll(async () => {
    const d = await analystData();
    range = { from: d.from, to: d.to };
    dataDir = d.config.clickhousePath;
    database = d.database;
    const live = dashboardModels(d.config).find((m) => m.uid === 'cx-live');
    layout = readDashboard(live?.model);
    // One process per data directory: the CLI opens the copy after this process lets go of it.
    await d.close();
    dir = mkdtempSync(join(tmpdir(), 'cx-report-'));
    out = join(dir, 'r.html');
    const env = { ...process.env, CX_CLICKHOUSE_PATH: d.config.clickhousePath, CLICKHOUSE_DATABASE: d.database, CLICKHOUSE_URL: '' };
    const t = Date.now();
    const r = spawnSync(process.execPath, ['bin/cx.js', 'report', '--out', out, '--from', d.from, '--to', d.to], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
    cli = { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t };
    html = r.status === 0 ? readFileSync(out, 'utf8') : '';

    // The journeys dashboard, with the fixture's calibration active, then after going back to the defaults.
    const journeysReport = (file: string) => spawnSync(process.execPath, ['bin/cx.js', 'report', '--dashboard', 'cx-journeys', '--out', file, '--from', d.from, '--to', d.to], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
    const j = journeysReport(join(dir, 'journeys.html'));
    journeys = { status: j.status, stderr: j.stderr, html: j.status === 0 ? readFileSync(join(dir, 'journeys.html'), 'utf8') : '' };
    const back = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
      `import { openStore } from ${JSON.stringify(join(ROOT, 'platform/clickhouse/store.ts'))};
       import { activateCalibration } from ${JSON.stringify(join(ROOT, 'processors/calibration/stored.ts'))};
       import { loadConfig } from ${JSON.stringify(join(ROOT, 'platform/config.ts'))};
       const store = await openStore(loadConfig());
       await activateCalibration(store, '');
       await store.close();`], { cwd: ROOT, env, encoding: 'utf8', timeout: 60_000 });
    if (back.status !== 0) throw new Error(`activating the defaults failed:\n${back.stderr}`);
    const none = journeysReport(join(dir, 'journeys-none.html'));
    journeysNone = { status: none.status, stderr: none.stderr, html: none.status === 0 ? readFileSync(join(dir, 'journeys-none.html'), 'utf8') : '' };
  });

  const panels = () => layout.sections.flatMap((s) => s.panels);

  it('writes one HTML file of the live dashboard, saying where and how big, with progress per panel', () => {
    expect(cli.status, cli.stderr).toBe(0);
    const size = statSync(out).size;
    expect(cli.stdout).toContain(`wrote ${out} (${(size / 1024).toFixed(1)} KB): "CX consistency — live", ${panels().length} panels`);
    panels().forEach((p, i) => expect(cli.stderr).toContain(`report: ${i + 1}/${panels().length} ${p.title} (`));
    expect(size).toBeGreaterThan(30_000);
    expect(size).toBeLessThan(3_000_000);
    console.log(`report: ${(size / 1024).toFixed(1)} KB, ${panels().length} panels, CLI ${cli.ms} ms (process start, queries, render)`);
  });

  it('holds every panel of the live dashboard, in order, with rows, and no failed query', () => {
    const shown = articles(html);
    expect(shown.map((a) => /<h3>(.*?)<\/h3>/.exec(a)?.[1])).toEqual(panels().map((p) => escapeXml(p.title)));
    expect(html).toContain(`${range.from.slice(0, 16).replace('T', ' ')} UTC → ${range.to.slice(0, 16).replace('T', ' ')} UTC`);
    expect(html).toContain(`embedded chdb at ${dataDir}, database ${database}`);
    expect(html).not.toContain('class="error"');
    for (const [i, a] of shown.entries()) {
      const kind = /data-kind="(\w+)"/.exec(a)?.[1];
      if (kind === 'timeseries') expect(a, panels()[i]?.title).toMatch(/<polyline points="[\d.]+,[\d.]+ [\d.]+,[\d.]+/);
      if (kind === 'barchart') expect(a, panels()[i]?.title).toContain('<rect class="bar"');
      if (kind === 'gauge') expect(a, panels()[i]?.title).toContain('class="gauge-value"');
    }
    // The simulated run fills the leg panels.
    const legScores = shown.find((a) => a.includes('<h3>Leg scores</h3>')) ?? '';
    expect(Number(/<span class="rows">([\d,]+) rows/.exec(legScores)?.[1]?.replaceAll(',', ''))).toBeGreaterThan(100);
  });

  it('of the journeys dashboard, has the key-driver section of the active calibration: its id, the held-out comparison, the key drivers heaviest first, where to start', () => {
    expect(journeys.status, journeys.stderr).toBe(0);
    expect(journeys.html).not.toContain('class="error"');
    const section = sectionOf(journeys.html, KEY_DRIVERS);
    const panels = articles(section);
    expect(panels.map((a) => /<h3>(.*?)<\/h3>/.exec(a)?.[1])).toEqual([
      'Active calibration', 'Does memory predict outcomes? Held-out comparison', 'Key drivers: which touchpoints move outcomes', 'Where do we start?',
    ].map(escapeXml));
    const [calibration, heldOut, drivers, starts] = panels.map(tableRows) as [string[][], string[][], string[][], string[][]];
    const fixture = activeCalibration({ createdAt: 0, windowFrom: 0, windowTo: 0 });
    expect(calibration.map((r) => r[0])).toEqual([ACTIVE_ID]);
    // Numbers read as the report writes them (no unit, enough decimals for their size): 0.7468 shows as 0.747.
    expect(heldOut.map((r) => [r[0], r[1]])).toEqual([['plain mean', '0.712'], ['default memory', '0.698'], ['calibrated memory', '0.747']]);
    const heaviestFirst = [...fixture.keyDrivers].sort((a, b) => b.weight - a.weight || a.touchpoint.localeCompare(b.touchpoint));
    expect(drivers.map((r) => [r[0], r[2], r[3]])).toEqual(heaviestFirst.map((k) => [k.touchpoint, escapeXml(k.department), String(k.weight)]));
    expect(starts.map((r) => [r[0], r[1]])).toEqual(fixture.whereToStart.map((w) => [String(w.rank), w.touchpoint]));
  });

  it('of the journeys dashboard, says in each key-driver panel that no calibration is active and how to make one, once the defaults are chosen again', () => {
    expect(journeysNone.status, journeysNone.stderr).toBe(0);
    const panels = articles(sectionOf(journeysNone.html, KEY_DRIVERS));
    expect(panels).toHaveLength(4);
    for (const a of panels) {
      expect(a).toContain(`<p class="state">${escapeXml(NO_CALIBRATION_ACTIVE)}</p>`);
      expect(a).not.toContain('<table');
    }
    // The rest of the journeys report is unchanged by it.
    expect(articles(journeysNone.html).length).toBe(articles(journeys.html).length);
  });

  it('loads nothing from anywhere: no scripts, links, external images, styles or fonts', () => {
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/<script|\b(?:src|href|xlink:href)\s*=|@import|url\(|<link\b|<iframe|<object|<embed/i);
  });

  it('is parsed by Chromium into SVG charts with their points', () => {
    const profile = join(dir, 'profile-dom');
    const dom = chromium(['--dump-dom', pathToFileURL(out).href], profile).stdout;
    const shown = articles(dom);
    expect(shown).toHaveLength(panels().length);
    const series = shown.filter((a) => a.includes('data-kind="timeseries"'));
    expect(series.length).toBe(panels().filter((p) => p.kind === 'timeseries').length);
    for (const a of series) {
      const points = [...a.matchAll(/<polyline points="([^"]+)"/g)].map((m) => (m[1] as string).split(' ').length);
      expect(Math.max(0, ...points), /<h3>(.*?)<\/h3>/.exec(a)?.[1]).toBeGreaterThan(10);
    }
    expect(dom.match(/<svg class="chart/g)?.length).toBeGreaterThanOrEqual(series.length + 2);
  });

  it('draws: the page is far from blank, and the first time series shows its series\' colours', () => {
    const profile = join(dir, 'profile-png');
    const blankPage = join(dir, 'blank.html');
    writeFileSync(blankPage, '<!doctype html><html><body style="margin:0;background:#f4f5f7"></body></html>');
    const blank = screenshot(blankPage, join(dir, 'blank.png'), 1200, profile).png;
    const page = screenshot(out, join(dir, 'page.png'), 2600, profile);
    const pageInk = inkShare(page.png);
    expect(page.png.width).toBe(WIDTH);
    expect(inkShare(blank)).toBeLessThan(0.001);
    expect(pageInk).toBeGreaterThan(0.05);

    // The first time-series chart pinned alone to the top left (the page's own SVG, everything else hidden).
    const sectionIndex = layout.sections.findIndex((s) => s.panels.some((p) => p.kind === 'timeseries'));
    const section = layout.sections[sectionIndex];
    const panelIndex = section?.panels.findIndex((p) => p.kind === 'timeseries') ?? -1;
    const pin = `body{visibility:hidden}main>section:nth-of-type(${sectionIndex + 1})>.grid>article:nth-of-type(${panelIndex + 1}) .viz svg{visibility:visible;position:fixed;left:0;top:0;width:800px;height:auto}`;
    const pinnedPage = join(dir, 'first-series.html');
    writeFileSync(pinnedPage, html.replace('</style>', `${pin}</style>`));
    const pinned = screenshot(pinnedPage, join(dir, 'first-series.png'), 600, profile, 800).png;
    const first = section?.panels[panelIndex];
    const legs = 3;
    const colours = PALETTE.slice(0, legs).map((c) => [c, pixelsOf(pinned, c)] as const);
    for (const [colour, count] of colours) expect(count, `pixels of ${colour} in "${first?.title}"`).toBeGreaterThan(100);
    expect(pixelsOf(blank, PALETTE[0])).toBe(0);
    console.log(
      `report screenshot: ${page.png.width}x${page.png.height} in ${page.ms} ms, ink ${(pageInk * 100).toFixed(1)}% (blank page ${(inkShare(blank) * 100).toFixed(2)}%); ` +
        `"${first?.title}" series pixels ${colours.map(([c, n]) => `${c} ${n}`).join(', ')}`,
    );

    const target = process.env.CX_REPORT_SCREENSHOT;
    if (target) {
      const file = resolve(ROOT, target);
      mkdirSync(dirname(file), { recursive: true });
      screenshot(out, file, 1250, profile);
      const size = statSync(file).size;
      console.log(`wrote ${file} (${(size / 1024).toFixed(0)} KB)`);
      expect(size).toBeLessThan(400_000);
    }
  });
});
