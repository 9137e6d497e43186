import type { Kysely } from 'kysely';

/**
 * Airflow's Variables and Connections. Secret columns (a variable's val, a connection's password
 * and extra) hold ciphertext when their is_encrypted flag is set; the key is never stored.
 *
 * Frozen in time: this file must not import application code, and must not change once released.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('variable')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('val', 'text', (c) => c.notNull())
    .addColumn('is_encrypted', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('description', 'text')
    .execute();

  await db.schema
    .createTable('connection')
    .addColumn('conn_id', 'text', (c) => c.primaryKey())
    .addColumn('conn_type', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('host', 'text')
    .addColumn('schema', 'text')
    .addColumn('login', 'text')
    .addColumn('password', 'text')
    .addColumn('port', 'integer')
    // JSON text (encrypted when is_extra_encrypted), as Airflow stores it.
    .addColumn('extra', 'text')
    .addColumn('is_encrypted', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('is_extra_encrypted', 'boolean', (c) => c.notNull().defaultTo(false))
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- migrations are schema-agnostic.
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('connection').execute();
  await db.schema.dropTable('variable').execute();
}
