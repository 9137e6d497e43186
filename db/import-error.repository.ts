import { sql, type Kysely } from 'kysely';
import type { Database, ImportErrorRow } from './database.js';
import { inTransaction } from './transaction.js';

export interface ImportErrorInput {
  filename: string;
  stacktrace: string;
}

/**
 * Replaces the set of DAG-file import errors with the current one, as a DAG-bag parse sees it:
 * files that no longer fail lose their row, failing files get theirs inserted or updated. A file
 * listed twice keeps its last stacktrace. Returns the stored set.
 */
export async function replaceImportErrors(
  db: Kysely<Database>,
  errors: readonly ImportErrorInput[],
): Promise<ImportErrorRow[]> {
  const byFile = new Map<string, string>();
  for (const e of errors) byFile.set(e.filename, e.stacktrace);
  const filenames = [...byFile.keys()];
  return inTransaction(db, async (trx) => {
    let del = trx.deleteFrom('import_error');
    if (filenames.length > 0) del = del.where('filename', 'not in', filenames);
    await del.execute();
    if (filenames.length > 0) {
      await trx
        .insertInto('import_error')
        .values([...byFile].map(([filename, stacktrace]) => ({ filename, stacktrace })))
        .onConflict((oc) =>
          oc.column('filename').doUpdateSet({
            stacktrace: sql.ref('excluded.stacktrace'),
            timestamp: sql`now()`,
          }),
        )
        .execute();
    }
    return listImportErrors(trx);
  });
}

/** Current import errors, by filename. */
export async function listImportErrors(db: Kysely<Database>): Promise<ImportErrorRow[]> {
  return db.selectFrom('import_error').selectAll().orderBy('filename').execute();
}
