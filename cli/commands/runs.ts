/** `updraft runs metrics <dag_id> <run_id>`: every metric the run's task tries logged. Read only. */
import type { Command } from 'commander';
import { getDagRun } from '../../db/dag-run.repository.js';
import { listRunMetrics } from '../../db/lineage.repository.js';
import { CliError, parseOutput, print } from '../output.js';
import { withRecord } from '../ml-record.js';

export function registerRunsCommands(program: Command): void {
  const runs = program.command('runs').description("DAG runs' ML record");

  runs
    .command('metrics <dag_id> <run_id>')
    .description("The metrics a DAG run's task tries logged (name, value, step), by task, try, name, step")
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (dagId: string, runId: string, o: { output?: string }) => {
      const format = parseOutput(o.output);
      await withRecord(async (db) => {
        const rows = await listRunMetrics(db, dagId, runId);
        // Lineage outlives run rows, so metrics without a run row are still shown.
        if (rows.length === 0 && (await getDagRun(db, dagId, runId)) === undefined) {
          throw new CliError(
            `no DAG run "${runId}" of "${dagId}" is recorded (see \`updraft dags list-runs ${dagId}\`)`,
            2,
          );
        }
        print(
          rows.map((r) => ({ ...r })),
          ['task_id', 'map_index', 'try_number', 'name', 'value', 'step', 'timestamp'],
          format,
        );
      });
    });
}
