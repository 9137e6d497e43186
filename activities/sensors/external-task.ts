/**
 * ExternalTaskSensor's check, reading Postgres: the other DAG's run at this run's logical date
 * minus `logical_date_delta`, and either that run's state (no task named) or its task's state.
 * An allowed state meets the sensor; a failed state fails it (retryable, like Airflow's
 * AirflowException; skipped with soft_fail); a skipped state skips it.
 */
import type { Kysely } from 'kysely';
import { dagRunAt, taskStatesInRun } from '../../db/cross-run.repository.js';
import type { Database } from '../../db/database.js';
import type { SensorCheckSpec } from '../../spec/dag-spec.js';

type ExternalCheck = Extract<SensorCheckSpec, { type: 'external_task' }>;

export type ExternalVerdict =
  | { met: true; detail: string }
  | { met: false; detail: string }
  | { failed: true; detail: string }
  | { skipped: true; detail: string };

export async function checkExternalTask(
  db: Kysely<Database>,
  check: ExternalCheck,
  logicalDate: string | null,
): Promise<ExternalVerdict> {
  if (logicalDate === null) {
    return { failed: true, detail: 'the run has no logical date, so there is no external run to look for' };
  }
  const target = new Date(Date.parse(logicalDate) - check.logical_date_delta * 1000);
  const what =
    check.external_task_id === null
      ? `DAG "${check.external_dag_id}"`
      : `task "${check.external_task_id}" of DAG "${check.external_dag_id}"`;
  const at = `at logical date ${target.toISOString()}`;
  const run = await dagRunAt(db, check.external_dag_id, target);
  if (!run) return { met: false, detail: `no run of DAG "${check.external_dag_id}" ${at} yet` };

  let state: string;
  if (check.external_task_id === null) {
    state = run.state;
  } else {
    const states = (await taskStatesInRun(db, check.external_dag_id, run.run_id, [check.external_task_id])).get(
      check.external_task_id,
    );
    if (states === undefined)
      return {
        met: false,
        detail: `run "${run.run_id}" of DAG "${check.external_dag_id}" has no task "${check.external_task_id}" yet`,
      };
    // A mapped task counts as a whole: every instance must agree (Airflow counts them).
    const worst = states.find((s) => !check.allowed_states.includes(s ?? 'none')) ?? states[0] ?? 'none';
    state = worst ?? 'none';
  }
  const where = `${what} ${at} (run "${run.run_id}")`;
  if (check.allowed_states.includes(state)) return { met: true, detail: `${where} is ${state}` };
  if (check.failed_states.includes(state))
    return { failed: true, detail: `The external ${where} failed: it is ${state}` };
  if (check.skipped_states.includes(state))
    return { skipped: true, detail: `The external ${where} is ${state}, a skipped state` };
  return { met: false, detail: `${where} is ${state}; waiting for ${check.allowed_states.join(' or ')}` };
}
