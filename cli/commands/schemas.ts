import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { CONTRACT_FAMILIES, renderTypes } from '../../schemas/codegen.ts';
import { SCHEMAS_DIR, SchemaRegistry } from '../../schemas/registry.ts';

export const GENERATED_TYPES = join(SCHEMAS_DIR, 'types.generated.ts');

export function schemasCommand(program: Command): void {
  const schemas = program.command('schemas').description('the Avro contracts in schemas/');

  schemas
    .command('list')
    .description('every schema version kept, with its fingerprint')
    .action(() => {
      for (const v of SchemaRegistry.load().versions) {
        process.stdout.write(`${v.family} v${v.version}  fingerprint ${v.fingerprint.toString('hex')}  ${v.file}\n`);
      }
    });

  schemas
    .command('types')
    .description('regenerate schemas/types.generated.ts from the newest .avsc of each contract')
    .option('--check', 'exit 1 if the file is stale instead of writing it')
    .action((opts: { check?: boolean }) => {
      const text = renderTypes(SchemaRegistry.load(), CONTRACT_FAMILIES);
      if (opts.check) {
        if (readFileSync(GENERATED_TYPES, 'utf8') !== text) throw new Error(`${GENERATED_TYPES} is stale: run \`npx cx schemas types\``);
        process.stdout.write('types are up to date\n');
        return;
      }
      writeFileSync(GENERATED_TYPES, text);
      process.stdout.write(`wrote ${GENERATED_TYPES}\n`);
    });
}
