/* eslint-disable @typescript-eslint/no-explicit-any -- migrations take Kysely<any>: they are frozen in time, not typed by today's schema */
import type { Kysely } from 'kysely';

/**
 * `dag_run.triggered_by` (Airflow 3's DagRunTriggeredByType: cli, test, timetable, asset,
 * backfill, ...): who asked for the run. Run admission needs it because Airflow 3 keeps every run
 * of a paused DAG queued, manual ones too, except the one `dags test` makes (it bypasses the
 * scheduler). Null for runs recorded before this migration.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('dag_run').addColumn('triggered_by', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('dag_run').dropColumn('triggered_by').execute();
}
