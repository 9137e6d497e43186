import { sql, type Kysely } from 'kysely';

/**
 * Assets and data-aware runs (Airflow 3's asset tables), and the cursors of asset watchers.
 *
 * - asset: one row per asset, identified by its sanitized uri (Airflow's Asset(name, uri, group, extra)).
 * - asset_event: one row per update of an asset: by a task's outlets, the API, the CLI or a watcher.
 *   (asset_id, dedupe_key) is unique, so an emitter that retries with the same key records one event.
 * - dag_schedule_asset_reference / task_outlet_asset_reference: which DAGs are scheduled on which
 *   assets, which tasks update which (the DAG sync writes both).
 * - asset_dag_run_queue: the events not yet consumed, one row per (consuming DAG, event), written in
 *   the emitting transaction for every DAG scheduled on the asset (Airflow's ADRQ, per event).
 * - asset_triggered_run: a run decided from queued events, claimed in the same transaction that moves
 *   its events out of the queue; 'claimed' until whoever starts runs has started it, then 'started'
 *   ('failed', with last_error, when the run can never start: its DAG's params reject an empty conf).
 * - dagrun_asset_event: the events each asset-triggered run consumed (its triggering_asset_events).
 *   The key (dag_id, asset_event_id) makes it impossible to consume an event twice for one DAG.
 * - asset_watcher / asset_watcher_seen: a watcher's lease (owner, lease_expires_at) and its cursor:
 *   the items it has seen (a file path or object key with its version: mtime:size or etag).
 *
 * Frozen in time: this file must not import application code, and must not change once released.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('asset')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('uri', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('group', 'text', (c) => c.notNull().defaultTo('asset'))
    .addColumn('extra', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('asset_name_idx').on('asset').column('name').execute();

  await db.schema
    .createTable('asset_event')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('asset_id', 'integer', (c) => c.notNull().references('asset.id').onDelete('cascade'))
    .addColumn('extra', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('source_kind', 'text', (c) => c.notNull())
    .addColumn('source_dag_id', 'text')
    .addColumn('source_run_id', 'text')
    .addColumn('source_task_id', 'text')
    .addColumn('source_map_index', 'integer')
    .addColumn('source_watcher', 'text')
    .addColumn('dedupe_key', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('asset_event_dedupe_key', ['asset_id', 'dedupe_key'])
    .addCheckConstraint('asset_event_source_kind_check', sql`source_kind in ('task', 'api', 'cli', 'watcher')`)
    .addCheckConstraint(
      'asset_event_task_source_check',
      sql`source_kind <> 'task' or (source_dag_id is not null and source_run_id is not null and source_task_id is not null and source_map_index is not null)`,
    )
    .execute();
  await db.schema.createIndex('asset_event_asset_idx').on('asset_event').columns(['asset_id', 'id']).execute();

  await db.schema
    .createTable('dag_schedule_asset_reference')
    .addColumn('asset_id', 'integer', (c) => c.notNull().references('asset.id').onDelete('cascade'))
    .addColumn('dag_id', 'text', (c) => c.notNull().references('dag.dag_id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('dag_schedule_asset_reference_pkey', ['asset_id', 'dag_id'])
    .execute();
  await db.schema
    .createIndex('dag_schedule_asset_reference_dag_idx')
    .on('dag_schedule_asset_reference')
    .column('dag_id')
    .execute();

  await db.schema
    .createTable('task_outlet_asset_reference')
    .addColumn('asset_id', 'integer', (c) => c.notNull().references('asset.id').onDelete('cascade'))
    .addColumn('dag_id', 'text', (c) => c.notNull().references('dag.dag_id').onDelete('cascade'))
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('task_outlet_asset_reference_pkey', ['asset_id', 'dag_id', 'task_id'])
    .execute();
  await db.schema
    .createIndex('task_outlet_asset_reference_dag_idx')
    .on('task_outlet_asset_reference')
    .column('dag_id')
    .execute();

  await db.schema
    .createTable('asset_dag_run_queue')
    .addColumn('target_dag_id', 'text', (c) => c.notNull().references('dag.dag_id').onDelete('cascade'))
    .addColumn('asset_event_id', 'bigint', (c) => c.notNull().references('asset_event.id').onDelete('cascade'))
    .addColumn('asset_id', 'integer', (c) => c.notNull().references('asset.id').onDelete('cascade'))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('asset_dag_run_queue_pkey', ['target_dag_id', 'asset_event_id'])
    .execute();
  await db.schema
    .createIndex('asset_dag_run_queue_dag_asset_idx')
    .on('asset_dag_run_queue')
    .columns(['target_dag_id', 'asset_id'])
    .execute();

  await db.schema
    .createTable('asset_triggered_run')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('dag_id', 'text', (c) => c.notNull().references('dag.dag_id').onDelete('cascade'))
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('run_after', 'timestamptz', (c) => c.notNull())
    .addColumn('event_count', 'integer', (c) => c.notNull())
    .addColumn('claimed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('started_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .addUniqueConstraint('asset_triggered_run_dag_run_key', ['dag_id', 'run_id'])
    .addCheckConstraint('asset_triggered_run_state_check', sql`state in ('claimed', 'started', 'failed')`)
    .execute();
  await sql`create index asset_triggered_run_claimed_idx on asset_triggered_run (claimed_at) where state = 'claimed'`.execute(
    db,
  );

  await db.schema
    .createTable('dagrun_asset_event')
    .addColumn('dag_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('asset_event_id', 'bigint', (c) => c.notNull().references('asset_event.id').onDelete('cascade'))
    .addPrimaryKeyConstraint('dagrun_asset_event_pkey', ['dag_id', 'asset_event_id'])
    .addForeignKeyConstraint(
      'dagrun_asset_event_run_fkey',
      ['dag_id', 'run_id'],
      'asset_triggered_run',
      ['dag_id', 'run_id'],
      (fk) => fk.onDelete('cascade'),
    )
    .execute();
  await db.schema
    .createIndex('dagrun_asset_event_run_idx')
    .on('dagrun_asset_event')
    .columns(['dag_id', 'run_id'])
    .execute();

  await db.schema
    .createTable('asset_watcher')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('asset_id', 'integer', (c) => c.notNull().references('asset.id').onDelete('cascade'))
    .addColumn('definition', 'jsonb', (c) => c.notNull())
    .addColumn('owner', 'text')
    .addColumn('lease_expires_at', 'timestamptz')
    .addColumn('initialized_at', 'timestamptz')
    .addColumn('last_poll_at', 'timestamptz')
    .addColumn('last_error', 'text')
    .addColumn('events_emitted', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('asset_watcher_seen')
    .addColumn('watcher_name', 'text', (c) => c.notNull().references('asset_watcher.name').onDelete('cascade'))
    .addColumn('item_key', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('first_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('missing_since', 'timestamptz')
    .addPrimaryKeyConstraint('asset_watcher_seen_pkey', ['watcher_name', 'item_key'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'asset_watcher_seen',
    'asset_watcher',
    'dagrun_asset_event',
    'asset_triggered_run',
    'asset_dag_run_queue',
    'task_outlet_asset_reference',
    'dag_schedule_asset_reference',
    'asset_event',
    'asset',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
