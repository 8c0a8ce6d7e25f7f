import { relative, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import type { ContactPointKind } from '../../dashboards/alerts/routing.ts';
import { loadConfig } from '../../platform/config.ts';

export function dashboardsCommand(program: Command): void {
  const dashboards = program.command('dashboards').description('Grafana alert rules and dashboards, as code in dashboards/');

  dashboards
    .command('build')
    .description('build the alert rules, their contact point and notification policy, and the dashboards into JSON for Grafana provisioning; CLICKHOUSE_DATABASE and CX_STOOL_THRESHOLD are read now')
    .option('--out <dir>', 'output directory (default: dashboards/build)')
    // Listed here rather than imported: routing.ts loads the SDK, which only the action needs.
    .addOption(new Option('--contact-point <kind>', 'where Grafana sends the alerts: a webhook ($CX_GRAFANA_ALERT_WEBHOOK_URL) or Slack ($CX_GRAFANA_ALERT_SLACK_URL)').choices(['webhook', 'slack']).default('webhook'))
    .action(async (opts: { out?: string; contactPoint: ContactPointKind }) => {
      // Loaded here, not at the top: the SDK is only needed to build.
      const { BUILD_DIR, buildAll } = await import('../../dashboards/build.ts');
      const { written, removed } = buildAll({ ...loadConfig(), contactPoint: opts.contactPoint }, opts.out ? resolve(opts.out) : BUILD_DIR);
      for (const f of removed) process.stdout.write(`removed ${relative(process.cwd(), f)} (not part of the build)\n`);
      for (const f of written) process.stdout.write(`wrote ${relative(process.cwd(), f.file)}: ${f.what}\n`);
    });
}
