/** `updraft tasks ...`: states-for-dag-run, logs, clear, set-state. */
import type { Command } from 'commander';
import { getDagRun } from '../../db/dag-run.repository.js';
import { listTaskInstances } from '../../db/task-instance.repository.js';
import { listLogTries, readTaskLog } from '../../db/task-log.repository.js';
import { loadConfig } from '../../worker/config.js';
import { getDagVersion } from '../../db/dag.repository.js';
import type { DagSpec } from '../../spec/dag-spec.js';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { explainMissingLog } from '../missing-log.js';
import { runClearAcrossRunsCommand, runOperatorCommand } from '../operator-action.js';
import { CliError, parseOutput, print } from '../output.js';
import { openCliDatabase } from '../runtime.js';

export function registerTasksCommands(program: Command): void {
  const tasks = program.command('tasks').description('Inspect task instances, clear them, set their state');

  tasks
    .command('clear <dag_id> [run_id]')
    .description(
      'Clear task instances so they run again (try_number goes up; a finished run is re-opened). ' +
        'Without a run id, in every run of the DAG (within -s/-e), as Airflow does',
    )
    .option('-t, --task-regex <regex>', 'clear the tasks whose id matches this regex (default: every task)')
    .option(
      '-s, --start-date <date>',
      'without a run id: only runs with a logical date at or after this (YYYY-MM-DD or ISO 8601, UTC)',
    )
    .option(
      '-e, --end-date <date>',
      'without a run id: only runs with a logical date at or before this (YYYY-MM-DD or ISO 8601, UTC)',
    )
    .option('-u, --upstream', 'also clear upstream tasks')
    .option('-d, --downstream', 'also clear downstream tasks')
    .option('-f, --only-failed', 'only clear failed and upstream_failed tasks')
    .option('-r, --only-running', 'only clear running tasks')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--dry-run', 'list what would be cleared, change nothing')
    .option('-w, --wait', 'wait for the run(s) to end and print their states; the exit code says how they ended')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(
      async (
        dagId: string,
        runId: string | undefined,
        o: {
          taskRegex?: string;
          startDate?: string;
          endDate?: string;
          upstream?: boolean;
          downstream?: boolean;
          onlyFailed?: boolean;
          onlyRunning?: boolean;
          yes?: boolean;
          dryRun?: boolean;
          wait?: boolean;
          output?: string;
        },
      ) => {
        const format = parseOutput(o.output);
        const action = {
          upstream: o.upstream === true,
          downstream: o.downstream === true,
          only_failed: o.onlyFailed === true,
          only_running: o.onlyRunning === true,
          dry_run: o.dryRun === true,
        };
        if (runId === undefined) {
          const startDate = parseDateOption('--start-date', o.startDate);
          const endDate = parseDateOption('--end-date', o.endDate);
          if (startDate && endDate && startDate > endDate)
            throw new CliError(`--start-date ${o.startDate} is after --end-date ${o.endDate}`, 2);
          await runClearAcrossRunsCommand({
            dagId,
            format,
            yes: o.yes === true,
            wait: o.wait,
            request: {
              ...(o.taskRegex === undefined ? {} : { taskRegex: parseRegex(o.taskRegex) }),
              startDate,
              endDate,
              action,
            },
          });
          return;
        }
        if (o.startDate !== undefined || o.endDate !== undefined) {
          throw new CliError(
            '--start-date/--end-date select runs when no run id is given; with a run id they do nothing: drop them, or the run id',
            2,
          );
        }
        const taskIds = o.taskRegex === undefined ? undefined : await matchTasks(dagId, runId, o.taskRegex);
        await runOperatorCommand({
          dagId,
          runId,
          format,
          wait: o.wait,
          action: { kind: 'clear', ...(taskIds ? { task_ids: taskIds } : {}), ...action },
          confirm: { yes: o.yes === true, question: 'You are about to clear these task instances. Are you sure?' },
        });
      },
    );

  tasks
    .command('set-state <dag_id> <run_id> <task_id> <state>')
    .description('Mark a task instance success or failed (a running try is stopped; a finished run is re-opened)')
    .option('-u, --upstream', 'also mark upstream tasks')
    .option('-d, --downstream', 'also mark downstream tasks')
    .option('--dry-run', 'list what would change, change nothing')
    .option('-w, --wait', 'wait for the run to end and print its task states; the exit code says how it ended')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(
      async (
        dagId: string,
        runId: string,
        taskId: string,
        state: string,
        o: {
          upstream?: boolean;
          downstream?: boolean;
          dryRun?: boolean;
          wait?: boolean;
          output?: string;
        },
      ) => {
        const format = parseOutput(o.output);
        if (state !== 'success' && state !== 'failed')
          throw new CliError(`state must be success or failed, got "${state}"`, 2);
        await runOperatorCommand({
          dagId,
          runId,
          format,
          wait: o.wait,
          action: {
            kind: 'set_task_state',
            task_ids: [taskId],
            state,
            upstream: o.upstream === true,
            downstream: o.downstream === true,
            dry_run: o.dryRun === true,
          },
        });
      },
    );

  tasks
    .command('states-for-dag-run <dag_id> <run_id>')
    .description('Print the state of every task instance of a DAG run')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (dagId: string, runId: string, o: { output?: string }) => {
      const config = loadConfig();
      const h = await openCliDatabase(config);
      try {
        if (!(await getDagRun(h.db, dagId, runId)))
          throw new CliError(`DAG run "${runId}" of DAG "${dagId}" not found (see updraft dags list-runs ${dagId})`);
        const rows = await listTaskInstances(h.db, dagId, runId);
        print(
          rows,
          [
            'dag_id',
            'run_id',
            'task_id',
            'map_index',
            'state',
            'try_number',
            'start_date',
            'end_date',
            'duration',
            'hostname',
            'exit_code',
          ],
          parseOutput(o.output),
        );
      } finally {
        await h.close();
      }
    });

  tasks
    .command('logs <dag_id> <run_id> <task_id>')
    .description("Print a task instance's log (latest try unless --try)")
    .option('-t, --try <n>', 'try number')
    .option('-m, --map-index <n>', 'map index of a mapped task instance')
    .action(async (dagId: string, runId: string, taskId: string, o: { try?: string; mapIndex?: string }) => {
      const mapIndex = o.mapIndex === undefined ? undefined : Number(o.mapIndex);
      if (mapIndex !== undefined && (!Number.isInteger(mapIndex) || mapIndex < -1)) {
        throw new CliError(`--map-index must be an integer >= 0 (or -1 for an unmapped task), got "${o.mapIndex}"`, 2);
      }
      const config = loadConfig();
      const h = await openCliDatabase(config);
      try {
        const ref = { dag_id: dagId, run_id: runId, task_id: taskId, map_index: mapIndex ?? -1 };
        const tries = await listLogTries(h.db, ref);
        if (tries.length === 0) throw new CliError(await whyNoLog(h.db, dagId, runId, taskId, mapIndex));
        const tryNumber = o.try === undefined ? tries[tries.length - 1]! : Number(o.try);
        if (!tries.includes(tryNumber))
          throw new CliError(`task "${taskId}" has no log for try ${o.try}; tries with logs: ${tries.join(', ')}`);
        const lines = await readTaskLog(h.db, { ...ref, try_number: tryNumber });
        for (const l of lines) {
          const tag = l.stream === 'system' ? '{updraft} ' : l.stream === 'stderr' ? '{stderr} ' : '';
          process.stdout.write(`[${l.ts.toISOString()}] ${tag}${l.line}\n`);
        }
      } finally {
        await h.close();
      }
    });
}

/** What is really wrong when a task instance has no log (cli/missing-log.ts words it). */
async function whyNoLog(
  db: Kysely<Database>,
  dagId: string,
  runId: string,
  taskId: string,
  mapIndex: number | undefined,
): Promise<string> {
  const run = await getDagRun(db, dagId, runId);
  if (!run) return `DAG run "${runId}" of DAG "${dagId}" not found (see updraft dags list-runs ${dagId})`;
  const version = run.dag_version_id === null ? undefined : await getDagVersion(db, run.dag_version_id);
  const instances = (await listTaskInstances(db, dagId, runId)).filter((ti) => ti.task_id === taskId);
  const taskIds = ((version?.spec as unknown as DagSpec | undefined)?.tasks ?? []).map((t) => t.task_id);
  return explainMissingLog({ dagId, runId, taskId, mapIndex, runState: run.state, taskIds, instances });
}

function parseRegex(regex: string): RegExp {
  try {
    return new RegExp(regex);
  } catch (err) {
    throw new CliError(`--task-regex is not a valid regular expression: ${(err as Error).message}`, 2);
  }
}

/** A date option: YYYY-MM-DD (midnight UTC, as Airflow reads it) or an ISO 8601 date-time. */
function parseDateOption(option: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value;
  const date = /^\d{4}-\d{2}-\d{2}T/.test(iso)
    ? new Date(/(Z|[+-]\d{2}:?\d{2})$/.test(iso) ? iso : `${iso}Z`)
    : new Date(NaN);
  if (Number.isNaN(date.getTime()))
    throw new CliError(`${option} must be a date like 2025-01-31 or 2025-01-31T06:00:00Z, got "${value}"`, 2);
  return date;
}

/** The run's task ids matching `regex` (Airflow's -t: a search, not a full match). */
async function matchTasks(dagId: string, runId: string, regex: string): Promise<string[]> {
  const re = parseRegex(regex);
  const config = loadConfig();
  const h = await openCliDatabase(config);
  try {
    const run = await getDagRun(h.db, dagId, runId);
    if (!run)
      throw new CliError(`DAG run "${runId}" of DAG "${dagId}" not found (see updraft dags list-runs ${dagId})`);
    const version = run.dag_version_id === null ? undefined : await getDagVersion(h.db, run.dag_version_id);
    const ids = (version?.spec.tasks ?? []).map((t) => t.task_id);
    const matched = ids.filter((id) => re.test(id));
    if (matched.length === 0)
      throw new CliError(
        `--task-regex ${JSON.stringify(regex)} matches no task of DAG "${dagId}"; its tasks are: ${ids.join(', ')}`,
      );
    return matched;
  } finally {
    await h.close();
  }
}
