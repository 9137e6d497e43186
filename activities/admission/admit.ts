/**
 * Cross-run admission of a try, run by the runTask activity before its executor starts (so the
 * workflow needs no part in it): first depends_on_past / wait_for_downstream, then a grant of
 * `pool_slots` of the task's pool within the DAG's max_active_tasks and the task's
 * max_active_tis_per_dag, counted over all runs. While it waits the try is `queued` in
 * task_instance, says in its log what it waits for, heartbeats Temporal, re-checks every
 * `pollMs` (together with the process's other waiting tries, wait-list.ts), and honours
 * cancellation. The grant is heartbeated while held (a crashed worker's
 * grant expires after its lease) and given back by `release()`.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { deleteGrant, heartbeatGrant, type GrantKey, type SlotGrantRow } from '../../db/pool.repository.js';
import { upsertTaskInstances } from '../../db/task-instance.repository.js';
import type { RunTaskRequest } from '../../workflows/types.js';
import { TaskExecutionError } from '../executors/types.js';
import { describeBlocker } from './decide.js';
import { pastDepsBlocker } from './past-deps.js';
import { slotWaitListFor } from './wait-list.js';
import { abortableSleep } from '../abortable-sleep.js';

export interface AdmissionDeps {
  db: Kysely<Database>;
  hostname: string;
  /** A system line in the try's log. */
  log(line: string): void;
  /** Tells Temporal the activity is alive while it waits. */
  heartbeat(): void;
  signal: AbortSignal;
  /** The activity's heartbeat timeout; a grant's lease is three of them. */
  heartbeatTimeoutMs: number;
  /** Whether a cancelled wait keeps its place in line (a later attempt of the try resumes it). */
  keepRequestOnAbort(): boolean;
  /** How often a waiting try re-checks. @default 200 */
  pollMs?: number;
}

export interface Admission {
  /** Gives the slots back. Idempotent; never throws. */
  release(): Promise<void>;
}

const NOTHING_HELD: Admission = { release: async () => undefined };

/** A grant's lease: three heartbeat timeouts (at least 10 s), then it counts as a crashed worker's. */
export function leaseSecondsFor(heartbeatTimeoutMs: number): number {
  return Math.max(10, Math.ceil((3 * heartbeatTimeoutMs) / 1000));
}

export async function admitTry(deps: AdmissionDeps, req: RunTaskRequest): Promise<Admission> {
  const pollMs = deps.pollMs ?? 200;
  const task = req.task;
  let lastLine = '';
  let marking: Promise<void> | undefined;
  // The try shows as queued in task_instance from its first wait (written once).
  const markQueued = (): Promise<void> =>
    (marking ??= upsertTaskInstances(deps.db, [
      {
        dag_id: req.dagId,
        run_id: req.runId,
        task_id: task.task_id,
        map_index: req.mapIndex,
        state: 'queued',
        try_number: req.tryNumber,
      },
    ]));
  const logWaiting = (line: string): void => {
    if (line !== lastLine) {
      deps.log(line);
      lastLine = line;
    }
  };

  // 1. The previous run (polled less often: it changes at the speed of tasks, not of slots).
  for (;;) {
    const blocker = await pastDepsBlocker(deps.db, {
      dagId: req.dagId,
      runId: req.runId,
      task,
      logicalDate: req.logicalDate,
    });
    if (blocker === null) break;
    await markQueued();
    logWaiting(blocker);
    deps.heartbeat();
    await pause(Math.max(1000, pollMs), deps.signal);
  }

  // 2. Slots. Empty tasks never occupy a slot (Airflow finishes EmptyOperator without queueing it).
  if (task.kind === 'empty') return NOTHING_HELD;
  const key: GrantKey = {
    dag_id: req.dagId,
    run_id: req.runId,
    task_id: task.task_id,
    map_index: req.mapIndex,
    try_number: req.tryNumber,
  };
  const leaseSeconds = leaseSecondsFor(deps.heartbeatTimeoutMs);
  const request = {
    ...key,
    pool: task.pool,
    slots: task.pool_slots,
    priority_weight: task.priority_weight,
    lease_seconds: leaseSeconds,
    max_active_tasks: await dagMaxActiveTasks(deps.db, req.dagVersionId),
    max_active_tis_per_dag: task.max_active_tis_per_dag ?? null,
    hostname: deps.hostname,
  };
  try {
    // Every slot decision of this process goes through its wait list (wait-list.ts): a new try is
    // decided in the next round (at once when none runs), a waiting one every pollMs and whenever
    // a slot is given back here, all of them together in one transaction per round.
    let waited = false;
    const outcome = await slotWaitListFor(deps.db).wait(request, {
      signal: deps.signal,
      pollMs,
      onQueued: (queued) => {
        waited = true;
        markQueued().catch(() => undefined); // awaited below, where its error surfaces
        logReclaimed(deps, queued.reclaimed);
        logWaiting(describeBlocker(queued.blocker));
        deps.heartbeat();
      },
    });
    if (marking) await marking;
    if (outcome.state === 'granted') {
      logReclaimed(deps, outcome.reclaimed);
      if (waited && !outcome.reused) deps.log(`got ${task.pool_slots} slot(s) of pool "${task.pool}"`);
    }
    if (outcome.state === 'no_pool') {
      throw new TaskExecutionError(
        `pool "${task.pool}" does not exist; create it with \`updraft pools set ${task.pool} <slots>\``,
        'fail',
      );
    }
    if (outcome.state === 'too_big') {
      throw new TaskExecutionError(
        `task "${task.task_id}" asks for ${task.pool_slots} slots (pool_slots) of pool "${task.pool}", which has only ${outcome.size}; ` +
          `lower pool_slots or grow the pool with \`updraft pools set ${task.pool} ${task.pool_slots}\``,
        'fail',
      );
    }
    if (outcome.reused) {
      deps.log(`holding ${task.pool_slots} slot(s) of pool "${task.pool}" granted to an earlier attempt of this try`);
    }
    return holdGrant(deps, key, leaseSeconds);
  } catch (err) {
    // A cancelled wait withdraws its request, unless a later attempt of this try will resume it.
    if (!(deps.signal.aborted && deps.keepRequestOnAbort())) await deleteGrant(deps.db, key).catch(() => undefined);
    throw err;
  }
}

function logReclaimed(deps: AdmissionDeps, reclaimed: readonly SlotGrantRow[]): void {
  for (const r of reclaimed) {
    deps.log(
      `reclaimed ${r.slots} slot(s) of pool "${r.pool}" from ${r.dag_id}/${r.run_id}/${r.task_id} try ${r.try_number}: its worker stopped heartbeating for over ${r.lease_seconds}s`,
    );
  }
}

/** Heartbeats the grant (every lease/6) until released. */
function holdGrant(deps: AdmissionDeps, key: GrantKey, leaseSeconds: number): Admission {
  let warned = false;
  const ticker = setInterval(
    () => {
      heartbeatGrant(deps.db, key).then(
        (alive) => {
          if (!alive && !warned) {
            warned = true;
            deps.log(
              `this try's slot grant was reclaimed (no heartbeat for ${leaseSeconds}s); the try goes on, but its slots may be given to another`,
            );
          }
        },
        () => undefined,
      );
    },
    (leaseSeconds * 1000) / 6,
  );
  ticker.unref();
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      clearInterval(ticker);
      await deleteGrant(deps.db, key).then(
        // The freed slots go to this process's waiting tries now rather than at their next poll.
        () => slotWaitListFor(deps.db).wake(),
        (err: Error) =>
          deps.log(`could not give back the slot grant (it expires after ${leaseSeconds}s): ${err.message}`),
      );
    },
  };
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return abortableSleep(ms, signal, 'cancelled while waiting to be admitted');
}

/** max_active_tasks of a DAG version (immutable per version, so cached per database). */
const maxActiveTasksCache = new WeakMap<Kysely<Database>, Map<number, number>>();
async function dagMaxActiveTasks(db: Kysely<Database>, dagVersionId: number): Promise<number> {
  let cache = maxActiveTasksCache.get(db);
  if (!cache) maxActiveTasksCache.set(db, (cache = new Map()));
  const cached = cache.get(dagVersionId);
  if (cached !== undefined) return cached;
  const row = await db
    .selectFrom('dag_version')
    .select(sql<string | null>`spec->>'max_active_tasks'`.as('max_active_tasks'))
    .where('id', '=', dagVersionId)
    .executeTakeFirst();
  // 16: Airflow's [core] max_active_tasks_per_dag, the compiler's default too.
  const value = Number(row?.max_active_tasks ?? 16) || 16;
  if (cache.size > 1000) cache.clear();
  cache.set(dagVersionId, value);
  return value;
}
