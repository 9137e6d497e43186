/**
 * Asset watchers' state in Postgres: a lease per watcher (so one worker polls it at a time) and a
 * cursor (the items it has seen, with their version), both keyed by the watcher's name.
 *
 * A poll lists what is there now, outside any transaction, then commitWatcherPoll decides in one
 * transaction that holds the watcher's row lock: it checks the lease is still this owner's (by the
 * database clock), compares the listing with the cursor, records one event per new or changed item
 * and advances the cursor. Events and cursor commit together, so a crash before the commit repeats
 * nothing (the next poll sees the same items as new) and a crash after it misses nothing. The
 * cursor is a seen-set, not a high-water mark: items that arrive out of key order (an object
 * `a.csv` written after `b.csv`) are still new. It stays bounded: an item missing from a complete
 * listing is marked, and forgotten after `retentionSeconds`.
 */
import { sql, type Kysely } from 'kysely';
import type { AssetWatcherSpec } from '../spec/asset-watcher.js';
import type { Json } from '../spec/dag-spec.js';
import { ensureAsset } from './asset.repository.js';
import { recordEvent, type AssetEventRecord } from './asset-event.repository.js';
import type { AssetWatcherRow, Database } from './database.js';
import { toJsonb } from './json.js';
import { chunkForParameters } from './transaction.js';

/** One thing a watcher sees: a file or an object. */
export interface WatchedItem {
  /** Identity within the watcher: a relative path, an object key. */
  key: string;
  /** Changes when the item does: `mtimeMs:size`, an etag. */
  version: string;
  /** The event's extra when the item is new. */
  extra: { [key: string]: Json };
  /** false: present but not ready to fire yet (a file still being written); it is neither new nor missing. */
  ready: boolean;
}

/** Records (or updates) a watcher's definition and its asset; the lease and the cursor are kept. */
export async function registerAssetWatcher(db: Kysely<Database>, spec: AssetWatcherSpec): Promise<AssetWatcherRow> {
  const asset = await ensureAsset(db, spec.asset);
  return db
    .insertInto('asset_watcher')
    .values({
      name: spec.name,
      type: spec.type,
      asset_id: asset.id,
      definition: toJsonb(spec, `watcher '${spec.name}'`),
    })
    .onConflict((oc) =>
      oc.column('name').doUpdateSet((eb) => ({
        type: eb.ref('excluded.type'),
        asset_id: eb.ref('excluded.asset_id'),
        definition: eb.ref('excluded.definition'),
      })),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Takes or renews the lease for `owner` when it is free, expired or already `owner`'s. Returns
 * whether `owner` holds it now. Expiry is judged by the database clock, the same for every worker.
 */
export async function acquireWatcherLease(
  db: Kysely<Database>,
  name: string,
  owner: string,
  ttlSeconds: number,
): Promise<boolean> {
  const row = await db
    .updateTable('asset_watcher')
    .set({ owner, lease_expires_at: sql<Date>`now() + make_interval(secs => ${ttlSeconds})` })
    .where('name', '=', name)
    .where((eb) =>
      eb.or([eb('owner', 'is', null), eb('owner', '=', owner), eb('lease_expires_at', '<', sql<Date>`now()`)]),
    )
    .returning('name')
    .executeTakeFirst();
  return row !== undefined;
}

/** Gives the lease up (a clean stop), so another worker can take over without waiting for expiry. */
export async function releaseWatcherLease(db: Kysely<Database>, name: string, owner: string): Promise<void> {
  await db
    .updateTable('asset_watcher')
    .set({ owner: null, lease_expires_at: null })
    .where('name', '=', name)
    .where('owner', '=', owner)
    .execute();
}

export interface CommitPollOptions {
  /** The watcher's first look records what is there without events, unless this is true. */
  fireExisting: boolean;
  /** The listing saw everything (no directory or page failed): absent items may be marked missing. */
  complete: boolean;
  /** Lease renewal, seconds. */
  ttlSeconds: number;
  /** How long a missing item is remembered (so a brief listing gap does not make it new again). Default 1 day. */
  retentionSeconds?: number;
}

export type PollCommit =
  | { leaseLost: true }
  | {
      leaseLost: false;
      /** Events recorded, in key order. */
      emitted: AssetEventRecord[];
      /** Items recorded without events on the first look. */
      baseline: number;
      /** Items newly marked missing, and forgotten after the retention. */
      missing: number;
      forgotten: number;
    };

/** Compares a listing with the cursor and records the new items' events, if `owner` still holds the lease. */
export async function commitWatcherPoll(
  db: Kysely<Database>,
  name: string,
  owner: string,
  items: readonly WatchedItem[],
  opts: CommitPollOptions,
): Promise<PollCommit> {
  return db.transaction().execute(async (trx) => {
    const w = await trx
      .selectFrom('asset_watcher')
      .selectAll()
      .select(sql<boolean>`owner is not distinct from ${owner} and lease_expires_at > now()`.as('held'))
      .where('name', '=', name)
      .forUpdate()
      .executeTakeFirst();
    if (w === undefined || !w.held) return { leaseLost: true } as const;
    const seen = new Map(
      (
        await trx
          .selectFrom('asset_watcher_seen')
          .select(['item_key', 'version', 'missing_since'])
          .where('watcher_name', '=', name)
          .execute()
      ).map((r) => [r.item_key, r]),
    );
    const present = new Set(items.map((i) => i.key));
    const changed = items
      .filter((i) => i.ready && seen.get(i.key)?.version !== i.version)
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const baseline = w.initialized_at === null && !opts.fireExisting;
    const emitted: AssetEventRecord[] = [];
    if (!baseline && changed.length > 0) {
      const asset = await trx.selectFrom('asset').selectAll().where('id', '=', w.asset_id).executeTakeFirstOrThrow();
      for (const item of changed)
        emitted.push((await recordEvent(trx, asset, item.extra, { kind: 'watcher', watcher: name }, null)).event);
    }
    for (const chunk of chunkForParameters(changed, 3)) {
      await trx
        .insertInto('asset_watcher_seen')
        .values(chunk.map((i) => ({ watcher_name: name, item_key: i.key, version: i.version })))
        .onConflict((oc) =>
          oc
            .columns(['watcher_name', 'item_key'])
            .doUpdateSet((eb) => ({ version: eb.ref('excluded.version'), missing_since: null })),
        )
        .execute();
    }
    const back = [...present].filter((k) => seen.get(k)?.missing_since != null);
    for (const chunk of chunkForParameters(back, 1)) {
      await trx
        .updateTable('asset_watcher_seen')
        .set({ missing_since: null })
        .where('watcher_name', '=', name)
        .where('item_key', 'in', chunk)
        .execute();
    }
    let missing = 0;
    let forgotten = 0;
    if (opts.complete) {
      const gone = [...seen.values()]
        .filter((s) => s.missing_since === null && !present.has(s.item_key))
        .map((s) => s.item_key);
      for (const chunk of chunkForParameters(gone, 1)) {
        await trx
          .updateTable('asset_watcher_seen')
          .set({ missing_since: sql<Date>`now()` })
          .where('watcher_name', '=', name)
          .where('item_key', 'in', chunk)
          .execute();
      }
      missing = gone.length;
      const res = await trx
        .deleteFrom('asset_watcher_seen')
        .where('watcher_name', '=', name)
        .where('missing_since', '<', sql<Date>`now() - make_interval(secs => ${opts.retentionSeconds ?? 86_400})`)
        .executeTakeFirst();
      forgotten = Number(res.numDeletedRows);
    }
    await trx
      .updateTable('asset_watcher')
      .set((eb) => ({
        initialized_at: sql<Date>`coalesce(initialized_at, now())`,
        last_poll_at: sql<Date>`now()`,
        last_error: null,
        events_emitted: eb('events_emitted', '+', emitted.length),
        lease_expires_at: sql<Date>`now() + make_interval(secs => ${opts.ttlSeconds})`,
      }))
      .where('name', '=', name)
      .execute();
    return { leaseLost: false, emitted, baseline: baseline ? changed.length : 0, missing, forgotten };
  });
}

/** Records a failed poll (listing error, unknown credentials) for `assets watchers` and the logs. */
export async function recordWatcherError(
  db: Kysely<Database>,
  name: string,
  owner: string,
  error: string,
): Promise<void> {
  await db
    .updateTable('asset_watcher')
    .set({ last_error: error.slice(0, 4000), last_poll_at: sql<Date>`now()` })
    .where('name', '=', name)
    .where('owner', '=', owner)
    .execute();
}

export async function listAssetWatchers(
  db: Kysely<Database>,
): Promise<Array<AssetWatcherRow & { uri: string; seen: number }>> {
  const rows = await db
    .selectFrom('asset_watcher as w')
    .innerJoin('asset as a', 'a.id', 'w.asset_id')
    .selectAll('w')
    .select([
      'a.uri',
      (eb) =>
        eb
          .selectFrom('asset_watcher_seen as s')
          .whereRef('s.watcher_name', '=', 'w.name')
          .select((s) => s.fn.countAll<number>().as('n'))
          .as('seen'),
    ])
    .orderBy('w.name')
    .execute();
  return rows.map((r) => ({ ...r, seen: Number(r.seen ?? 0) }));
}
