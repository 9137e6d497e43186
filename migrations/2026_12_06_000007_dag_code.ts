/* eslint-disable @typescript-eslint/no-explicit-any -- migrations take Kysely<any>: they are frozen in time, not typed by today's schema */
import { sql, type Kysely } from 'kysely';

/**
 * A DAG version identifies its code, not only its spec: `dag_code` keeps each distinct bundle
 * (the esbuild output of a DAG file with its local imports, by content hash; Airflow's dag_code
 * table keeps the file source), and `dag_version.code_hash` points at the one the version was
 * parsed from, so a run executes the code of the version it was created with. Versions recorded
 * before this migration have no code (code_hash null). A version is unique per (dag_id, spec_hash,
 * code_hash), nulls compared equal.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('dag_code')
    .addColumn('code_hash', 'text', (c) => c.primaryKey())
    .addColumn('fileloc', 'text', (c) => c.notNull())
    .addColumn('bundle', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .alterTable('dag_version')
    .addColumn('code_hash', 'text', (c) => c.references('dag_code.code_hash'))
    .execute();
  await db.schema.alterTable('dag_version').dropConstraint('dag_version_dag_id_spec_hash_key').execute();
  await sql`create unique index dag_version_dag_id_spec_hash_code_hash_key on dag_version (dag_id, spec_hash, coalesce(code_hash, ''))`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('dag_version_dag_id_spec_hash_code_hash_key').execute();
  // Versions that differ only by code collapse into the oldest of them (runs of the others lose
  // their version pointer: dag_run.dag_version_id is ON DELETE SET NULL).
  await sql`update dag d set latest_version_id = (
      select min(w.id) from dag_version w, dag_version v where v.id = d.latest_version_id and w.dag_id = v.dag_id and w.spec_hash = v.spec_hash)
    where d.latest_version_id is not null`.execute(db);
  await sql`delete from dag_version v using dag_version w where v.dag_id = w.dag_id and v.spec_hash = w.spec_hash and v.id > w.id`.execute(
    db,
  );
  await db.schema
    .alterTable('dag_version')
    .addUniqueConstraint('dag_version_dag_id_spec_hash_key', ['dag_id', 'spec_hash'])
    .execute();
  await db.schema.alterTable('dag_version').dropColumn('code_hash').execute();
  await db.schema.dropTable('dag_code').execute();
}
