import { existsSync } from 'node:fs';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { loadConfig } from '../../platform/config.ts';
import { createLogger } from '../../platform/log.ts';
import { connectKafka, connectProducer } from '../../pipeline/compose.ts';
import { readMapping } from '../../producers/replay/mapping.ts';
import { replayFile } from '../../producers/replay/replay.ts';
import { kafkaStatus } from './simulate.ts';

const fmt = (n: number) => n.toLocaleString('en-US');
const SHOWN = 20;

export function replayCommand(program: Command): void {
  program
    .command('replay')
    .description('replay a CSV or JSON Lines file into Kafka through a mapping (long: a row per event; wide: a row per customer, a column per touchpoint)')
    .argument('<file>', 'the data file')
    .requiredOption('--mapping <file>', 'the mapping, JSON (see docs/producers.md and examples/replay/)')
    .action(async (file: string, opts: { mapping: string }) => {
      const config = loadConfig();
      // Both files are checked before anything connects to Kafka.
      if (!existsSync(file)) throw new Error(`${file}: no such file`);
      const mapping = readMapping(opts.mapping);
      const log = createLogger(process.env.LOG_LEVEL ? config.logLevel : 'warn', 'cx-replay', config);
      const kafka = await connectKafka(config, log);
      const producer = await connectProducer(config, kafka);
      const bar = new cliProgress.SingleBar(
        { format: '{bar} {percentage}% | {rows} rows | {events} events | {rejected} rejected{kafka}', noTTYOutput: true, notTTYSchedule: 5000, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      bar.start(100, 0, { rows: 0, events: 0, rejected: 0, kafka: '' });
      const started = Date.now();
      const s = await replayFile(file, mapping, {
        producer,
        deadLetterTopic: config.deadLetterTopic,
        onProgress: (bytes, total, p) =>
          bar.update(total ? Math.floor((bytes / total) * 100) : 100, { rows: fmt(p.rowsRead), events: fmt(p.touchpointEvents + p.outcomeEvents), rejected: fmt(p.rejections.length), kafka: kafkaStatus(producer) }),
      }).finally(() => bar.stop());
      await producer.disconnect();

      const out = (line: string) => process.stdout.write(`${line}\n`);
      out(`${s.file}: ${fmt(s.rowsRead)} rows read; ${fmt(s.touchpointEvents)} touchpoint events and ${fmt(s.outcomeEvents)} outcome events sent to Kafka in ${((Date.now() - started) / 1000).toFixed(1)} s; ${fmt(s.rejections.length)} rejected.`);
      for (const r of s.rejections.slice(0, SHOWN)) out(`  line ${r.line}${r.column ? `, column ${r.column}` : ''}: ${r.reason}`);
      if (s.rejections.length > SHOWN) out(`  ... and ${fmt(s.rejections.length - SHOWN)} more`);
      if (s.rejections.length) out(`Every rejected row was also sent to ${config.deadLetterTopic}, with its text and reason.`);
      if (s.failures) {
        out(`${fmt(s.failures)} sends were not acknowledged by Kafka; replaying the file again is safe (event ids come from file, line and column).`);
        process.exitCode = 1;
      }
    });
}
