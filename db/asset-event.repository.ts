/**
 * Recording asset events. Every path that updates an asset ends here: a task's outlets
 * (emitTaskOutletEvents), the CLI and the client/REST API (emitAssetEvent), watchers. One
 * statement writes the event and queues it for every unpaused DAG scheduled on the asset, so an
 * event is either recorded and queued for all its consumers, or not recorded at all.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { AssetDefinitionError, assetExtra, sanitizeAssetUri } from '../engine/assets/asset.js';
import type { AssetEventInfo } from '../spec/asset.js';
import type { AssetRef, Json } from '../spec/dag-spec.js';
import { ensureAsset } from './asset.repository.js';
import type { AssetEventRow, AssetEventSourceKind, AssetRow, Database } from './database.js';
import { toJsonb } from './json.js';
import { inTransaction } from './transaction.js';

/** The channel a commit that queued events notifies (LISTEN updraft_asset_event). */
export const ASSET_EVENT_CHANNEL = 'updraft_asset_event';

/** Who made an event. */
export type AssetEventSource =
  | { kind: 'task'; dag_id: string; run_id: string; task_id: string; map_index: number }
  | { kind: 'api' }
  | { kind: 'cli' }
  | { kind: 'watcher'; watcher: string };

export interface EmitAssetEventRequest {
  /** The asset's uri (sanitized as Airflow does, so `s3://b/raw/` names `s3://b/raw`). */
  uri: string;
  /** Anything the consumers should know: a JSON object. */
  extra?: { [key: string]: Json } | null;
  source: AssetEventSource;
  /**
   * Idempotency key: a second emit with the same key for the same asset returns the first event
   * instead of recording another (an emitter that retries after a timeout updates the asset once).
   */
  dedupeKey?: string | null;
}

/**
 * An event as the CLI, the API and a run's `triggering_asset_events` show it: the row with its
 * asset's uri, name and group, and `timestamp` (Airflow's AssetEvent.timestamp) as ISO 8601 UTC.
 */
export type AssetEventRecord = Omit<AssetEventRow, 'created_at' | 'dedupe_key'> &
  Pick<AssetRow, 'uri' | 'name' | 'group'> & { timestamp: string };

export interface EmittedAssetEvent {
  event: AssetEventRecord;
  /** DAGs the event was queued for (scheduled on the asset); empty for a duplicate. */
  queued_for: string[];
  /** The dedupe key had been used: `event` is the earlier event and nothing new was recorded. */
  duplicate: boolean;
}

/** An emit for an asset no DAG declares. */
export class UnknownAssetError extends Error {
  override readonly name = 'UnknownAssetError';
  constructor(
    readonly uri: string,
    similar: readonly string[] = [],
  ) {
    super(
      `asset '${uri}' is not known, so it cannot get an event. Assets come to exist when a DAG declares them: ` +
        `as a task's outlets (outlets: [Asset('${uri}')]) or in a DAG's schedule (schedule: [Asset('${uri}')]), ` +
        `once the worker has synced the DAGs folder. See the known assets with \`updraft assets list\`` +
        (similar.length > 0 ? `; similar known uris: ${similar.map((s) => `'${s}'`).join(', ')}` : ''),
    );
  }
}

/** A request that cannot be an event (bad uri, extra that is not a JSON object, incomplete source). */
export class AssetEventInputError extends Error {
  override readonly name = 'AssetEventInputError';
}

/**
 * Records an event for a known asset. Throws UnknownAssetError when no DAG declares the uri.
 * One statement (find the asset, insert the event, queue it), so it is atomic on its own and costs
 * one round trip.
 */
export async function emitAssetEvent(db: Kysely<Database>, req: EmitAssetEventRequest): Promise<EmittedAssetEvent> {
  const uri = requestUri(req.uri);
  const extra = requestExtra(req.extra);
  checkSource(req.source);
  const emitted = await insertEvent(db, sql`uri = ${uri}`, extra, req.source, req.dedupeKey ?? null);
  if (emitted === undefined) throw new UnknownAssetError(uri, await similarUris(db, uri));
  return emitted;
}

export interface TaskOutletEmit {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  /** The task's outlets as its spec declares them. */
  outlets: readonly AssetRef[];
  /** Extra per outlet uri (Airflow's outlet_events[asset].extra); absent: {}. */
  extras?: Readonly<Record<string, { [key: string]: Json }>>;
}

/**
 * The events of a successful try's outlets (Airflow emits only on success): one per asset, in one
 * transaction. The try is the idempotency key, so calling this again for the same try (a retried
 * activity) records nothing new. Outlet assets are declared by the DAG, so a missing row is made.
 */
export async function emitTaskOutletEvents(db: Kysely<Database>, t: TaskOutletEmit): Promise<EmittedAssetEvent[]> {
  if (t.outlets.length === 0) return [];
  const source: AssetEventSource = {
    kind: 'task',
    dag_id: t.dag_id,
    run_id: t.run_id,
    task_id: t.task_id,
    map_index: t.map_index,
  };
  checkSource(source);
  if (!Number.isInteger(t.try_number) || t.try_number < 0)
    throw new AssetEventInputError(`try_number must be a non-negative integer, got ${String(t.try_number)}`);
  const dedupeKey = `task:${JSON.stringify([t.dag_id, t.run_id, t.task_id, t.map_index, t.try_number])}`;
  const outlets = new Map(t.outlets.map((o) => [requestUri(o.uri), o]));
  return inTransaction(db, async (trx) => {
    const out: EmittedAssetEvent[] = [];
    for (const [uri, outlet] of outlets) {
      const asset = await ensureAsset(trx, { ...outlet, uri });
      out.push(
        await recordEvent(trx, asset, requestExtra(t.extras?.[outlet.uri] ?? t.extras?.[uri]), source, dedupeKey),
      );
    }
    return out;
  });
}

/** Inserts the event (or finds the earlier one with the same key) and queues it for the asset's consumers. */
export async function recordEvent(
  db: Kysely<Database>,
  asset: AssetRow,
  extra: { [key: string]: Json },
  source: AssetEventSource,
  dedupeKey: string | null,
): Promise<EmittedAssetEvent> {
  const emitted = await insertEvent(db, sql`id = ${asset.id}`, extra, source, dedupeKey);
  if (emitted === undefined) throw new UnknownAssetError(asset.uri);
  return emitted;
}

/**
 * The event insert for the asset `which` selects, and its queue rows for every DAG scheduled on
 * the asset, in one statement. undefined: no such asset. A dedupe key seen before: the earlier event.
 * As Airflow's AssetManager does, a paused (or removed) DAG gets no queue row: an update made while
 * a DAG is paused does not start a run when it is unpaused.
 */
async function insertEvent(
  db: Kysely<Database>,
  which: RawBuilder<unknown>,
  extra: { [key: string]: Json },
  source: AssetEventSource,
  dedupeKey: string | null,
): Promise<EmittedAssetEvent | undefined> {
  const task = source.kind === 'task' ? source : null;
  const res = await sql<JoinedEventRow & { found: number | null; queued_for: string[] | null }>`
    with a as (select id, uri, name, "group" from asset where ${which}),
    ins as (
      insert into asset_event (asset_id, extra, source_kind, source_dag_id, source_run_id, source_task_id, source_map_index, source_watcher, dedupe_key)
      select a.id, ${toJsonb(extra, 'asset event extra')}::jsonb, ${source.kind}, ${task?.dag_id ?? null}, ${task?.run_id ?? null}, ${task?.task_id ?? null},
             ${task?.map_index ?? null}::integer, ${source.kind === 'watcher' ? source.watcher : null}, ${dedupeKey}
      from a
      on conflict (asset_id, dedupe_key) do nothing
      returning *
    ),
    q as (
      insert into asset_dag_run_queue (target_dag_id, asset_event_id, asset_id)
      select r.dag_id, ins.id, ins.asset_id from ins
      join dag_schedule_asset_reference r on r.asset_id = ins.asset_id
      join dag d on d.dag_id = r.dag_id and d.is_active and not d.is_paused
      returning target_dag_id
    ),
    -- Wakes the workers' consumers at commit (worker/asset-runs.ts); Postgres sends it once per transaction.
    notified as (select pg_notify(${ASSET_EVENT_CHANNEL}, '') as n where exists (select 1 from q))
    select a.id as found, a.uri, a.name, a."group", ins.*, (select json_agg(target_dag_id order by target_dag_id) from q) as queued_for,
           (select count(*) from notified) as notified
    from a left join ins on true`.execute(db);
  const row = res.rows[0];
  if (row === undefined) return undefined;
  if (row.id === null) {
    // The dedupe key was used: the earlier event (committed: the insert waited for it).
    const earlier = await eventQuery(db)
      .where('e.asset_id', '=', row.found!)
      .where('e.dedupe_key', '=', dedupeKey)
      .executeTakeFirstOrThrow();
    return { event: joinedRecord(earlier), queued_for: [], duplicate: true };
  }
  return { event: joinedRecord(row), queued_for: row.queued_for ?? [], duplicate: false };
}

export interface ListAssetEventsOptions {
  uri?: string;
  /** Newest first (default) or oldest first. */
  order?: 'asc' | 'desc';
  limit?: number;
  /** Only events of this source kind. */
  sourceKind?: AssetEventSourceKind;
}

/** Events, newest first (`updraft assets events <uri>`). An unknown uri is an UnknownAssetError. */
export async function listAssetEvents(
  db: Kysely<Database>,
  opts: ListAssetEventsOptions = {},
): Promise<AssetEventRecord[]> {
  let assetId: number | undefined;
  if (opts.uri !== undefined) {
    const uri = requestUri(opts.uri);
    const asset = await db.selectFrom('asset').select('id').where('uri', '=', uri).executeTakeFirst();
    if (asset === undefined) throw new UnknownAssetError(uri, await similarUris(db, uri));
    assetId = asset.id;
  }
  const rows = await eventQuery(db)
    .$if(assetId !== undefined, (q) => q.where('e.asset_id', '=', assetId!))
    .$if(opts.sourceKind !== undefined, (q) => q.where('e.source_kind', '=', opts.sourceKind!))
    .orderBy('e.id', opts.order ?? 'desc')
    .limit(opts.limit ?? 100)
    .execute();
  return rows.map(joinedRecord);
}

/** Events with their asset's uri, name and group (for records built from a join). */
export function eventQuery(db: Kysely<Database>) {
  return db
    .selectFrom('asset_event as e')
    .innerJoin('asset as a', 'a.id', 'e.asset_id')
    .selectAll('e')
    .select(['a.uri', 'a.name', 'a.group']);
}

type JoinedEventRow = Awaited<ReturnType<ReturnType<typeof eventQuery>['execute']>>[number];

export function joinedRecord(r: JoinedEventRow): AssetEventRecord {
  return {
    id: r.id,
    asset_id: r.asset_id,
    uri: r.uri,
    name: r.name,
    group: r.group,
    extra: r.extra,
    source_kind: r.source_kind,
    source_dag_id: r.source_dag_id,
    source_run_id: r.source_run_id,
    source_task_id: r.source_task_id,
    source_map_index: r.source_map_index,
    source_watcher: r.source_watcher,
    timestamp: r.created_at.toISOString(),
  };
}

/** An event as a run's context shows it (Airflow's AssetEvent: the asset nested, source fields, timestamp). */
export function assetEventInfo(e: AssetEventRecord): AssetEventInfo {
  return {
    id: e.id,
    asset: { uri: e.uri, name: e.name, group: e.group },
    extra: e.extra as { [key: string]: Json },
    source_kind: e.source_kind,
    source_dag_id: e.source_dag_id,
    source_run_id: e.source_run_id,
    source_task_id: e.source_task_id,
    source_map_index: e.source_map_index,
    source_watcher: e.source_watcher,
    timestamp: e.timestamp,
  };
}

function requestUri(uri: unknown): string {
  if (typeof uri !== 'string' || uri.trim() === '')
    throw new AssetEventInputError(`uri must be a non-empty string naming an asset, got ${JSON.stringify(uri)}`);
  try {
    return sanitizeAssetUri(uri);
  } catch (err) {
    if (err instanceof AssetDefinitionError) throw new AssetEventInputError(err.message);
    throw err;
  }
}

function requestExtra(extra: unknown): { [key: string]: Json } {
  try {
    return assetExtra(extra, 'extra');
  } catch (err) {
    if (err instanceof AssetDefinitionError) throw new AssetEventInputError(err.message);
    throw err;
  }
}

function checkSource(source: AssetEventSource): void {
  const kinds = ['task', 'api', 'cli', 'watcher'];
  if (source === null || typeof source !== 'object' || !kinds.includes(source.kind)) {
    throw new AssetEventInputError(
      `source.kind must be one of ${kinds.join(', ')}, got ${JSON.stringify((source as { kind?: unknown } | null)?.kind)}`,
    );
  }
  if (source.kind === 'task') {
    for (const f of ['dag_id', 'run_id', 'task_id'] as const) {
      if (typeof source[f] !== 'string' || source[f] === '')
        throw new AssetEventInputError(`a task's event needs source.${f}, got ${JSON.stringify(source[f])}`);
    }
    if (!Number.isInteger(source.map_index) || source.map_index < -1)
      throw new AssetEventInputError(
        `a task's event needs source.map_index (an integer >= -1), got ${JSON.stringify(source.map_index)}`,
      );
  }
  if (source.kind === 'watcher' && (typeof source.watcher !== 'string' || source.watcher === '')) {
    throw new AssetEventInputError(
      `a watcher's event needs source.watcher (the watcher's name), got ${JSON.stringify(source.watcher)}`,
    );
  }
}

/** Up to three known uris sharing the unknown one's scheme and first path part, for the error. */
async function similarUris(db: Kysely<Database>, uri: string): Promise<string[]> {
  const head = /^[^:/]+:\/\/[^/]*/.exec(uri)?.[0] ?? uri.slice(0, Math.max(1, Math.min(uri.length, 8)));
  const rows = await db
    .selectFrom('asset')
    .select('uri')
    .where(sql<boolean>`starts_with(uri, ${head})`)
    .orderBy('uri')
    .limit(3)
    .execute();
  return rows.map((r) => r.uri);
}
