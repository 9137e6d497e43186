import { sql, type Kysely } from 'kysely';

/**
 * The ML record, part 2: the model registry (issue 10; docs/model-registry.md). MLflow's shape:
 * registered models own integer versions; aliases are single mutable pointers moved by
 * compare-and-swap; every move is a row in model_promotion, which is append-only in the database
 * itself (a trigger refuses UPDATE, DELETE and TRUNCATE: REVOKE would not bind the table's owner,
 * which is the role the application connects as).
 *
 * Versions, evaluations and promotions name their model twice (model_id and the version's id), and
 * composite foreign keys to model_version(id, model_id) make "a version of another model"
 * impossible to store, whatever the application does.
 *
 * Frozen in time: this file must not import application code, and must not change once released.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('registered_model')
    .addColumn('id', 'serial', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // `name@alias` and `name@version` address a model on the command line: no '@' or '/'.
    .addCheckConstraint('registered_model_name_check', sql`name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,249}$'`)
    .execute();

  await db.schema
    .createTable('model_version')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('model_id', 'integer', (c) => c.notNull().references('registered_model.id').onDelete('restrict'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('artifact_id', 'bigint', (c) => c.notNull().references('artifact.id').onDelete('restrict'))
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('uri', 'text', (c) => c.notNull())
    .addColumn('format', 'text')
    .addColumn('signature', 'jsonb')
    .addColumn('metrics', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    // The try that produced it (null for a version registered by hand).
    .addColumn('source_execution_id', 'bigint', (c) => c.references('execution.id').onDelete('set null'))
    .addColumn('source_dag_id', 'text')
    .addColumn('source_run_id', 'text')
    .addColumn('source_task_id', 'text')
    .addColumn('source_map_index', 'integer')
    .addColumn('source_try_number', 'integer')
    // Artifact ids (a JSON array: both drivers read int8[] differently, jsonb alike).
    .addColumn('training_data_artifact_ids', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('registered'))
    .addColumn('description', 'text')
    .addColumn('created_by', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('model_version_model_version_key', ['model_id', 'version'])
    .addUniqueConstraint('model_version_id_model_key', ['id', 'model_id'])
    .addCheckConstraint('model_version_version_check', sql`version >= 1`)
    .addCheckConstraint(
      'model_version_status_check',
      sql`status in ('registered', 'validated', 'rejected', 'archived')`,
    )
    .execute();
  await db.schema.createIndex('model_version_artifact_idx').on('model_version').column('artifact_id').execute();
  await db.schema
    .createIndex('model_version_source_execution_idx')
    .on('model_version')
    .column('source_execution_id')
    .execute();

  await db.schema
    .createTable('model_alias')
    .addColumn('model_id', 'integer', (c) => c.notNull().references('registered_model.id').onDelete('restrict'))
    .addColumn('alias', 'text', (c) => c.notNull())
    .addColumn('version_id', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('model_alias_pkey', ['model_id', 'alias'])
    .addForeignKeyConstraint('model_alias_version_fkey', ['version_id', 'model_id'], 'model_version', [
      'id',
      'model_id',
    ])
    // MLflow's rule: an alias is not a version reference (v1, 3) and not the reserved `latest`.
    .addCheckConstraint(
      'model_alias_alias_check',
      sql`alias ~ '^[A-Za-z_][A-Za-z0-9_-]{0,254}$' and alias !~ '^[vV][0-9]+$' and lower(alias) <> 'latest'`,
    )
    .execute();

  await db.schema
    .createTable('model_evaluation')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('model_id', 'integer', (c) => c.notNull().references('registered_model.id').onDelete('restrict'))
    .addColumn('candidate_version_id', 'bigint', (c) => c.notNull())
    .addColumn('baseline_version_id', 'bigint')
    .addColumn('dataset_artifact_id', 'bigint', (c) => c.references('artifact.id').onDelete('restrict'))
    .addColumn('candidate_metrics', 'jsonb', (c) => c.notNull())
    .addColumn('baseline_metrics', 'jsonb')
    .addColumn('thresholds', 'jsonb', (c) => c.notNull())
    .addColumn('decision', 'text', (c) => c.notNull())
    .addColumn('failures', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('dag_id', 'text')
    .addColumn('run_id', 'text')
    .addColumn('task_id', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addForeignKeyConstraint('model_evaluation_candidate_fkey', ['candidate_version_id', 'model_id'], 'model_version', [
      'id',
      'model_id',
    ])
    .addForeignKeyConstraint('model_evaluation_baseline_fkey', ['baseline_version_id', 'model_id'], 'model_version', [
      'id',
      'model_id',
    ])
    .addUniqueConstraint('model_evaluation_id_model_key', ['id', 'model_id'])
    .addCheckConstraint('model_evaluation_decision_check', sql`decision in ('pass', 'fail')`)
    .execute();
  await db.schema
    .createIndex('model_evaluation_candidate_idx')
    .on('model_evaluation')
    .column('candidate_version_id')
    .execute();

  await db.schema
    .createTable('model_promotion')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('model_id', 'integer', (c) => c.notNull().references('registered_model.id').onDelete('restrict'))
    .addColumn('alias', 'text', (c) => c.notNull())
    .addColumn('from_version_id', 'bigint')
    .addColumn('to_version_id', 'bigint')
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('evaluation_id', 'bigint')
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addForeignKeyConstraint('model_promotion_from_fkey', ['from_version_id', 'model_id'], 'model_version', [
      'id',
      'model_id',
    ])
    .addForeignKeyConstraint('model_promotion_to_fkey', ['to_version_id', 'model_id'], 'model_version', [
      'id',
      'model_id',
    ])
    .addForeignKeyConstraint('model_promotion_evaluation_fkey', ['evaluation_id', 'model_id'], 'model_evaluation', [
      'id',
      'model_id',
    ])
    .addCheckConstraint('model_promotion_action_check', sql`action in ('promote', 'rollback', 'set', 'lost')`)
    .execute();
  await db.schema
    .createIndex('model_promotion_alias_idx')
    .on('model_promotion')
    .columns(['model_id', 'alias', 'id'])
    .execute();

  await sql`
    create function model_promotion_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'model_promotion is append-only: % refused (the promotion log records every alias move; write a new row instead)', tg_op
        using errcode = 'restrict_violation';
    end
    $$`.execute(db);
  await sql`
    create trigger model_promotion_no_update_delete before update or delete on model_promotion
    for each row execute function model_promotion_append_only()`.execute(db);
  await sql`
    create trigger model_promotion_no_truncate before truncate on model_promotion
    for each statement execute function model_promotion_append_only()`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function down(db: Kysely<any>): Promise<void> {
  // Dropping the table drops its triggers; the log goes with the rest of the registry.
  await db.schema.dropTable('model_promotion').execute();
  await sql`drop function model_promotion_append_only()`.execute(db);
  await db.schema.dropTable('model_evaluation').execute();
  await db.schema.dropTable('model_alias').execute();
  await db.schema.dropTable('model_version').execute();
  await db.schema.dropTable('registered_model').execute();
}
