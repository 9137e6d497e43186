/**
 * Writes the DAG bag to Postgres: one dag row per DAG, a dag_version per distinct (spec, code)
 * with the code stored in dag_code, the DAGs no file defines any more marked inactive, the
 * current import errors (replacing the previous set), and the assets the DAGs declare with who
 * consumes and produces them (so asset events queue for the DAGs scheduled on them), so the CLI,
 * triggers and other workers see what this parse saw.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { markDagsInactiveExcept, upsertDag, upsertDagVersion } from '../db/dag.repository.js';
import { replaceImportErrors } from '../db/import-error.repository.js';
import { syncAssetReferences } from '../db/asset.repository.js';
import type { DagBag, LoadedDag } from './dag-bag.js';

export interface SyncResult {
  dags: number;
  importErrors: number;
  /** DAG versions this sync created (a new file, or code or spec changed). */
  newVersions: Array<{ dagId: string; versionNumber: number; filename: string }>;
  /** DAGs this sync marked inactive (their file is gone, broken, or no longer defines them). */
  deactivated: number;
  /** Assets the DAGs declare (outlets and asset schedules). */
  assets: number;
  /** One uri declared with different names, groups or extras (the first declaration is used). */
  assetConflicts: string[];
}

/**
 * `only`: the files whose DAGs to store again (a refresh's changed files); the others already have
 * their versions. Active flags and import errors always follow the whole bag.
 */
export async function syncDagBag(
  db: Kysely<Database>,
  bag: DagBag,
  only?: ReadonlySet<string>,
  opts: SyncOptions = {},
): Promise<SyncResult> {
  const newVersions: SyncResult['newVersions'] = [];
  for (const dag of bag.dags.values()) {
    if (only && !only.has(dag.filename) && dag.versionId !== undefined) continue;
    const version = await storeDag(db, dag, opts.pausedAtCreation ?? false);
    if (version.created)
      newVersions.push({ dagId: dag.spec.dag_id, versionNumber: version.version_number, filename: dag.filename });
  }
  const deactivated = await markDagsInactiveExcept(db, [...bag.dags.keys()]);
  await replaceImportErrors(
    db,
    bag.importErrors.map((e) => ({ filename: e.filename, stacktrace: e.stacktrace })),
  );
  // Asset references follow the whole bag, as active flags do: a DAG gone or broken stops queuing events.
  const assets = await syncAssetReferences(
    db,
    [...bag.dags.values()].map((d) => d.spec),
  );
  return {
    dags: bag.dags.size,
    importErrors: bag.importErrors.length,
    newVersions,
    deactivated,
    assets: assets.assets,
    assetConflicts: assets.conflicts,
  };
}

export interface SyncOptions {
  /** Airflow's [core] dags_are_paused_at_creation: a new DAG without is_paused_upon_creation starts paused. */
  pausedAtCreation?: boolean;
}

async function storeDag(
  db: Kysely<Database>,
  dag: LoadedDag,
  pausedAtCreation: boolean,
): Promise<{ created: boolean; version_number: number }> {
  const s = dag.spec;
  await upsertDag(db, {
    dag_id: s.dag_id,
    fileloc: dag.filename,
    owners: s.owner,
    description: s.description,
    tags: s.tags,
    schedule: s.schedule,
    max_active_runs: s.max_active_runs,
    is_paused_upon_creation: s.is_paused_upon_creation ?? pausedAtCreation,
  });
  const version = await upsertDagVersion(db, s.dag_id, s.hash, s, {
    code_hash: dag.code.hash,
    fileloc: dag.filename,
    bundle: dag.code.bundle,
  });
  dag.versionId = version.id;
  return version;
}
