import { sql, type Kysely } from 'kysely';

/**
 * The ML record, part 1: lineage in the MLMD shape (issue 10; docs/lineage.md).
 *
 * - artifact: one row per (sha256, name, type): the same bytes logged under two names are two
 *   artifacts that share one stored blob (the store is content-addressed by sha256).
 * - execution: one row per task try (MLMD Execution). The DAG run is the MLMD Context: executions
 *   carry dag_id/run_id (the Association) rather than a separate context table. No foreign key to
 *   dag_run: the lineage record is an audit record that outlives the run rows it came from.
 * - lineage_event: the artifact <-> execution edge (MLMD Event), kind 'input' or 'output'.
 * - metric: a try's metrics (MLflow's name/value/step/timestamp); a try's params are execution.params.
 *
 * Frozen in time: this file must not import application code, and must not change once released.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('artifact')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('uri', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('format', 'text')
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('metadata', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('artifact_sha256_name_type_key', ['sha256', 'name', 'type'])
    .addCheckConstraint('artifact_sha256_check', sql`sha256 ~ '^[0-9a-f]{64}$'`)
    .addCheckConstraint('artifact_type_check', sql`type in ('model', 'dataset', 'report', 'other')`)
    .addCheckConstraint('artifact_size_check', sql`size >= 0`)
    .addCheckConstraint('artifact_name_check', sql`length(name) between 1 and 250`)
    .execute();
  // Listing by type, newest first (`updraft artifacts list --type`).
  await db.schema.createIndex('artifact_type_created_idx').on('artifact').columns(['type', 'created_at']).execute();

  await db.schema
    .createTable('execution')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('dag_id', 'text', (c) => c.notNull())
    .addColumn('run_id', 'text', (c) => c.notNull())
    .addColumn('task_id', 'text', (c) => c.notNull())
    .addColumn('map_index', 'integer', (c) => c.notNull().defaultTo(-1))
    .addColumn('try_number', 'integer', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    // The code version: the DAG version the try ran (null when unknown) and a free-form hash
    // (the spec hash, an image digest) for code that lives outside the DAG file.
    .addColumn('dag_version_id', 'integer', (c) => c.references('dag_version.id').onDelete('set null'))
    .addColumn('code_version', 'text')
    .addColumn('params', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('started_at', 'timestamptz')
    .addColumn('ended_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('execution_try_key', ['dag_id', 'run_id', 'task_id', 'map_index', 'try_number'])
    .addCheckConstraint('execution_try_number_check', sql`try_number >= 1`)
    .addCheckConstraint('execution_state_check', sql`state in ('running', 'success', 'failed', 'skipped', 'cached')`)
    .execute();
  await db.schema.createIndex('execution_dag_version_idx').on('execution').column('dag_version_id').execute();

  await db.schema
    .createTable('lineage_event')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('artifact_id', 'bigint', (c) => c.notNull().references('artifact.id').onDelete('restrict'))
    .addColumn('execution_id', 'bigint', (c) => c.notNull().references('execution.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull())
    // Where the step saw or wrote it (relative to its output folder, or the input's local path).
    .addColumn('path', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('lineage_event_edge_key', ['execution_id', 'kind', 'artifact_id'])
    .addCheckConstraint('lineage_event_kind_check', sql`kind in ('input', 'output')`)
    .execute();
  // The recursive lineage walks go artifact -> executions (by artifact_id, kind) and
  // execution -> artifacts (the unique key above leads with execution_id, kind).
  await db.schema
    .createIndex('lineage_event_artifact_idx')
    .on('lineage_event')
    .columns(['artifact_id', 'kind', 'execution_id'])
    .execute();

  await db.schema
    .createTable('metric')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('execution_id', 'bigint', (c) => c.notNull().references('execution.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('value', 'double precision', (c) => c.notNull())
    .addColumn('step', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('timestamp', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('metric_name_check', sql`name ~ '^[A-Za-z0-9_./-]{1,250}$'`)
    .addCheckConstraint('metric_step_check', sql`step >= 0`)
    .addCheckConstraint(
      'metric_value_check',
      sql`value <> 'NaN'::float8 and value <> 'Infinity'::float8 and value <> '-Infinity'::float8`,
    )
    .execute();
  await db.schema.createIndex('metric_execution_idx').on('metric').columns(['execution_id', 'name', 'step']).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('metric').execute();
  await db.schema.dropTable('lineage_event').execute();
  await db.schema.dropTable('execution').execute();
  await db.schema.dropTable('artifact').execute();
}
