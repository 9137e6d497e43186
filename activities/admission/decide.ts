/**
 * The admission decision, pure: may this try start now, given what runs (granted slots by pool,
 * DAG and task) and who waits ahead of it? Airflow's scheduler admits tasks in priority order
 * while pool slots, the DAG's max_active_tasks and the task's max_active_tis_per_dag allow; here
 * each try decides for itself, so it first lets every higher-ranked waiter that fits take its
 * share (in rank order, on a copy of the usage) and starts only if it still fits after them.
 */
import { UNLIMITED_SLOTS } from '../../db/pool.repository.js';

/** What a try asks for (its own request or a waiter's). */
export interface Demand {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  pool: string;
  slots: number;
  priority_weight: number;
  max_active_tasks: number;
  max_active_tis_per_dag: number | null;
}

/** Running usage by pool (slots), DAG (tries) and DAG+task (tries). */
export interface Usage {
  pool: Map<string, number>;
  dag: Map<string, number>;
  task: Map<string, number>;
}

export type Blocker =
  | { kind: 'pool'; pool: string; want: number; used: number; size: number }
  | { kind: 'no_pool'; pool: string }
  | { kind: 'max_active_tasks'; dag_id: string; running: number; limit: number }
  | { kind: 'max_active_tis_per_dag'; dag_id: string; task_id: string; running: number; limit: number }
  | { kind: 'waiters_ahead'; ahead: Demand[]; then: Blocker };

export type Decision = { admit: true } | { admit: false; blocker: Blocker };

const taskKey = (dagId: string, taskId: string): string => `${dagId}\u0000${taskId}`;

export function usageFrom(
  rows: ReadonlyArray<{ pool: string; dag_id: string; task_id: string; slots: number; tries: number }>,
): Usage {
  const usage: Usage = { pool: new Map(), dag: new Map(), task: new Map() };
  for (const r of rows) add(usage, r.pool, r.dag_id, r.task_id, r.slots, r.tries);
  return usage;
}

function add(u: Usage, pool: string, dagId: string, taskId: string, slots: number, tries: number): void {
  u.pool.set(pool, (u.pool.get(pool) ?? 0) + slots);
  u.dag.set(dagId, (u.dag.get(dagId) ?? 0) + tries);
  const k = taskKey(dagId, taskId);
  u.task.set(k, (u.task.get(k) ?? 0) + tries);
}

function copy(u: Usage): Usage {
  return { pool: new Map(u.pool), dag: new Map(u.dag), task: new Map(u.task) };
}

/** Why `d` cannot start on top of `usage`, or null when it fits. `size` undefined: no such pool. */
export function blockerFor(d: Demand, usage: Usage, size: number | undefined): Blocker | null {
  if (size === undefined) return { kind: 'no_pool', pool: d.pool };
  const used = usage.pool.get(d.pool) ?? 0;
  if (size !== UNLIMITED_SLOTS && used + d.slots > size)
    return { kind: 'pool', pool: d.pool, want: d.slots, used, size };
  const running = usage.dag.get(d.dag_id) ?? 0;
  if (running >= d.max_active_tasks)
    return { kind: 'max_active_tasks', dag_id: d.dag_id, running, limit: d.max_active_tasks };
  if (d.max_active_tis_per_dag !== null) {
    const tis = usage.task.get(taskKey(d.dag_id, d.task_id)) ?? 0;
    if (tis >= d.max_active_tis_per_dag) {
      return {
        kind: 'max_active_tis_per_dag',
        dag_id: d.dag_id,
        task_id: d.task_id,
        running: tis,
        limit: d.max_active_tis_per_dag,
      };
    }
  }
  return null;
}

/**
 * Decides for `me`. `ahead` are the queued requests ranked before it that compete with it (same
 * pool or same DAG), best first; `sizes` has the size of every pool named.
 */
export function decide(
  me: Demand,
  usage: Usage,
  sizes: ReadonlyMap<string, number>,
  ahead: readonly Demand[],
): Decision {
  const own = blockerFor(me, usage, sizes.get(me.pool));
  if (own) return { admit: false, blocker: own };
  const simulated = copy(usage);
  const admittedAhead: Demand[] = [];
  for (const w of ahead) {
    if (blockerFor(w, simulated, sizes.get(w.pool)) === null) {
      add(simulated, w.pool, w.dag_id, w.task_id, w.slots, 1);
      admittedAhead.push(w);
    }
  }
  const after = blockerFor(me, simulated, sizes.get(me.pool));
  if (after) return { admit: false, blocker: { kind: 'waiters_ahead', ahead: admittedAhead, then: after } };
  return { admit: true };
}

/**
 * One pass over the queue in rank order, as Airflow's scheduler makes it: each waiter that fits on
 * what runs plus the better-ranked waiters admitted before it is admitted. A worker decides for all
 * its waiting tries at once this way (activities/admission/wait-list.ts). For each waiter: null
 * when admitted, else what blocks it, in the words `decide` uses.
 */
export function admitInRankOrder(
  usage: Usage,
  sizes: ReadonlyMap<string, number>,
  queued: readonly Demand[],
): Array<Blocker | null> {
  const simulated = copy(usage);
  const admitted: Demand[] = [];
  return queued.map((w) => {
    const size = sizes.get(w.pool);
    const now = blockerFor(w, simulated, size);
    if (now === null) {
      add(simulated, w.pool, w.dag_id, w.task_id, w.slots, 1);
      admitted.push(w);
      return null;
    }
    const own = blockerFor(w, usage, size);
    if (own) return own;
    const ahead = admitted.filter((a) => a.pool === w.pool || a.dag_id === w.dag_id);
    return { kind: 'waiters_ahead', ahead, then: now };
  });
}

/** One line for the task log: what the try waits for. */
export function describeBlocker(b: Blocker): string {
  switch (b.kind) {
    case 'pool':
      return `waiting for ${b.want} slot(s) of pool "${b.pool}": ${b.used} of ${b.size} in use`;
    case 'no_pool':
      return `pool "${b.pool}" does not exist`;
    case 'max_active_tasks':
      return `waiting: DAG "${b.dag_id}" has ${b.running} running task(s) across its runs, its max_active_tasks is ${b.limit}`;
    case 'max_active_tis_per_dag':
      return `waiting: task "${b.task_id}" has ${b.running} running tr${b.running === 1 ? 'y' : 'ies'} across the runs of DAG "${b.dag_id}", its max_active_tis_per_dag is ${b.limit}`;
    case 'waiters_ahead': {
      const first = b.ahead[0];
      const who = first
        ? ` (first: ${first.dag_id}/${first.run_id}/${first.task_id} with priority_weight ${first.priority_weight})`
        : '';
      return `${describeBlocker(b.then)} once ${b.ahead.length} higher-priority waiting tr${b.ahead.length === 1 ? 'y' : 'ies'} start${who}`;
    }
  }
}
