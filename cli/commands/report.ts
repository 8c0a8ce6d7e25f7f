import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { openQueryStore } from '../../platform/clickhouse/endpoint.ts';
import { loadConfig } from '../../platform/config.ts';

interface ReportOptions {
  out: string;
  from?: string;
  to?: string;
  dashboard: string;
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

export function reportCommand(program: Command): void {
  program
    .command('report')
    .description(
      'write a dashboard (by default the live one, cx-live) as one self-contained HTML file: the same panels and SQL, ' +
        'charts as inline SVG, nothing fetched from the network; for people without Grafana',
    )
    .option('--out <file>', 'the HTML file to write', 'cx-report.html')
    .option('--from <time>', 'start: ISO time (UTC unless it has an offset), now-6h, or -6h / -7d before --to (default: 24 hours before --to)')
    .option('--to <time>', 'end: ISO time, now, or now-1h (default: now)')
    .option('--dashboard <uid>', 'which dashboard: cx-live, cx-journeys or cx-pipeline', 'cx-live')
    .action(async (opts: ReportOptions) => {
      const t0 = Date.now();
      // Loaded here, not at the top: the pipeline's image ships cli/ without dashboards/ and report/.
      const { resolveRange } = await import('../../report/range.ts');
      const now = new Date();
      const range = resolveRange(opts, now);
      const { dashboardModels } = await import('../../dashboards/build.ts');
      const { readDashboard } = await import('../../report/layout.ts');
      const { collectReport } = await import('../../report/collect.ts');
      const { renderReport } = await import('../../report/render.ts');

      const config = loadConfig();
      const models = dashboardModels(config);
      const chosen = models.find((d) => d.uid === opts.dashboard);
      if (!chosen) throw new Error(`--dashboard ${opts.dashboard}: no such dashboard; expected one of ${models.map((d) => d.uid).join(', ')}`);
      const layout = readDashboard(chosen.model);

      // The live store of a running `npm start` when there is one (its read-only endpoint), else the store itself.
      const { store } = await openQueryStore(config);
      let model;
      try {
        model = await collectReport(layout, store, range, {
          now,
          onPanel: (p) =>
            process.stderr.write(
              `report: ${p.index}/${p.total} ${p.title} (${p.rows.toLocaleString('en-US')} ${p.rows === 1 ? 'row' : 'rows'}, ${p.ms} ms)` +
                `${p.errors.length > 0 ? `: FAILED ${p.errors.join('; ')}` : ''}\n`,
            ),
        });
      } finally {
        await store.close();
      }

      const html = renderReport(model);
      const file = resolve(opts.out);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, html);
      const panels = model.sections.flatMap((s) => s.panels);
      const rows = panels.reduce((sum, p) => sum + p.runs.reduce((n, r) => n + (r.result?.rows.length ?? 0), 0), 0);
      process.stdout.write(
        `wrote ${file} (${kb(Buffer.byteLength(html))}): "${model.title}", ${panels.length} panels, ${rows.toLocaleString('en-US')} rows, ` +
          `${range.from.toISOString()} to ${range.to.toISOString()}, in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
      );
      const failed = panels.filter((p) => p.runs.some((r) => r.error));
      const first = failed[0];
      if (first) {
        throw new Error(
          `${failed.length} of ${panels.length} panels failed; the report shows each one's error in its panel. The first, "${first.title}": ` +
            `${first.runs.find((r) => r.error)?.error} (store: ${store.where}, database ${config.clickhouseDatabase})`,
        );
      }
    });
}
