import { sql, type Kysely } from 'kysely';
import type { Database, NewVariableRow, VariableRow } from './database.js';

/**
 * Rows of the variable table as stored: `val` is ciphertext when is_encrypted. Encrypting and
 * decrypting is secrets/store.ts's job; this layer never sees the key.
 */

/** Creates or replaces a variable (Airflow's Variable.set overwrites). */
export async function upsertVariable(db: Kysely<Database>, row: NewVariableRow): Promise<void> {
  await db
    .insertInto('variable')
    .values({
      key: row.key,
      val: row.val,
      is_encrypted: row.is_encrypted ?? false,
      description: row.description ?? null,
    })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet({
        val: sql.ref('excluded.val'),
        is_encrypted: sql.ref('excluded.is_encrypted'),
        description: sql.ref('excluded.description'),
      }),
    )
    .execute();
}

export async function getVariableRow(db: Kysely<Database>, key: string): Promise<VariableRow | undefined> {
  return db.selectFrom('variable').selectAll().where('key', '=', key).executeTakeFirst();
}

/** Variables by key; keys that do not exist are absent from the result. */
export async function getVariableRows(db: Kysely<Database>, keys: readonly string[]): Promise<VariableRow[]> {
  if (keys.length === 0) return [];
  return db
    .selectFrom('variable')
    .selectAll()
    .where('key', 'in', [...keys])
    .orderBy('key')
    .execute();
}

/** Every variable, by key. */
export async function listVariableRows(db: Kysely<Database>): Promise<VariableRow[]> {
  return db.selectFrom('variable').selectAll().orderBy('key').execute();
}

/** Deletes a variable; false when there was none. */
export async function deleteVariable(db: Kysely<Database>, key: string): Promise<boolean> {
  const result = await db.deleteFrom('variable').where('key', '=', key).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
