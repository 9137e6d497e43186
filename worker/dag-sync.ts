/**
 * Writes the DAG bag to Postgres: one dag row per DAG, a dag_version per distinct spec hash, the
 * current import errors (replacing the previous set), and the assets the DAGs declare with who
 * consumes and produces them, so the CLI and API see what the worker sees and asset events queue
 * for the DAGs scheduled on them.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { markDagsInactiveExcept, upsertDag, upsertDagVersion } from '../db/dag.repository.js';
import { replaceImportErrors } from '../db/import-error.repository.js';
import { syncAssetReferences } from '../db/asset.repository.js';
import type { DagBag } from './dag-bag.js';

export interface SyncResult {
  dags: number;
  importErrors: number;
  /** Assets the DAGs declare (outlets and asset schedules). */
  assets: number;
  /** One uri declared with different names, groups or extras (the first declaration is used). */
  assetConflicts: string[];
}

export async function syncDagBag(db: Kysely<Database>, bag: DagBag): Promise<SyncResult> {
  for (const dag of bag.dags.values()) {
    const s = dag.spec;
    await upsertDag(db, {
      dag_id: s.dag_id, fileloc: dag.filename, owners: s.owner, description: s.description, tags: s.tags, schedule: s.schedule,
    });
    await upsertDagVersion(db, s.dag_id, s.hash, s);
  }
  await markDagsInactiveExcept(db, [...bag.dags.keys()]);
  await replaceImportErrors(db, bag.importErrors.map((e) => ({ filename: e.filename, stacktrace: e.stacktrace })));
  const assets = await syncAssetReferences(db, [...bag.dags.values()].map((d) => d.spec));
  return { dags: bag.dags.size, importErrors: bag.importErrors.length, assets: assets.assets, assetConflicts: assets.conflicts };
}
