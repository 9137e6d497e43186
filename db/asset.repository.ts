/**
 * Assets and who refers to them. Assets come to exist when a DAG declares them: as a task's
 * outlets or in its schedule. The DAG sync (worker/dag-sync.ts) calls syncAssetReferences with the
 * parsed DAGs; that records the assets and which DAGs consume (are scheduled on) and produce them.
 */
import { sql, type Kysely } from 'kysely';
import { assetUris } from '../engine/timetables/assets.js';
import { assetGroup } from '../engine/assets/asset.js';
import type { AssetConditionSpec, AssetRef, DagSpec } from '../spec/dag-spec.js';
import type { AssetRow, Database } from './database.js';
import { toJsonb } from './json.js';
import { chunkForParameters, inTransaction } from './transaction.js';

/** What the sync needs of a DAG: its id, its schedule and its tasks' outlets. */
export type AssetDeclaringDag = Pick<DagSpec, 'dag_id' | 'timetable'> & {
  tasks: ReadonlyArray<{ task_id: string; outlets: readonly AssetRef[] }>;
};

export interface AssetSyncResult {
  /** Assets declared by the DAGs given. */
  assets: number;
  /** Consumer references (DAG scheduled on asset) now recorded for the DAGs given. */
  consumers: number;
  /** Producer references (task outlets) now recorded for the DAGs given. */
  producers: number;
  /** Queued events dropped because their DAG no longer has that asset in its schedule. */
  droppedQueuedEvents: number;
  /** The same uri declared with different names, groups or extras; the first (by dag_id) wins. */
  conflicts: string[];
}

export interface AssetSyncOptions {
  /**
   * The DAGs given are all the DAGs there are (a full DAG-bag sync): references of every other DAG
   * are removed, so events stop queuing for them. Their already-queued events are kept, in case the
   * DAG comes back (a file with an import error comes back once fixed). Default true.
   */
  complete?: boolean;
}

/** Records the assets the DAGs declare and which DAGs consume and produce them, in one transaction. */
export async function syncAssetReferences(
  db: Kysely<Database>,
  dags: readonly AssetDeclaringDag[],
  opts: AssetSyncOptions = {},
): Promise<AssetSyncResult> {
  const sorted = [...dags].sort((a, b) => (a.dag_id < b.dag_id ? -1 : a.dag_id > b.dag_id ? 1 : 0));
  const { assets, conflicts } = declaredAssets(sorted);
  return inTransaction(db, async (trx) => {
    const ids = await upsertAssets(trx, [...assets.values()]);
    const dagIds = sorted.map((d) => d.dag_id);
    const consumers = sorted.flatMap((d) =>
      d.timetable?.type === 'assets'
        ? assetUris(d.timetable.condition).map((uri) => ({ dag_id: d.dag_id, asset_id: ids.get(uri)! }))
        : [],
    );
    const producers = sorted.flatMap((d) =>
      d.tasks.flatMap((t) =>
        t.outlets.map((o) => ({ dag_id: d.dag_id, task_id: t.task_id, asset_id: ids.get(o.uri)! })),
      ),
    );

    // Events queued for an asset the DAG is no longer scheduled on could never be consumed.
    let dropped = 0;
    if (dagIds.length > 0) {
      const key = (r: { dag_id: string; asset_id: number }): string => `${r.dag_id}\u0000${r.asset_id}`;
      const keep = new Set(consumers.map(key));
      const existing = await trx
        .selectFrom('dag_schedule_asset_reference')
        .select(['dag_id', 'asset_id'])
        .where('dag_id', 'in', dagIds)
        .execute();
      const removed = existing.filter((r) => !keep.has(key(r)));
      for (const r of removed) {
        await trx
          .deleteFrom('dag_schedule_asset_reference')
          .where('dag_id', '=', r.dag_id)
          .where('asset_id', '=', r.asset_id)
          .execute();
        const res = await trx
          .deleteFrom('asset_dag_run_queue')
          .where('target_dag_id', '=', r.dag_id)
          .where('asset_id', '=', r.asset_id)
          .executeTakeFirst();
        dropped += Number(res.numDeletedRows);
      }
      await trx.deleteFrom('task_outlet_asset_reference').where('dag_id', 'in', dagIds).execute();
    }
    if (opts.complete ?? true) {
      await trx
        .deleteFrom('dag_schedule_asset_reference')
        .$if(dagIds.length > 0, (q) => q.where('dag_id', 'not in', dagIds))
        .execute();
      await trx
        .deleteFrom('task_outlet_asset_reference')
        .$if(dagIds.length > 0, (q) => q.where('dag_id', 'not in', dagIds))
        .execute();
    }
    for (const chunk of chunkForParameters(consumers, 2)) {
      await trx
        .insertInto('dag_schedule_asset_reference')
        .values(chunk)
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    for (const chunk of chunkForParameters(
      uniqueBy(producers, (p) => `${p.dag_id}\u0000${p.task_id}\u0000${p.asset_id}`),
      3,
    )) {
      await trx
        .insertInto('task_outlet_asset_reference')
        .values(chunk)
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    return {
      assets: assets.size,
      consumers: consumers.length,
      producers: producers.length,
      droppedQueuedEvents: dropped,
      conflicts,
    };
  });
}

/**
 * The assets the DAGs declare, by uri. Outlets carry the full definition (group, extra); a
 * schedule names only uri and name, so an outlet's definition wins over a schedule's.
 */
function declaredAssets(dags: readonly AssetDeclaringDag[]): { assets: Map<string, AssetRef>; conflicts: string[] } {
  const assets = new Map<string, { ref: AssetRef; from: string; fromOutlet: boolean }>();
  const conflicts: string[] = [];
  const add = (ref: AssetRef, from: string, fromOutlet: boolean): void => {
    const seen = assets.get(ref.uri);
    if (seen === undefined || (fromOutlet && !seen.fromOutlet)) {
      assets.set(ref.uri, { ref, from, fromOutlet });
      return;
    }
    const differs =
      seen.ref.name !== ref.name ||
      (fromOutlet &&
        (assetGroup(seen.ref) !== assetGroup(ref) ||
          JSON.stringify(seen.ref.extra ?? {}) !== JSON.stringify(ref.extra ?? {})));
    if (differs)
      conflicts.push(`asset '${ref.uri}' is declared differently by ${seen.from} and by ${from}; the first is used`);
  };
  for (const d of dags) {
    for (const t of d.tasks) for (const o of t.outlets) add(o, `DAG "${d.dag_id}" task "${t.task_id}" outlets`, true);
  }
  for (const d of dags) {
    if (d.timetable?.type !== 'assets') continue;
    const walk = (c: AssetConditionSpec): void => {
      if (c.type === 'asset') add({ uri: c.uri, name: c.name }, `DAG "${d.dag_id}" schedule`, false);
      else c.conditions.forEach(walk);
    };
    walk(d.timetable.condition);
  }
  return { assets: new Map([...assets].map(([uri, a]) => [uri, a.ref])), conflicts };
}

/** Inserts or refreshes declared assets (name, group and extra follow the declaration); returns uri → id. */
export async function upsertAssets(db: Kysely<Database>, refs: readonly AssetRef[]): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  for (const chunk of chunkForParameters(refs, 4)) {
    const rows = await db
      .insertInto('asset')
      .values(
        chunk.map((r) => ({
          uri: r.uri,
          name: r.name,
          group: assetGroup(r),
          extra: toJsonb(r.extra ?? {}, `asset '${r.uri}' extra`),
        })),
      )
      .onConflict((oc) =>
        oc
          .column('uri')
          .doUpdateSet((eb) => ({
            name: eb.ref('excluded.name'),
            group: eb.ref('excluded.group'),
            extra: eb.ref('excluded.extra'),
            updated_at: sql<Date>`now()`,
          }))
          .where((eb) =>
            eb.or([
              eb('asset.name', '<>', eb.ref('excluded.name')),
              eb('asset.group', '<>', eb.ref('excluded.group')),
              eb('asset.extra', '<>', eb.ref('excluded.extra')),
            ]),
          ),
      )
      .returning(['id', 'uri'])
      .execute();
    for (const r of rows) ids.set(r.uri, r.id);
  }
  // Unchanged rows are not returned by `do update ... where`; look them up.
  const missing = refs.map((r) => r.uri).filter((u) => !ids.has(u));
  for (const chunk of chunkForParameters(missing, 1)) {
    for (const r of await db.selectFrom('asset').select(['id', 'uri']).where('uri', 'in', chunk).execute())
      ids.set(r.uri, r.id);
  }
  return ids;
}

/** The asset's row, recording it first if it is not there (a declaration seen before the DAG sync ran). */
export async function ensureAsset(db: Kysely<Database>, ref: AssetRef): Promise<AssetRow> {
  const inserted = await db
    .insertInto('asset')
    .values({
      uri: ref.uri,
      name: ref.name,
      group: assetGroup(ref),
      extra: toJsonb(ref.extra ?? {}, `asset '${ref.uri}' extra`),
    })
    .onConflict((oc) => oc.column('uri').doNothing())
    .returningAll()
    .executeTakeFirst();
  return inserted ?? (await db.selectFrom('asset').selectAll().where('uri', '=', ref.uri).executeTakeFirstOrThrow());
}

export async function getAssetByUri(db: Kysely<Database>, uri: string): Promise<AssetRow | undefined> {
  return db.selectFrom('asset').selectAll().where('uri', '=', uri).executeTakeFirst();
}

export interface AssetSummary extends AssetRow {
  /** DAGs scheduled on it. */
  consuming_dags: string[];
  /** `dag_id.task_id` of the tasks that update it. */
  producing_tasks: string[];
  event_count: number;
  last_event_at: Date | null;
}

/** Every asset with its consumers, producers and event totals (`updraft assets list`). */
export async function listAssets(db: Kysely<Database>): Promise<AssetSummary[]> {
  const rows = await db
    .selectFrom('asset as a')
    .selectAll('a')
    .select((eb) => [
      eb
        .selectFrom('asset_event as e')
        .whereRef('e.asset_id', '=', 'a.id')
        .select((e) => e.fn.countAll<number>().as('n'))
        .as('event_count'),
      eb
        .selectFrom('asset_event as e')
        .whereRef('e.asset_id', '=', 'a.id')
        .select((e) => e.fn.max('e.created_at').as('t'))
        .as('last_event_at'),
    ])
    .orderBy('a.uri')
    .execute();
  const consumers = await db
    .selectFrom('dag_schedule_asset_reference')
    .select(['asset_id', 'dag_id'])
    .orderBy('dag_id')
    .execute();
  const producers = await db
    .selectFrom('task_outlet_asset_reference')
    .select(['asset_id', 'dag_id', 'task_id'])
    .orderBy('dag_id')
    .orderBy('task_id')
    .execute();
  return rows.map((r) => ({
    ...r,
    event_count: Number(r.event_count ?? 0),
    last_event_at: (r.last_event_at as Date | null) ?? null,
    consuming_dags: consumers.filter((c) => c.asset_id === r.id).map((c) => c.dag_id),
    producing_tasks: producers.filter((p) => p.asset_id === r.id).map((p) => `${p.dag_id}.${p.task_id}`),
  }));
}

function uniqueBy<T>(items: readonly T[], key: (t: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((t) => {
    const k = key(t);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
