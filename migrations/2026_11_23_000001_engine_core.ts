import { sql, type Kysely } from 'kysely';

/**
 * The engine's record: DAGs and their versions, runs, task instances (current and per try), XCom,
 * task logs and DAG-file import errors. Column names follow Airflow's metadata database.
 *
 * Frozen in time: this file must not import application code, and must not change once released;
 * later schema changes are new migrations.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('dag')
    .addColumn('dag_id', 'text', (c) => c.primaryKey())
    .addColumn('fileloc', 'text', (c) => c.notNull())
    .addColumn('owners', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('tags', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('schedule', 'text')
    .addColumn('is_paused', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('is_active', 'boolean', (c) => c.notNull().defaultTo(true))
    // No foreign key to dag_version: the two tables would reference each other, and the version
    // row is always written in the same transaction that points the DAG at it.
    .addColumn('latest_version_id', 'integer')
    .addColumn('last_parsed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('dag_version')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('dag_id', 'text', (c) => c.notNull().references('dag.dag_id').onDelete('cascade'))
    .addColumn('version_number', 'integer', (c) => c.notNull())
    .addColumn('spec_hash', 'text', (c) => c.notNull())
    .addColumn('spec', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('dag_version_dag_id_spec_hash_key', ['dag_id', 'spec_hash'])
    .addUniqueConstraint('dag_version_dag_id_version_number_key', ['dag_id', 'version_number'])
    .execute();

  await db.schema
    .createTable('dag_run')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    // No foreign key to dag: a run outlives its DAG file (Airflow keeps runs of deleted DAGs).
    .addColumn('dag_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('dag_version_id', 'integer', (c) => c.references('dag_version.id').onDelete('set null'))
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('run_type', 'text', (c) => c.notNull())
    .addColumn('logical_date', 'timestamptz')
    .addColumn('data_interval_start', 'timestamptz')
    .addColumn('data_interval_end', 'timestamptz')
    .addColumn('conf', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('queued_at', 'timestamptz')
    .addColumn('start_date', 'timestamptz')
    .addColumn('end_date', 'timestamptz')
    .addColumn('workflow_id', 'text', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('dag_run_dag_id_run_id_key', ['dag_id', 'run_id'])
    .execute();
  // max_active_runs and "runs in state X" listings.
  await db.schema.createIndex('dag_run_dag_id_state_idx').on('dag_run').columns(['dag_id', 'state']).execute();
  // Runs of a DAG by logical date (catchup, latest run, the grid view).
  await db.schema
    .createIndex('dag_run_dag_id_logical_date_idx')
    .on('dag_run')
    .columns(['dag_id', 'logical_date'])
    .execute();
  await db.schema.createIndex('dag_run_dag_version_id_idx').on('dag_run').column('dag_version_id').execute();

  // Task instances of a run are found by the primary key's (dag_id, run_id) prefix.
  await db.schema
    .createTable('task_instance')
    .addColumn('dag_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('map_index', 'integer', (c) => c.notNull().defaultTo(-1))
    // NULL is Airflow's "no status".
    .addColumn('state', 'text')
    .addColumn('try_number', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('max_tries', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('start_date', 'timestamptz')
    .addColumn('end_date', 'timestamptz')
    .addColumn('duration', 'double precision')
    .addColumn('hostname', 'text')
    .addColumn('executor', 'text')
    .addColumn('operator', 'text')
    .addColumn('queue', 'text')
    .addColumn('pool', 'text', (c) => c.notNull().defaultTo('default_pool'))
    .addColumn('pool_slots', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('priority_weight', 'integer', (c) => c.notNull().defaultTo(1))
    .addColumn('exit_code', 'integer')
    .addColumn('external_id', 'text')
    .addColumn('error', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('task_instance_pkey', ['dag_id', 'run_id', 'task_id', 'map_index'])
    .addForeignKeyConstraint(
      'task_instance_dag_run_fkey',
      ['dag_id', 'run_id'],
      'dag_run',
      ['dag_id', 'run_id'],
      (fk) => fk.onDelete('cascade'),
    )
    .execute();
  // Pools, queues and "what is running" scans across runs.
  await db.schema.createIndex('task_instance_state_idx').on('task_instance').columns(['state', 'pool']).execute();

  await db.schema
    .createTable('task_instance_history')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('dag_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('map_index', 'integer', (c) => c.notNull())
    .addColumn('try_number', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('start_date', 'timestamptz')
    .addColumn('end_date', 'timestamptz')
    .addColumn('duration', 'double precision')
    .addColumn('hostname', 'text')
    .addColumn('executor', 'text')
    .addColumn('exit_code', 'integer')
    .addColumn('external_id', 'text')
    .addColumn('error', 'text')
    .addUniqueConstraint('task_instance_history_try_key', ['dag_id', 'run_id', 'task_id', 'map_index', 'try_number'])
    .addForeignKeyConstraint(
      'task_instance_history_dag_run_fkey',
      ['dag_id', 'run_id'],
      'dag_run',
      ['dag_id', 'run_id'],
      (fk) => fk.onDelete('cascade'),
    )
    .execute();

  await db.schema
    .createTable('xcom')
    .addColumn('dag_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('map_index', 'integer', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('value', 'jsonb', (c) => c.notNull())
    .addColumn('size_bytes', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('xcom_pkey', ['dag_id', 'run_id', 'task_id', 'map_index', 'key'])
    .addForeignKeyConstraint('xcom_dag_run_fkey', ['dag_id', 'run_id'], 'dag_run', ['dag_id', 'run_id'], (fk) =>
      fk.onDelete('cascade'),
    )
    .execute();

  await db.schema
    .createTable('task_log')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('dag_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('map_index', 'integer', (c) => c.notNull())
    .addColumn('try_number', 'integer', (c) => c.notNull())
    .addColumn('ts', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('stream', 'text', (c) => c.notNull())
    .addColumn('line', 'text', (c) => c.notNull())
    .addCheckConstraint('task_log_stream_check', sql`stream in ('stdout', 'stderr', 'system')`)
    .addForeignKeyConstraint('task_log_dag_run_fkey', ['dag_id', 'run_id'], 'dag_run', ['dag_id', 'run_id'], (fk) =>
      fk.onDelete('cascade'),
    )
    .execute();
  // One try's log in order (id is the append order), and the tries that have logs.
  await db.schema
    .createIndex('task_log_try_idx')
    .on('task_log')
    .columns(['dag_id', 'run_id', 'task_id', 'map_index', 'try_number', 'id'])
    .execute();

  await db.schema
    .createTable('import_error')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('filename', 'text', (c) => c.notNull().unique())
    .addColumn('stacktrace', 'text', (c) => c.notNull())
    .addColumn('timestamp', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function down(db: Kysely<any>): Promise<void> {
  for (const table of [
    'import_error',
    'task_log',
    'xcom',
    'task_instance_history',
    'task_instance',
    'dag_run',
    'dag_version',
    'dag',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
