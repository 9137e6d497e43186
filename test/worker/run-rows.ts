/** Test helpers for the worker suites: a DAG's run records as the scheduler left them. */
import type { Stack } from '../../worker/stack.js';
import type { DagRunRow } from '../../db/database.js';

/** The DAG's runs in logical-date order (then creation order). */
export async function runsOf(stack: Pick<Stack, 'database'>, dagId: string): Promise<DagRunRow[]> {
  return stack.database.db
    .selectFrom('dag_run')
    .selectAll()
    .where('dag_id', '=', dagId)
    .orderBy('logical_date')
    .orderBy('id')
    .execute();
}
