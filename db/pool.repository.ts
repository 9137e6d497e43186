/**
 * Pools (Airflow's slot_pool) and slot grants (task_slot_grant): the statements cross-run
 * admission is made of. activities/admission/slots.ts composes them in one transaction per
 * decision: lock the pool row, lock the DAG, reclaim expired grants, upsert the try's request,
 * read usage and the waiters ranked ahead, then grant or leave it queued.
 */
import { sql, type Kysely, type Selectable, type SelectQueryBuilder } from 'kysely';
import type { Database, SlotPoolTable, TaskSlotGrantTable } from './database.js';

export const DEFAULT_POOL = 'default_pool';
/** slots of an unlimited pool (Airflow's -1). */
export const UNLIMITED_SLOTS = -1;

export type SlotPoolRow = Selectable<SlotPoolTable>;
export type SlotGrantRow = Selectable<TaskSlotGrantTable>;

/** A try: the idempotency key of its grant. */
export interface GrantKey {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
}

export class PoolError extends Error {
  override readonly name = 'PoolError';
}

// ---------------------------------------------------------------------------------------------
// Pools

export interface PoolWithUsage extends SlotPoolRow {
  /** Slots held by running tries. */
  running_slots: number;
  /** Slots asked for by tries waiting in the pool. */
  queued_slots: number;
  /** Slots free now; null for an unlimited pool. */
  open_slots: number | null;
}

export async function listPools(db: Kysely<Database>): Promise<PoolWithUsage[]> {
  const pools = await db.selectFrom('slot_pool').selectAll().orderBy('pool').execute();
  const usage = await db
    .selectFrom('task_slot_grant')
    .select(['pool', 'state', (eb) => eb.fn.sum<number>('slots').as('slots')])
    .groupBy(['pool', 'state'])
    .execute();
  const used = (pool: string, state: string): number =>
    Number(usage.find((u) => u.pool === pool && u.state === state)?.slots ?? 0);
  return pools.map((p) => {
    const running = used(p.pool, 'granted');
    return {
      ...p,
      running_slots: running,
      queued_slots: used(p.pool, 'queued'),
      open_slots: p.slots === UNLIMITED_SLOTS ? null : p.slots - running,
    };
  });
}

export async function getPool(db: Kysely<Database>, pool: string): Promise<PoolWithUsage | undefined> {
  return (await listPools(db)).find((p) => p.pool === pool);
}

export interface PoolSettings {
  slots: number;
  /** Omitted: unchanged (null for a new pool). */
  description?: string | null;
  /** Omitted: unchanged (false for a new pool). */
  include_deferred?: boolean;
}

/** Creates or updates a pool (Airflow's `pools set`). */
export async function setPool(db: Kysely<Database>, pool: string, settings: PoolSettings): Promise<SlotPoolRow> {
  if (typeof pool !== 'string' || pool.trim() === '' || pool.length > 256) {
    throw new PoolError(`pool name must be a non-empty string of at most 256 characters, got ${JSON.stringify(pool)}`);
  }
  if (!Number.isInteger(settings.slots) || settings.slots < UNLIMITED_SLOTS) {
    throw new PoolError(
      `slots of pool "${pool}" must be an integer >= 0 (or -1 for unlimited), got ${String(settings.slots)}`,
    );
  }
  return db
    .insertInto('slot_pool')
    .values({
      pool,
      slots: settings.slots,
      description: settings.description ?? null,
      include_deferred: settings.include_deferred ?? false,
    })
    .onConflict((oc) =>
      oc.column('pool').doUpdateSet({
        slots: sql.ref('excluded.slots'),
        ...(settings.description === undefined ? {} : { description: sql.ref('excluded.description') }),
        ...(settings.include_deferred === undefined ? {} : { include_deferred: sql.ref('excluded.include_deferred') }),
      }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Deletes a pool; false when it did not exist. `default_pool` cannot be deleted (as in Airflow). */
export async function deletePool(db: Kysely<Database>, pool: string): Promise<boolean> {
  if (pool === DEFAULT_POOL) throw new PoolError(`${DEFAULT_POOL} cannot be deleted`);
  const result = await db.deleteFrom('slot_pool').where('pool', '=', pool).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

// ---------------------------------------------------------------------------------------------
// Grants: the statements of one admission decision (call them inside a transaction).

/** Locks the pool's row until the transaction ends; undefined when there is no such pool. */
export async function lockPool(trx: Kysely<Database>, pool: string): Promise<SlotPoolRow | undefined> {
  return trx.selectFrom('slot_pool').selectAll().where('pool', '=', pool).forUpdate().executeTakeFirst();
}

/**
 * Serialises admission decisions of one DAG (its max_active_tasks spans pools) until the
 * transaction ends. Always taken after the pool lock, so two decisions never wait on each other
 * in opposite orders.
 */
export async function lockDag(trx: Kysely<Database>, dagId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${`updraft.admission:${dagId}`}))`.execute(trx);
}

/**
 * Deletes grants whose holder stopped heartbeating for longer than their lease (a crashed worker).
 * Rows another transaction holds are skipped, so reclaiming never waits or deadlocks.
 */
export async function reclaimExpiredGrants(trx: Kysely<Database>): Promise<SlotGrantRow[]> {
  const result = await sql<SlotGrantRow>`
    delete from task_slot_grant
    where (dag_id, run_id, task_id, map_index, try_number) in (
      select dag_id, run_id, task_id, map_index, try_number from task_slot_grant
      where heartbeat_at < now() - make_interval(secs => lease_seconds)
      for update skip locked)
    returning *`.execute(trx);
  return result.rows;
}

export interface GrantRequest extends GrantKey {
  pool: string;
  slots: number;
  priority_weight: number;
  lease_seconds: number;
  max_active_tasks: number;
  max_active_tis_per_dag: number | null;
  hostname: string | null;
}

/**
 * The common case in one statement: inserts the try's grant as `granted` when its pool has room,
 * its DAG and task are under their caps and nobody competing (same pool or same DAG) is waiting.
 * `poolSize` is the size read under the pool's lock; omitted, the statement reads it (no such
 * pool: false). Returns false, changing nothing, when any of that does not hold or the try already
 * has a row; the caller then decides the long way.
 */
export async function grantIfClearlyFree(trx: Kysely<Database>, r: GrantRequest, poolSize?: number): Promise<boolean> {
  const used = sql<number>`coalesce((select sum(slots) from task_slot_grant where pool = ${r.pool} and state = 'granted'), 0)`;
  const roomInPool =
    poolSize === undefined
      ? sql<boolean>`exists (select 1 from slot_pool where pool = ${r.pool} and (slots = ${UNLIMITED_SLOTS} or ${used} + ${r.slots} <= slots))`
      : poolSize === UNLIMITED_SLOTS
        ? sql<boolean>`true`
        : sql<boolean>`${used} + ${r.slots} <= ${poolSize}`;
  const underTaskCap =
    r.max_active_tis_per_dag === null
      ? sql<boolean>`true`
      : sql<boolean>`(select count(*) from task_slot_grant where dag_id = ${r.dag_id} and task_id = ${r.task_id} and state = 'granted') < ${r.max_active_tis_per_dag}`;
  const result = await sql<{ state: string }>`
    insert into task_slot_grant (dag_id, run_id, task_id, map_index, try_number, pool, slots, priority_weight, state,
      requested_at, granted_at, heartbeat_at, lease_seconds, max_active_tasks, max_active_tis_per_dag, hostname)
    select ${r.dag_id}, ${r.run_id}, ${r.task_id}, ${r.map_index}, ${r.try_number}, ${r.pool}, ${r.slots}, ${r.priority_weight}, 'granted',
      date_trunc('milliseconds', now()), now(), now(), ${r.lease_seconds}, ${r.max_active_tasks}, ${r.max_active_tis_per_dag}, ${r.hostname}
    where ${roomInPool}
      and (select count(*) from task_slot_grant where dag_id = ${r.dag_id} and state = 'granted') < ${r.max_active_tasks}
      and ${underTaskCap}
      and not exists (select 1 from task_slot_grant where state = 'queued' and (pool = ${r.pool} or dag_id = ${r.dag_id}))
    on conflict do nothing
    returning state`.execute(trx);
  return result.rows.length > 0;
}

/**
 * Records the try's request (queued) or refreshes it: an existing row keeps its state and its
 * requested_at (its place in line), so a retried attempt of the try resumes where it was.
 */
export async function upsertGrantRequest(trx: Kysely<Database>, r: GrantRequest): Promise<SlotGrantRow> {
  const [row] = await upsertGrantRequests(trx, [r]);
  return row!;
}

/** upsertGrantRequest for many tries in one statement (a worker's waiting tries, each poll). */
export async function upsertGrantRequests(
  trx: Kysely<Database>,
  requests: readonly GrantRequest[],
): Promise<SlotGrantRow[]> {
  if (requests.length === 0) return [];
  return (
    trx
      .insertInto('task_slot_grant')
      // Millisecond precision, so the value read back into a JS Date ranks exactly (waitersAhead).
      .values(
        requests.map((r) => ({
          ...r,
          state: 'queued' as const,
          requested_at: sql<Date>`date_trunc('milliseconds', now())`,
        })),
      )
      .onConflict((oc) =>
        oc.columns(['dag_id', 'run_id', 'task_id', 'map_index', 'try_number']).doUpdateSet({
          heartbeat_at: sql`now()`,
          hostname: sql.ref('excluded.hostname'),
          lease_seconds: sql.ref('excluded.lease_seconds'),
          // The spec of a try does not change, but a pool edit between attempts must not strand a
          // row in the wrong pool: the request is what the current attempt asks for.
          pool: sql.ref('excluded.pool'),
          slots: sql.ref('excluded.slots'),
          priority_weight: sql.ref('excluded.priority_weight'),
          max_active_tasks: sql.ref('excluded.max_active_tasks'),
          max_active_tis_per_dag: sql.ref('excluded.max_active_tis_per_dag'),
        }),
      )
      .returningAll()
      .execute()
  );
}

/** Running usage: slots and tries of granted rows by pool, DAG and task. */
export interface GrantedUsageRow {
  pool: string;
  dag_id: string;
  task_id: string;
  slots: number;
  tries: number;
}

export async function grantedUsage(trx: Kysely<Database>): Promise<GrantedUsageRow[]> {
  const rows = await trx
    .selectFrom('task_slot_grant')
    .select([
      'pool',
      'dag_id',
      'task_id',
      (eb) => eb.fn.sum<number>('slots').as('slots'),
      (eb) => eb.fn.countAll<number>().as('tries'),
    ])
    .where('state', '=', 'granted')
    .groupBy(['pool', 'dag_id', 'task_id'])
    .execute();
  return rows.map((r) => ({ ...r, slots: Number(r.slots), tries: Number(r.tries) }));
}

/**
 * Queued requests ranked ahead of `mine` (priority_weight desc, then requested_at, then key)
 * that compete with it: same pool or same DAG. At most `limit`, best first.
 */
export async function waitersAhead(trx: Kysely<Database>, mine: SlotGrantRow, limit = 500): Promise<SlotGrantRow[]> {
  return ranked(
    trx
      .selectFrom('task_slot_grant')
      .selectAll()
      .where('state', '=', 'queued')
      .where((eb) => eb.or([eb('pool', '=', mine.pool), eb('dag_id', '=', mine.dag_id)]))
      .where((eb) =>
        eb.or([
          eb('priority_weight', '>', mine.priority_weight),
          eb.and([
            eb('priority_weight', '=', mine.priority_weight),
            sql<boolean>`(requested_at, dag_id, run_id, task_id, map_index, try_number) < (${mine.requested_at}, ${mine.dag_id}, ${mine.run_id}, ${mine.task_id}, ${mine.map_index}, ${mine.try_number})`,
          ]),
        ]),
      ),
  )
    .limit(limit)
    .execute();
}

/** Every queued request in one of `pools` or of one of `dags`, best-ranked first; at most `limit`. */
export async function queuedCompeting(
  trx: Kysely<Database>,
  pools: readonly string[],
  dags: readonly string[],
  limit: number,
): Promise<SlotGrantRow[]> {
  if (pools.length === 0 && dags.length === 0) return [];
  return ranked(
    trx
      .selectFrom('task_slot_grant')
      .selectAll()
      .where('state', '=', 'queued')
      .where((eb) =>
        eb.or([
          ...(pools.length > 0 ? [eb('pool', 'in', [...pools])] : []),
          ...(dags.length > 0 ? [eb('dag_id', 'in', [...dags])] : []),
        ]),
      ),
  )
    .limit(limit)
    .execute();
}

/** Admission's rank: priority_weight desc, then request time, then the key (a total order). */
function ranked<Q extends SelectQueryBuilder<Database, 'task_slot_grant', SlotGrantRow>>(q: Q): Q {
  return q
    .orderBy('priority_weight', 'desc')
    .orderBy('requested_at')
    .orderBy('dag_id')
    .orderBy('run_id')
    .orderBy('task_id')
    .orderBy('map_index')
    .orderBy('try_number') as Q;
}

export async function poolSizes(trx: Kysely<Database>, pools: readonly string[]): Promise<Map<string, number>> {
  if (pools.length === 0) return new Map();
  const rows = await trx
    .selectFrom('slot_pool')
    .select(['pool', 'slots'])
    .where('pool', 'in', [...new Set(pools)])
    .execute();
  return new Map(rows.map((r) => [r.pool, r.slots]));
}

export async function markGranted(trx: Kysely<Database>, key: GrantKey): Promise<void> {
  await markAllGranted(trx, [key]);
}

/** Grants every request in `keys` (one statement). */
export async function markAllGranted(trx: Kysely<Database>, keys: readonly GrantKey[]): Promise<void> {
  if (keys.length === 0) return;
  await trx
    .updateTable('task_slot_grant')
    .set({ state: 'granted', granted_at: sql`now()`, heartbeat_at: sql`now()` })
    .where((eb) => eb.or(keys.map((k) => eb.and(keyOf(k)))))
    .execute();
}

/** The holder is alive. False when the row is gone (released, or reclaimed after a long stall). */
export async function heartbeatGrant(db: Kysely<Database>, key: GrantKey): Promise<boolean> {
  const result = await db
    .updateTable('task_slot_grant')
    .set({ heartbeat_at: sql`now()` })
    .where((eb) => eb.and(keyOf(key)))
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Gives the slots back (or withdraws the request). Idempotent. */
export async function deleteGrant(db: Kysely<Database>, key: GrantKey): Promise<void> {
  await db
    .deleteFrom('task_slot_grant')
    .where((eb) => eb.and(keyOf(key)))
    .execute();
}

export async function getGrant(db: Kysely<Database>, key: GrantKey): Promise<SlotGrantRow | undefined> {
  return db
    .selectFrom('task_slot_grant')
    .selectAll()
    .where((eb) => eb.and(keyOf(key)))
    .executeTakeFirst();
}

/** Every grant and request, best-ranked first (for `pools list --verbose`, tests and debugging). */
export async function listGrants(db: Kysely<Database>, pool?: string): Promise<SlotGrantRow[]> {
  let q = db.selectFrom('task_slot_grant').selectAll();
  if (pool !== undefined) q = q.where('pool', '=', pool);
  return q.orderBy('state').orderBy('priority_weight', 'desc').orderBy('requested_at').execute();
}

const singleConnection = new WeakMap<Kysely<Database>, Promise<boolean>>();

/**
 * Whether `db` is PGlite: one connection running one statement at a time, so a single statement
 * is already isolated from every other (no locks or transaction needed for it).
 */
export function isSingleConnection(db: Kysely<Database>): Promise<boolean> {
  let known = singleConnection.get(db);
  if (!known) {
    known = sql<{ v: string }>`select version() as v`.execute(db).then((r) => /PGlite/i.test(r.rows[0]?.v ?? ''));
    singleConnection.set(db, known);
  }
  return known;
}

function keyOf(k: GrantKey): GrantKey {
  return { dag_id: k.dag_id, run_id: k.run_id, task_id: k.task_id, map_index: k.map_index, try_number: k.try_number };
}
