import type { Kysely, Transaction } from 'kysely';
import type { Database } from './database.js';

/**
 * Runs `fn` in a transaction: the caller's, when `db` already is one (so repositories compose into
 * a larger unit of work), else a new one.
 */
export async function inTransaction<T>(
  db: Kysely<Database>,
  fn: (trx: Transaction<Database>) => Promise<T>,
): Promise<T> {
  if (db.isTransaction) return fn(db as Transaction<Database>);
  return db.transaction().execute(fn);
}

/** Postgres accepts at most 65535 bind parameters per statement. */
export const MAX_BIND_PARAMETERS = 65535;

/** Splits `items` into chunks whose statements stay under the bind-parameter limit. */
export function chunkForParameters<T>(items: readonly T[], parametersPerItem: number, maxRows = 1000): T[][] {
  const size = Math.max(1, Math.min(maxRows, Math.floor(MAX_BIND_PARAMETERS / parametersPerItem)));
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}
