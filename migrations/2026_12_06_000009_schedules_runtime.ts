/* eslint-disable @typescript-eslint/no-explicit-any -- migrations take Kysely<any>: they are frozen in time, not typed by today's schema */
import { sql, type Kysely } from 'kysely';

/**
 * The scheduling runtime's record (issue 11):
 * - `dag.max_active_runs`: the current definition's limit, read by run admission without loading
 *   the spec (null: a DAG stored before this migration, Airflow's default 16 applies);
 * - `dag_run.run_after` (Airflow 3's column: when an automated run may start) and
 *   `dag_run.backfill_id` (the backfill that created the run);
 * - `backfill`: one row per `updraft backfill create`, with its own max_active_runs (Airflow 3's
 *   backfill table);
 * - at most one run per (dag_id, logical_date) among scheduled and backfill runs, so a retried or
 *   duplicated schedule fire, or a backfill of a date the schedule already ran, can never make two.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('dag').addColumn('max_active_runs', 'integer').execute();
  await db.schema
    .createTable('backfill')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('dag_id', 'text', (c) => c.notNull())
    .addColumn('from_date', 'timestamptz', (c) => c.notNull())
    .addColumn('to_date', 'timestamptz', (c) => c.notNull())
    .addColumn('run_backwards', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('max_active_runs', 'integer', (c) => c.notNull())
    .addColumn('reprocess_behavior', 'text', (c) => c.notNull())
    .addColumn('dag_run_conf', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('completed_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('backfill_dag_id_idx').on('backfill').column('dag_id').execute();
  await db.schema.alterTable('dag_run').addColumn('run_after', 'timestamptz').execute();
  await db.schema
    .alterTable('dag_run')
    .addColumn('backfill_id', 'integer', (c) => c.references('backfill.id').onDelete('set null'))
    .execute();
  await sql`create unique index dag_run_automated_logical_date_key on dag_run (dag_id, logical_date) where run_type in ('scheduled', 'backfill')`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('dag_run_automated_logical_date_key').execute();
  await db.schema.alterTable('dag_run').dropColumn('backfill_id').execute();
  await db.schema.alterTable('dag_run').dropColumn('run_after').execute();
  await db.schema.dropTable('backfill').execute();
  await db.schema.alterTable('dag').dropColumn('max_active_runs').execute();
}
