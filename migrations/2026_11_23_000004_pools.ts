import { sql, type Kysely } from 'kysely';

/**
 * Pools and cross-run admission (Airflow's slot_pool), and sensor reschedules (task_reschedule).
 *
 * - slot_pool: named slot budgets; `default_pool` (128 slots, Airflow's default) is seeded. slots
 *   -1 means unlimited (as in Airflow).
 * - task_slot_grant: one row per try that asked for admission: `queued` while it waits, `granted`
 *   while it holds `slots` of `pool` (and counts toward its DAG's max_active_tasks and its task's
 *   max_active_tis_per_dag). The holder heartbeats heartbeat_at; a row older than lease_seconds is
 *   a crashed worker's and is reclaimed. The key is the try, so a retried attempt reuses its row.
 * - task_reschedule: one row per reschedule of a sensor in reschedule mode; the first row of a try
 *   keeps the sensor's original start (its timeout counts from there).
 *
 * Frozen in time: this file must not import application code, and must not change once released.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('slot_pool')
    .addColumn('pool', 'text', (c) => c.primaryKey())
    .addColumn('slots', 'integer', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('include_deferred', 'boolean', (c) => c.notNull().defaultTo(false))
    .addCheckConstraint('slot_pool_slots_check', sql`slots >= -1`)
    .execute();
  await db
    .insertInto('slot_pool')
    .values({ pool: 'default_pool', slots: 128, description: 'Default pool', include_deferred: false })
    .execute();

  // No foreign key to dag_run: grants are short-lived and reclaimed by their lease.
  await db.schema
    .createTable('task_slot_grant')
    .addColumn('dag_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('map_index', 'integer', (c) => c.notNull())
    .addColumn('try_number', 'integer', (c) => c.notNull())
    .addColumn('pool', 'text', (c) => c.notNull())
    .addColumn('slots', 'integer', (c) => c.notNull())
    .addColumn('priority_weight', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('requested_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('granted_at', 'timestamptz')
    .addColumn('heartbeat_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('lease_seconds', 'integer', (c) => c.notNull())
    .addColumn('max_active_tasks', 'integer', (c) => c.notNull())
    .addColumn('max_active_tis_per_dag', 'integer')
    .addColumn('hostname', 'text')
    .addPrimaryKeyConstraint('task_slot_grant_pkey', ['dag_id', 'run_id', 'task_id', 'map_index', 'try_number'])
    .addCheckConstraint('task_slot_grant_state_check', sql`state in ('queued', 'granted')`)
    .execute();
  await db.schema.createIndex('task_slot_grant_pool_idx').on('task_slot_grant').columns(['pool', 'state']).execute();
  await db.schema.createIndex('task_slot_grant_dag_idx').on('task_slot_grant').columns(['dag_id', 'state']).execute();

  await db.schema
    .createTable('task_reschedule')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('dag_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('map_index', 'integer', (c) => c.notNull())
    .addColumn('try_number', 'integer', (c) => c.notNull())
    .addColumn('start_date', 'timestamptz', (c) => c.notNull())
    .addColumn('end_date', 'timestamptz', (c) => c.notNull())
    .addColumn('duration', 'double precision', (c) => c.notNull())
    .addColumn('reschedule_date', 'timestamptz', (c) => c.notNull())
    .addForeignKeyConstraint(
      'task_reschedule_dag_run_fkey',
      ['dag_id', 'run_id'],
      'dag_run',
      ['dag_id', 'run_id'],
      (fk) => fk.onDelete('cascade'),
    )
    .execute();
  await db.schema
    .createIndex('task_reschedule_ti_idx')
    .on('task_reschedule')
    .columns(['dag_id', 'run_id', 'task_id', 'map_index', 'try_number'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('task_reschedule').execute();
  await db.schema.dropTable('task_slot_grant').execute();
  await db.schema.dropTable('slot_pool').execute();
}
