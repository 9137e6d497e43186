import { sql, type Kysely } from 'kysely';
import type { Database, TaskInstanceHistoryRow, TaskInstanceRow } from './database.js';
import { chunkForParameters, inTransaction } from './transaction.js';

/** Identifies a task instance; map_index -1 is an unmapped task (Airflow's convention). */
export interface TaskInstanceKey {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
}

/** Identifies one try of a task instance. */
export interface TaskTryKey extends TaskInstanceKey {
  try_number: number;
}

type TaskInstanceValueColumn = Exclude<keyof TaskInstanceRow, keyof TaskInstanceKey | 'updated_at'>;

/** A task instance's key plus the columns to write; columns left out keep their stored value. */
export type TaskInstanceUpsert = Omit<TaskInstanceKey, 'map_index'> & {
  /** Default -1. */
  map_index?: number;
} & Partial<Pick<TaskInstanceRow, TaskInstanceValueColumn>>;

const KEY_COLUMNS = ['dag_id', 'run_id', 'task_id', 'map_index'] as const;

function keyString(k: TaskInstanceKey): string {
  return JSON.stringify([k.dag_id, k.run_id, k.task_id, k.map_index]);
}

/**
 * Inserts or updates task instances in bulk (the bookkeeping activity's batch). Only the columns
 * a row gives are written on conflict, so one writer setting `state` cannot clobber another's
 * `hostname`. Rows for the same key are merged first (later rows win), because one statement may
 * not update a row twice. Rows are grouped by the set of columns they give and each group is one
 * statement (chunked under the bind-parameter limit), all in one transaction.
 */
export async function upsertTaskInstances(db: Kysely<Database>, rows: readonly TaskInstanceUpsert[]): Promise<void> {
  const merged = new Map<string, Record<string, unknown>>();
  for (const row of rows) {
    const key: TaskInstanceKey = {
      dag_id: row.dag_id,
      run_id: row.run_id,
      task_id: row.task_id,
      map_index: row.map_index ?? -1,
    };
    const k = keyString(key);
    const target = merged.get(k) ?? { ...key };
    for (const [column, value] of Object.entries(row)) {
      if (value !== undefined && column !== 'map_index') target[column] = value;
    }
    merged.set(k, target);
  }

  const groups = new Map<string, { columns: string[]; rows: Record<string, unknown>[] }>();
  for (const row of merged.values()) {
    const columns = Object.keys(row)
      .filter((c) => !(KEY_COLUMNS as readonly string[]).includes(c))
      .sort();
    const signature = columns.join(',');
    const group = groups.get(signature) ?? { columns, rows: [] };
    group.rows.push(row);
    groups.set(signature, group);
  }
  if (groups.size === 0) return;

  await inTransaction(db, async (trx) => {
    for (const { columns, rows: groupRows } of groups.values()) {
      for (const chunk of chunkForParameters(groupRows, KEY_COLUMNS.length + columns.length)) {
        const values = chunk.map((r) => {
          const v: Record<string, unknown> = {};
          for (const c of [...KEY_COLUMNS, ...columns]) v[c] = r[c];
          return v;
        });
        await trx
          .insertInto('task_instance')
          // Columns are validated by TaskInstanceUpsert; the dynamic record cannot carry that type.
          .values(values as never)
          .onConflict((oc) => {
            const conflict = oc.columns([...KEY_COLUMNS]);
            if (columns.length === 0) return conflict.doNothing();
            const set: Record<string, unknown> = { updated_at: sql`now()` };
            for (const c of columns) set[c] = sql.ref(`excluded.${c}`);
            return conflict.doUpdateSet(set as never);
          })
          .execute();
      }
    }
  });
}

export interface TryStart extends TaskTryKey {
  max_tries: number;
  start_date: Date;
  hostname: string | null;
  executor: string | null;
  operator?: string | null;
  queue?: string | null;
  /** Default 'default_pool'. */
  pool?: string;
  /** Default 1. */
  pool_slots?: number;
  /** Default 1. */
  priority_weight?: number;
  external_id?: string | null;
  /** GPU device ids allocated to the try. */
  gpu_devices?: string[] | null;
}

/**
 * A try began: the task instance becomes `running` with this try's number and facts (end, exit
 * code and error of an earlier try are cleared), and the try gets its history row. Idempotent, so
 * a retried activity may call it again. A start for an older try than the one recorded (a late
 * write) only touches that try's history row. Returns the task instance as stored.
 */
export async function recordTryStart(db: Kysely<Database>, start: TryStart): Promise<TaskInstanceRow> {
  const key = keyOf(start);
  return inTransaction(db, async (trx) => {
    await trx
      .insertInto('task_instance_history')
      .values({
        ...key,
        try_number: start.try_number,
        state: 'running',
        start_date: start.start_date,
        end_date: null,
        duration: null,
        hostname: start.hostname,
        executor: start.executor,
        exit_code: null,
        external_id: start.external_id ?? null,
        error: null,
        gpu_devices: start.gpu_devices?.length ? start.gpu_devices.join(',') : null,
      })
      .onConflict((oc) =>
        oc.columns([...KEY_COLUMNS, 'try_number']).doUpdateSet({
          gpu_devices: sql.ref('excluded.gpu_devices'),
          state: sql.ref('excluded.state'),
          start_date: sql.ref('excluded.start_date'),
          end_date: null,
          duration: null,
          hostname: sql.ref('excluded.hostname'),
          executor: sql.ref('excluded.executor'),
          exit_code: null,
          error: null,
          ...(start.external_id === undefined ? {} : { external_id: sql.ref('excluded.external_id') }),
        }),
      )
      .execute();

    const updated = await trx
      .insertInto('task_instance')
      .values({
        ...key,
        state: 'running',
        try_number: start.try_number,
        max_tries: start.max_tries,
        start_date: start.start_date,
        end_date: null,
        duration: null,
        hostname: start.hostname,
        executor: start.executor,
        operator: start.operator ?? null,
        queue: start.queue ?? null,
        pool: start.pool ?? 'default_pool',
        pool_slots: start.pool_slots ?? 1,
        priority_weight: start.priority_weight ?? 1,
        exit_code: null,
        external_id: start.external_id ?? null,
        error: null,
        gpu_devices: start.gpu_devices?.length ? start.gpu_devices.join(',') : null,
      })
      .onConflict((oc) =>
        oc
          .columns([...KEY_COLUMNS])
          .doUpdateSet({
            gpu_devices: sql.ref('excluded.gpu_devices'),
            state: sql.ref('excluded.state'),
            try_number: sql.ref('excluded.try_number'),
            max_tries: sql.ref('excluded.max_tries'),
            start_date: sql.ref('excluded.start_date'),
            end_date: null,
            duration: null,
            hostname: sql.ref('excluded.hostname'),
            executor: sql.ref('excluded.executor'),
            ...(start.operator === undefined ? {} : { operator: sql.ref('excluded.operator') }),
            ...(start.queue === undefined ? {} : { queue: sql.ref('excluded.queue') }),
            ...(start.pool === undefined ? {} : { pool: sql.ref('excluded.pool') }),
            ...(start.pool_slots === undefined ? {} : { pool_slots: sql.ref('excluded.pool_slots') }),
            ...(start.priority_weight === undefined ? {} : { priority_weight: sql.ref('excluded.priority_weight') }),
            exit_code: null,
            external_id: sql.ref('excluded.external_id'),
            error: null,
            updated_at: sql`now()`,
          })
          .where('task_instance.try_number', '<=', sql.ref<number>('excluded.try_number')),
      )
      .returningAll()
      .executeTakeFirst();
    return updated ?? (await selectTaskInstance(trx, key));
  });
}

export interface TryEnd extends TaskTryKey {
  /** The state the try ended in: success, failed, up_for_retry, skipped, ... */
  state: string;
  end_date: Date;
  /** Omitted: unchanged. */
  exit_code?: number | null;
  error?: string | null;
  external_id?: string | null;
}

/**
 * A try ended: its history row gets the end state, end date and duration (seconds since the try's
 * recorded start; null when no start was recorded), and the task instance mirrors it unless a
 * newer try has already started. Returns the try's history row.
 */
export async function recordTryEnd(db: Kysely<Database>, end: TryEnd): Promise<TaskInstanceHistoryRow> {
  const key = keyOf(end);
  const optional = {
    ...(end.exit_code === undefined ? {} : { exit_code: end.exit_code }),
    ...(end.error === undefined ? {} : { error: end.error }),
    ...(end.external_id === undefined ? {} : { external_id: end.external_id }),
  };
  const optionalRefs = Object.fromEntries(Object.keys(optional).map((c) => [c, sql.ref(`excluded.${c}`)]));
  return inTransaction(db, async (trx) => {
    const history = await trx
      .insertInto('task_instance_history')
      .values({ ...key, try_number: end.try_number, state: end.state, end_date: end.end_date, ...optional })
      .onConflict((oc) =>
        oc.columns([...KEY_COLUMNS, 'try_number']).doUpdateSet({
          state: sql.ref('excluded.state'),
          end_date: sql.ref('excluded.end_date'),
          duration: sql<
            number | null
          >`extract(epoch from (excluded.end_date - task_instance_history.start_date))::float8`,
          ...optionalRefs,
        }),
      )
      .returningAll()
      .executeTakeFirstOrThrow();

    await trx
      .insertInto('task_instance')
      .values({
        ...key,
        state: end.state,
        try_number: end.try_number,
        start_date: history.start_date,
        end_date: end.end_date,
        duration: history.duration,
        ...optional,
      })
      .onConflict((oc) =>
        oc
          .columns([...KEY_COLUMNS])
          .doUpdateSet({
            state: sql.ref('excluded.state'),
            try_number: sql.ref('excluded.try_number'),
            start_date: sql.ref('excluded.start_date'),
            end_date: sql.ref('excluded.end_date'),
            duration: sql.ref('excluded.duration'),
            ...optionalRefs,
            updated_at: sql`now()`,
          })
          .where('task_instance.try_number', '<=', sql.ref<number>('excluded.try_number')),
      )
      .execute();
    return history;
  });
}

/** Records what a try runs as (pid, container, Job name) once the executor knows it. */
export async function recordTryExternalId(
  db: Kysely<Database>,
  tryKey: TaskTryKey,
  external_id: string,
): Promise<void> {
  const key = keyOf(tryKey);
  await inTransaction(db, async (trx) => {
    await trx
      .updateTable('task_instance_history')
      .set({ external_id })
      .where((eb) => eb.and({ ...key, try_number: tryKey.try_number }))
      .execute();
    await trx
      .updateTable('task_instance')
      .set({ external_id, updated_at: sql`now()` })
      .where((eb) => eb.and({ ...key, try_number: tryKey.try_number }))
      .execute();
  });
}

export async function getTaskInstance(
  db: Kysely<Database>,
  key: TaskInstanceKey,
): Promise<TaskInstanceRow | undefined> {
  return db
    .selectFrom('task_instance')
    .selectAll()
    .where((eb) => eb.and(keyOf(key)))
    .executeTakeFirst();
}

/** A run's task instances, by task_id then map_index. */
export async function listTaskInstances(
  db: Kysely<Database>,
  dag_id: string,
  run_id: string,
): Promise<TaskInstanceRow[]> {
  return db
    .selectFrom('task_instance')
    .selectAll()
    .where('dag_id', '=', dag_id)
    .where('run_id', '=', run_id)
    .orderBy('task_id')
    .orderBy('map_index')
    .execute();
}

/** A run's tries (optionally of one task), by task_id, map_index, try_number. */
export async function listTaskInstanceHistory(
  db: Kysely<Database>,
  dag_id: string,
  run_id: string,
  task_id?: string,
): Promise<TaskInstanceHistoryRow[]> {
  let query = db
    .selectFrom('task_instance_history')
    .selectAll()
    .where('dag_id', '=', dag_id)
    .where('run_id', '=', run_id)
    .orderBy('task_id')
    .orderBy('map_index')
    .orderBy('try_number');
  if (task_id !== undefined) query = query.where('task_id', '=', task_id);
  return query.execute();
}

function keyOf(k: TaskInstanceKey): TaskInstanceKey {
  return { dag_id: k.dag_id, run_id: k.run_id, task_id: k.task_id, map_index: k.map_index };
}

async function selectTaskInstance(db: Kysely<Database>, key: TaskInstanceKey): Promise<TaskInstanceRow> {
  return db
    .selectFrom('task_instance')
    .selectAll()
    .where((eb) => eb.and(key))
    .executeTakeFirstOrThrow();
}
