import type { Command } from 'commander';
import { loadConfig, SETTINGS } from '../../platform/config.ts';

export function configCommand(program: Command): void {
  program
    .command('config')
    .description('print the effective configuration and the variable behind each setting')
    .action(() => {
      const config = loadConfig();
      for (const [key, [variable]] of Object.entries(SETTINGS)) {
        const value = config[key as keyof typeof config];
        const shown = variable.includes('PASSWORD') && value ? '***' : Array.isArray(value) ? value.join(',') : value ?? '(unset)';
        process.stdout.write(`${variable.padEnd(26)} ${String(shown)}\n`);
      }
    });
}
