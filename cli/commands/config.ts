import type { Command } from 'commander';
import { loadConfig, SETTINGS, shownValue } from '../../platform/config.ts';

export function configCommand(program: Command): void {
  program
    .command('config')
    .description('print the effective configuration and the variable behind each setting (secrets are shown only as set or unset)')
    .action(() => {
      const config = loadConfig();
      const width = Math.max(...Object.values(SETTINGS).map(([v]) => v.length)) + 1;
      for (const [key, [variable]] of Object.entries(SETTINGS)) {
        process.stdout.write(`${variable.padEnd(width)} ${shownValue(key, config[key as keyof typeof config])}\n`);
      }
    });
}
