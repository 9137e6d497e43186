import type { Kysely } from 'kysely';
import type { ConnectionRow, Database, NewConnectionRow } from './database.js';

/**
 * Rows of the connection table as stored: password and extra are ciphertext when their flags are
 * set. Encrypting and decrypting is secrets/store.ts's job.
 */

export class ConnectionExistsError extends Error {
  override readonly name = 'ConnectionExistsError';
  constructor(readonly connId: string) {
    super(`a connection with conn_id "${connId}" already exists (delete it first, or pick another conn_id)`);
  }
}

/**
 * Adds a connection; an existing conn_id throws ConnectionExistsError (Airflow's `connections add`
 * does not overwrite). `on conflict do nothing`, so a duplicate does not abort a transaction.
 */
export async function insertConnection(db: Kysely<Database>, row: NewConnectionRow): Promise<void> {
  const inserted = await db
    .insertInto('connection')
    // Columns the row leaves out take the table's defaults: null, and false for the flags.
    .values(row)
    .onConflict((oc) => oc.column('conn_id').doNothing())
    .returning('conn_id')
    .executeTakeFirst();
  if (inserted === undefined) throw new ConnectionExistsError(row.conn_id);
}

export async function getConnectionRow(db: Kysely<Database>, connId: string): Promise<ConnectionRow | undefined> {
  return db.selectFrom('connection').selectAll().where('conn_id', '=', connId).executeTakeFirst();
}

/** Every connection, by conn_id. */
export async function listConnectionRows(db: Kysely<Database>): Promise<ConnectionRow[]> {
  return db.selectFrom('connection').selectAll().orderBy('conn_id').execute();
}

/** Deletes a connection; false when there was none. */
export async function deleteConnection(db: Kysely<Database>, connId: string): Promise<boolean> {
  const result = await db.deleteFrom('connection').where('conn_id', '=', connId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
