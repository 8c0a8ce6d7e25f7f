import { Command } from 'commander';
import { calibrateCommand } from './commands/calibrate.ts';
import { collectCommand } from './commands/collect.ts';
import { configCommand } from './commands/config.ts';
import { dashboardsCommand } from './commands/dashboards.ts';
import { emitCommand } from './commands/emit.ts';
import { kafkaCommand } from './commands/kafka.ts';
import { migrateCommand } from './commands/migrate.ts';
import { processCommand } from './commands/process.ts';
import { rebuildCommand } from './commands/rebuild.ts';
import { replayCommand } from './commands/replay.ts';
import { reportCommand } from './commands/report.ts';
import { schemasCommand } from './commands/schemas.ts';
import { simulateCommand } from './commands/simulate.ts';
import { sqlCommand } from './commands/sql.ts';
import { startCommand } from './commands/start.ts';
import { storeCommand } from './commands/store.ts';
import { exitWithError } from './errors.ts';

const program = new Command('cx')
  .description('CX pipeline: touchpoint events on Kafka, processed into ClickHouse')
  .showHelpAfterError()
  .configureHelp({ sortSubcommands: false });

startCommand(program);
processCommand(program);
rebuildCommand(program);
simulateCommand(program);
emitCommand(program);
collectCommand(program);
replayCommand(program);
kafkaCommand(program);
migrateCommand(program);
sqlCommand(program);
reportCommand(program);
calibrateCommand(program);
storeCommand(program);
schemasCommand(program);
dashboardsCommand(program);
configCommand(program);

program.parseAsync(process.argv).catch(exitWithError);
