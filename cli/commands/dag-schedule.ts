/**
 * `updraft dags pause|unpause|next-execution`: a DAG's schedule as the CLI sees it. Pausing is
 * recorded in Postgres (the truth every worker reads) and applied to the DAG's Temporal Schedule
 * at once when a Temporal server is reachable (else by the worker's next schedule sync).
 */
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import { syncDagSchedule, wakeQueuedRuns } from '../../client/schedules.js';
import type { Database } from '../../db/database.js';
import { getDag, getLatestDagVersion, setDagPaused } from '../../db/dag.repository.js';
import { latestScheduledInterval } from '../../db/dag-run.repository.js';
import { nextExecutions, restrictionOf, timetableFromSpec } from '../../engine/timetables/index.js';
import { loadConfig } from '../../worker/config.js';
import { CliError, parseOutput, print } from '../output.js';
import { openCliDatabase, openCliTemporal } from '../runtime.js';

/** When the DAG's next scheduled run is due (Airflow's next_dagrun_create_after), or null. */
export async function nextRunAfter(db: Kysely<Database>, dagId: string, now: Date): Promise<Date | null> {
  const version = await getLatestDagVersion(db, dagId);
  if (!version?.spec.timetable) return null;
  const tt = timetableFromSpec(version.spec.timetable);
  if (!tt.canBeScheduled || version.spec.timetable.type === 'assets') return null;
  const [next] = nextExecutions(tt, {
    restriction: restrictionOf(version.spec),
    last: await latestScheduledInterval(db, dagId),
    now,
    count: 1,
  });
  return next?.run_after ?? null;
}

async function setPaused(dagId: string, paused: boolean, format: 'table' | 'json'): Promise<void> {
  const config = loadConfig();
  const h = await openCliDatabase(config);
  try {
    if (!(await getDag(h.db, dagId)))
      throw new CliError(`DAG "${dagId}" not found in the last parse of the DAGs folder (updraft dags list)`);
    await setDagPaused(h.db, dagId, paused);
    let schedule = 'applied by the worker at its next schedule sync (no Temporal server reachable now)';
    let woken = 0;
    const t = await openCliTemporal(config).catch(() => null);
    if (t) {
      try {
        const outcome = await syncDagSchedule(
          { db: h.db, client: t.client, runOptions: config.run, logsFolder: config.logsFolder },
          dagId,
        );
        schedule =
          outcome === 'absent'
            ? 'none (the DAG has no time-based schedule, or is @continuous: a run starts when the previous one ends)'
            : `Temporal schedule updraft-schedule-${dagId} ${paused ? 'paused' : 'unpaused'}`;
        if (!paused) woken = await wakeQueuedRuns(h.db, t.client, dagId);
      } finally {
        await t.close();
      }
    }
    print(
      [{ dag_id: dagId, is_paused: paused, schedule, ...(paused ? {} : { queued_runs_started: woken }) }],
      ['dag_id', 'is_paused', 'schedule', ...(paused ? [] : ['queued_runs_started'])],
      format,
    );
  } finally {
    await h.close();
  }
}

export function registerScheduleCommands(dags: Command): void {
  dags
    .command('pause <dag_id>')
    .description(
      'Pause a DAG: no new scheduled runs (its Temporal Schedule is paused too), queued scheduled and backfill runs wait',
    )
    .option('-o, --output <format>', 'table or json', 'table')
    .action((dagId: string, o: { output?: string }) => setPaused(dagId, true, parseOutput(o.output)));

  dags
    .command('unpause <dag_id>')
    .description(
      "Unpause a DAG: its schedule runs again (a missed run is created as the DAG's catchup says) and queued runs start",
    )
    .option('-o, --output <format>', 'table or json', 'table')
    .action((dagId: string, o: { output?: string }) => setPaused(dagId, false, parseOutput(o.output)));

  dags
    .command('next-execution <dag_id>')
    .description(
      "The next scheduled runs of a DAG (Airflow's dags next-execution): run_after, logical date, data interval, run id",
    )
    .option('-n, --num-executions <n>', 'how many', '1')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (dagId: string, o: { numExecutions: string; output?: string }) => {
      const format = parseOutput(o.output);
      const count = Number(o.numExecutions);
      if (!Number.isInteger(count) || count < 1)
        throw new CliError(`--num-executions must be a positive integer, got "${o.numExecutions}"`, 2);
      const config = loadConfig();
      const h = await openCliDatabase(config);
      try {
        const dag = await getDag(h.db, dagId);
        const version = dag ? await getLatestDagVersion(h.db, dagId) : undefined;
        if (!dag || !version)
          throw new CliError(`DAG "${dagId}" not found in the last parse of the DAGs folder (updraft dags list)`);
        if (dag.is_paused)
          process.stderr.write(`Please be reminded this DAG is PAUSED now (updraft dags unpause ${dagId}).\n`);
        const tt = timetableFromSpec(version.spec.timetable);
        if (!tt.canBeScheduled || version.spec.timetable?.type === 'assets') {
          process.stderr.write(`DAG "${dagId}" has no time-based schedule (${tt.summary}): it has no next execution\n`);
        }
        const runs =
          !tt.canBeScheduled || version.spec.timetable?.type === 'assets'
            ? []
            : nextExecutions(tt, {
                restriction: restrictionOf(version.spec),
                last: await latestScheduledInterval(h.db, dagId),
                now: new Date(),
                count,
              });
        print(
          runs.map((r) => ({
            run_after: r.run_after,
            logical_date: r.logical_date,
            data_interval_start: r.data_interval?.start ?? null,
            data_interval_end: r.data_interval?.end ?? null,
            run_id: r.run_id,
          })),
          ['run_after', 'logical_date', 'data_interval_start', 'data_interval_end', 'run_id'],
          format,
        );
      } finally {
        await h.close();
      }
    });
}
