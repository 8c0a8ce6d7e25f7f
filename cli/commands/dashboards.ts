import { relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../platform/config.ts';

export function dashboardsCommand(program: Command): void {
  const dashboards = program.command('dashboards').description('Grafana alert rules and dashboards, as code in dashboards/');

  dashboards
    .command('build')
    .description('build the alert rules (and dashboards) into JSON for Grafana provisioning; CLICKHOUSE_DATABASE and CX_STOOL_THRESHOLD are read now')
    .option('--out <dir>', 'output directory (default: dashboards/build)')
    .action(async (opts: { out?: string }) => {
      // Loaded here, not at the top: the SDK is only needed to build.
      const { BUILD_DIR, buildAll } = await import('../../dashboards/build.ts');
      const { written, removed } = buildAll(loadConfig(), opts.out ? resolve(opts.out) : BUILD_DIR);
      for (const f of removed) process.stdout.write(`removed ${relative(process.cwd(), f)} (not part of the build)\n`);
      for (const f of written) process.stdout.write(`wrote ${relative(process.cwd(), f.file)}: ${f.what}\n`);
    });
}
