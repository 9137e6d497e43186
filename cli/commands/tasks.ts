/** `updraft tasks ...`: states-for-dag-run, logs. */
import type { Command } from 'commander';
import { getDagRun } from '../../db/dag-run.repository.js';
import { listTaskInstances } from '../../db/task-instance.repository.js';
import { listLogTries, readTaskLog } from '../../db/task-log.repository.js';
import { loadConfig } from '../../worker/config.js';
import { CliError, parseOutput, print } from '../output.js';
import { openCliDatabase } from '../runtime.js';

export function registerTasksCommands(program: Command): void {
  const tasks = program.command('tasks').description('Inspect task instances');

  tasks
    .command('states-for-dag-run <dag_id> <run_id>')
    .description('Print the state of every task instance of a DAG run')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (dagId: string, runId: string, o: { output?: string }) => {
      const config = loadConfig();
      const h = await openCliDatabase(config);
      try {
        if (!(await getDagRun(h.db, dagId, runId))) throw new CliError(`DAG run "${runId}" of DAG "${dagId}" not found (see updraft dags list-runs ${dagId})`);
        const rows = await listTaskInstances(h.db, dagId, runId);
        print(rows, ['dag_id', 'run_id', 'task_id', 'map_index', 'state', 'try_number', 'start_date', 'end_date', 'duration', 'hostname', 'exit_code'], parseOutput(o.output));
      } finally {
        await h.close();
      }
    });

  tasks
    .command('logs <dag_id> <run_id> <task_id>')
    .description("Print a task instance's log (latest try unless --try)")
    .option('-t, --try <n>', 'try number')
    .option('-m, --map-index <n>', 'map index', '-1')
    .action(async (dagId: string, runId: string, taskId: string, o: { try?: string; mapIndex: string }) => {
      const config = loadConfig();
      const h = await openCliDatabase(config);
      try {
        const mapIndex = Number(o.mapIndex);
        const tries = await listLogTries(h.db, { dag_id: dagId, run_id: runId, task_id: taskId, map_index: mapIndex });
        if (tries.length === 0) {
          throw new CliError(`no logs for task "${taskId}" of run "${runId}" of DAG "${dagId}" (is the task id right? see updraft tasks states-for-dag-run ${dagId} ${runId})`);
        }
        const tryNumber = o.try === undefined ? tries[tries.length - 1]! : Number(o.try);
        if (!tries.includes(tryNumber)) throw new CliError(`task "${taskId}" has no log for try ${o.try}; tries with logs: ${tries.join(', ')}`);
        const lines = await readTaskLog(h.db, { dag_id: dagId, run_id: runId, task_id: taskId, map_index: mapIndex, try_number: tryNumber });
        for (const l of lines) {
          const tag = l.stream === 'system' ? '{updraft} ' : l.stream === 'stderr' ? '{stderr} ' : '';
          process.stdout.write(`[${l.ts.toISOString()}] ${tag}${l.line}\n`);
        }
      } finally {
        await h.close();
      }
    });
}
