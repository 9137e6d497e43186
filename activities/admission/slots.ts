/**
 * One admission decision as one transaction: pool row locked (FOR UPDATE), then the DAG (advisory
 * lock; its max_active_tasks spans pools). The common case (room, nobody competing waits) is one
 * more statement that inserts the grant (on PGlite that statement alone, see requestSlots). Otherwise: expired grants reclaimed, the try's request
 * upserted (keeping its place in line), usage and waiters ahead read, and the request granted or
 * left queued. Postgres serialises concurrent deciders on the locks; PGlite is a single connection, so
 * transactions never interleave there. A deadlock or serialization failure is retried.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import {
  deleteGrant,
  grantIfClearlyFree,
  markAllGranted,
  queuedCompeting,
  upsertGrantRequests,
  type GrantKey,
  type SlotPoolRow,
  grantedUsage,
  isSingleConnection,
  lockDag,
  lockPool,
  markGranted,
  poolSizes,
  reclaimExpiredGrants,
  upsertGrantRequest,
  waitersAhead,
  UNLIMITED_SLOTS,
  type GrantRequest,
  type SlotGrantRow,
} from '../../db/pool.repository.js';
import { inTransaction } from '../../db/transaction.js';
import { admitInRankOrder, decide, usageFrom, type Blocker, type Demand } from './decide.js';

export type SlotOutcome =
  | {
      state: 'granted';
      /** The row was already granted (an earlier attempt of this try). */ reused: boolean;
      reclaimed: SlotGrantRow[];
    }
  | { state: 'queued'; blocker: Blocker; reclaimed: SlotGrantRow[] }
  | { state: 'no_pool' }
  | { state: 'too_big'; size: number };

/** Postgres error codes worth retrying a whole decision for. */
const RETRYABLE_CODES = new Set(['40P01', '40001']);

/** Asks once: grants the request, or records it as queued and says what blocks it. */
export async function requestSlots(db: Kysely<Database>, req: GrantRequest): Promise<SlotOutcome> {
  // PGlite: the common case is one statement, atomic on its single connection (~1.5 ms instead
  // of ~4 ms with a transaction and locks; it adds up over thousands of small tasks).
  if (!db.isTransaction && (await isSingleConnection(db)) && (await grantIfClearlyFree(db, req))) {
    return { state: 'granted', reused: false, reclaimed: [] };
  }
  return retryingConflicts(() => inTransaction(db, (trx) => decideInTransaction(trx, req)));
}

/**
 * Asks once for many tries (a worker's waiting tries) in one transaction, outcomes in the order of
 * `requests`. The same rules as requestSlots, decided in one ranked pass over the queue; reclaimed
 * grants are reported once, with the first outcome that can carry them.
 */
export async function requestSlotsTogether(
  db: Kysely<Database>,
  requests: readonly GrantRequest[],
): Promise<SlotOutcome[]> {
  if (requests.length === 0) return [];
  return retryingConflicts(() => inTransaction(db, (trx) => decideTogetherInTransaction(trx, requests)));
}

async function retryingConflicts<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (attempt >= 5 || typeof code !== 'string' || !RETRYABLE_CODES.has(code)) throw err;
    }
  }
}

/** How many queued requests one joint decision reads (they are bounded by the workers' activity slots). */
const QUEUE_READ_LIMIT = 5000;

async function decideTogetherInTransaction(
  trx: Kysely<Database>,
  requests: readonly GrantRequest[],
): Promise<SlotOutcome[]> {
  const outcomes: Array<SlotOutcome | undefined> = requests.map(() => undefined);
  // Locks in a fixed order (pools by name, then DAGs by name), after which single decisions take
  // theirs (one pool, then one DAG), so no two deciders wait on each other in a cycle.
  const poolNames = [...new Set(requests.map((r) => r.pool))].sort();
  const pools = new Map<string, SlotPoolRow | undefined>();
  for (const name of poolNames) pools.set(name, await lockPool(trx, name));
  const live: number[] = [];
  for (const [i, r] of requests.entries()) {
    const pool = pools.get(r.pool);
    if (!pool) outcomes[i] = { state: 'no_pool' };
    else if (pool.slots !== UNLIMITED_SLOTS && r.slots > pool.slots)
      outcomes[i] = { state: 'too_big', size: pool.slots };
    else live.push(i);
  }
  for (const [i, r] of requests.entries()) if (outcomes[i] !== undefined) await deleteGrant(trx, r);
  if (live.length > 0) {
    const dagNames = [...new Set(live.map((i) => requests[i]!.dag_id))].sort();
    for (const dag of dagNames) await lockDag(trx, dag);
    const reclaimed = await reclaimExpiredGrants(trx);
    const rows = await upsertGrantRequests(
      trx,
      live.map((i) => requests[i]!),
    );
    const rowOf = new Map(rows.map((r) => [grantKeyString(r), r]));
    const usage = usageFrom(await grantedUsage(trx));
    const livePools = [...new Set(live.map((i) => requests[i]!.pool))];
    const queued = await queuedCompeting(trx, livePools, dagNames, QUEUE_READ_LIMIT);
    const sizes = await poolSizes(trx, [...livePools, ...queued.map((q) => q.pool)]);
    const blockers = admitInRankOrder(usage, sizes, queued.map(demandOf));
    const blockerOf = new Map(queued.map((q, n) => [grantKeyString(q), blockers[n]!]));
    const grant: GrantKey[] = [];
    for (const i of live) {
      const key = grantKeyString(requests[i]!);
      if (rowOf.get(key)?.state === 'granted') {
        outcomes[i] = { state: 'granted', reused: true, reclaimed: [] };
        continue;
      }
      const blocker = blockerOf.has(key) ? blockerOf.get(key)! : beyondRead(rowOf.get(key)!, usage, sizes, queued);
      if (blocker === null) {
        grant.push(requests[i]!);
        outcomes[i] = { state: 'granted', reused: false, reclaimed: [] };
      } else {
        outcomes[i] = { state: 'queued', blocker, reclaimed: [] };
      }
    }
    await markAllGranted(trx, grant);
    const first = outcomes.find((o) => o?.state === 'granted' || o?.state === 'queued');
    if (first && (first.state === 'granted' || first.state === 'queued')) first.reclaimed = reclaimed;
  }
  return outcomes.map((o) => o!);
}

/** A request ranked beyond the rows read: everyone read is ahead of it. */
function beyondRead(
  mine: SlotGrantRow,
  usage: ReturnType<typeof usageFrom>,
  sizes: ReadonlyMap<string, number>,
  queued: readonly SlotGrantRow[],
): Blocker | null {
  const decision = decide(demandOf(mine), usage, sizes, queued.map(demandOf));
  return decision.admit ? null : decision.blocker;
}

export function grantKeyString(k: GrantKey): string {
  return JSON.stringify([k.dag_id, k.run_id, k.task_id, k.map_index, k.try_number]);
}

async function decideInTransaction(trx: Kysely<Database>, req: GrantRequest): Promise<SlotOutcome> {
  const pool = await lockPool(trx, req.pool);
  if (!pool) {
    await deleteGrant(trx, req);
    return { state: 'no_pool' };
  }
  if (pool.slots !== UNLIMITED_SLOTS && req.slots > pool.slots) {
    await deleteGrant(trx, req);
    return { state: 'too_big', size: pool.slots };
  }
  await lockDag(trx, req.dag_id);
  if (await grantIfClearlyFree(trx, req, pool.slots)) return { state: 'granted', reused: false, reclaimed: [] };
  const reclaimed = await reclaimExpiredGrants(trx);
  const mine = await upsertGrantRequest(trx, req);
  if (mine.state === 'granted') return { state: 'granted', reused: true, reclaimed };

  const usage = usageFrom(await grantedUsage(trx));
  const ahead = await waitersAhead(trx, mine);
  const sizes = await poolSizes(trx, [req.pool, ...ahead.map((a) => a.pool)]);
  const decision = decide(demandOf(mine), usage, sizes, ahead.map(demandOf));
  if (decision.admit) {
    await markGranted(trx, req);
    return { state: 'granted', reused: false, reclaimed };
  }
  return { state: 'queued', blocker: decision.blocker, reclaimed };
}

function demandOf(r: SlotGrantRow): Demand {
  return {
    dag_id: r.dag_id,
    run_id: r.run_id,
    task_id: r.task_id,
    map_index: r.map_index,
    try_number: r.try_number,
    pool: r.pool,
    slots: r.slots,
    priority_weight: r.priority_weight,
    max_active_tasks: r.max_active_tasks,
    max_active_tis_per_dag: r.max_active_tis_per_dag,
  };
}
