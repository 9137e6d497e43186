import { sql, type Kysely } from 'kysely';
import type { Database, JsonValue, XComRow } from './database.js';
import { jsonByteLength, toJsonb } from './json.js';

/** Identifies one XCom: the task instance that pushed it and its key ('return_value' for results). */
export interface XComKey {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  key: string;
}

/** Stores (or replaces) an XCom value. Returns its size_bytes: the UTF-8 byte length of its JSON. */
export async function setXCom(db: Kysely<Database>, xcomKey: XComKey, value: unknown): Promise<number> {
  const json = toJsonb(value, `xcom "${xcomKey.key}" of task "${xcomKey.task_id}"`);
  const size_bytes = jsonByteLength(json);
  await db
    .insertInto('xcom')
    .values({ ...pick(xcomKey), value: json, size_bytes })
    .onConflict((oc) =>
      oc.columns(['dag_id', 'run_id', 'task_id', 'map_index', 'key']).doUpdateSet({
        value: sql.ref('excluded.value'),
        size_bytes: sql.ref('excluded.size_bytes'),
        created_at: sql`now()`,
      }),
    )
    .execute();
  return size_bytes;
}

/** The stored value, or undefined when none was pushed (a pushed null comes back as null). */
export async function getXCom(db: Kysely<Database>, xcomKey: XComKey): Promise<JsonValue | undefined> {
  const row = await db
    .selectFrom('xcom')
    .select('value')
    .where((eb) => eb.and(pick(xcomKey)))
    .executeTakeFirst();
  return row?.value;
}

/** The stored XCom row (value, size_bytes, created_at), or undefined. */
export async function getXComRow(db: Kysely<Database>, xcomKey: XComKey): Promise<XComRow | undefined> {
  return db
    .selectFrom('xcom')
    .selectAll()
    .where((eb) => eb.and(pick(xcomKey)))
    .executeTakeFirst();
}

/** A run's XComs (optionally of one task), by task_id, map_index, key. */
export async function listXComs(
  db: Kysely<Database>,
  dag_id: string,
  run_id: string,
  task_id?: string,
): Promise<XComRow[]> {
  let query = db
    .selectFrom('xcom')
    .selectAll()
    .where('dag_id', '=', dag_id)
    .where('run_id', '=', run_id)
    .orderBy('task_id')
    .orderBy('map_index')
    .orderBy('key');
  if (task_id !== undefined) query = query.where('task_id', '=', task_id);
  return query.execute();
}

/**
 * Deletes a task instance's XComs (before a new try runs, as Airflow does). Without map_index,
 * every map index of the task. Returns how many were deleted.
 */
export async function clearXComs(
  db: Kysely<Database>,
  dag_id: string,
  run_id: string,
  task_id: string,
  map_index?: number,
): Promise<number> {
  let query = db
    .deleteFrom('xcom')
    .where('dag_id', '=', dag_id)
    .where('run_id', '=', run_id)
    .where('task_id', '=', task_id);
  if (map_index !== undefined) query = query.where('map_index', '=', map_index);
  const result = await query.executeTakeFirst();
  return Number(result.numDeletedRows);
}

function pick(k: XComKey): XComKey {
  return { dag_id: k.dag_id, run_id: k.run_id, task_id: k.task_id, map_index: k.map_index, key: k.key };
}
