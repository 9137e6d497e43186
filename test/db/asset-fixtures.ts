/** DAGs scheduled on assets and producing them, for the asset suites. */
import type { Kysely } from 'kysely';
import { normalizeAsset } from '../../engine/assets/asset.js';
import { syncAssetReferences, type AssetDeclaringDag } from '../../db/asset.repository.js';
import { upsertDag } from '../../db/dag.repository.js';
import type { Database } from '../../db/database.js';
import type { AssetConditionSpec, AssetRef } from '../../spec/dag-spec.js';

export const asset = (uri: string): AssetConditionSpec => ({ type: 'asset', uri, name: uri });
export const all = (...conditions: AssetConditionSpec[]): AssetConditionSpec => ({ type: 'all', conditions });
export const any = (...conditions: AssetConditionSpec[]): AssetConditionSpec => ({ type: 'any', conditions });

export interface DagDecl {
  dag_id: string;
  condition?: AssetConditionSpec;
  /** task_id → outlet uris */
  outlets?: Record<string, string[]>;
}

export function declaringDag(d: DagDecl): AssetDeclaringDag {
  return {
    dag_id: d.dag_id,
    ...(d.condition ? { timetable: { type: 'assets', condition: d.condition } } : {}),
    tasks: Object.entries(d.outlets ?? {}).map(([task_id, uris]) => ({
      task_id,
      outlets: uris.map((u): AssetRef => normalizeAsset({ uri: u })),
    })),
  };
}

/** Records the DAG rows and syncs their asset references (what the DAG sync does). */
export async function declareDags(
  db: Kysely<Database>,
  dags: readonly DagDecl[],
  complete = true,
): Promise<Awaited<ReturnType<typeof syncAssetReferences>>> {
  for (const d of dags) {
    await upsertDag(db, {
      dag_id: d.dag_id,
      fileloc: `dags/${d.dag_id}.ts`,
      owners: 'data',
      description: null,
      tags: [],
      schedule: null,
    });
  }
  return syncAssetReferences(db, dags.map(declaringDag), { complete });
}
