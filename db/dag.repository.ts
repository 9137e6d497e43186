import { sql, type Kysely } from 'kysely';
import type { DagCodeRow, DagRow, DagVersionRow, Database } from './database.js';
import { DagNotFoundError } from './errors.js';
import { toJsonb } from './json.js';
import { inTransaction } from './transaction.js';
import type { DagSpec } from '../spec/dag-spec.js';

export interface DagUpsert {
  dag_id: string;
  fileloc: string;
  owners: string;
  description: string | null;
  tags: readonly string[];
  schedule: string | null;
  max_active_runs?: number | null;
  /** is_paused for a DAG seen for the first time (Airflow's is_paused_upon_creation); ignored afterwards. */
  is_paused_upon_creation?: boolean;
}

/**
 * Records a parsed DAG: inserts it, or refreshes what the file says about it. Parsing also marks it
 * active again. `is_paused` is set only when the DAG is created; after that it is the user's.
 */
export async function upsertDag(db: Kysely<Database>, dag: DagUpsert): Promise<DagRow> {
  const tags = toJsonb(dag.tags, `dag "${dag.dag_id}" tags`);
  return db
    .insertInto('dag')
    .values({
      dag_id: dag.dag_id,
      fileloc: dag.fileloc,
      owners: dag.owners,
      description: dag.description,
      tags,
      schedule: dag.schedule,
      max_active_runs: dag.max_active_runs ?? null,
      ...(dag.is_paused_upon_creation !== undefined ? { is_paused: dag.is_paused_upon_creation } : {}),
      last_parsed_at: sql<Date>`now()`,
    })
    .onConflict((oc) =>
      oc.column('dag_id').doUpdateSet((eb) => ({
        fileloc: eb.ref('excluded.fileloc'),
        owners: eb.ref('excluded.owners'),
        description: eb.ref('excluded.description'),
        tags: eb.ref('excluded.tags'),
        schedule: eb.ref('excluded.schedule'),
        max_active_runs: eb.ref('excluded.max_active_runs'),
        is_active: true,
        last_parsed_at: eb.ref('excluded.last_parsed_at'),
      })),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

export interface DagVersionRef {
  id: number;
  version_number: number;
  /** Whether this call created the version (a spec and code not seen before for this DAG). */
  created: boolean;
}

/** A DAG file's bundled code, stored once per content hash (table dag_code). */
export interface DagCodeInput {
  code_hash: string;
  /** Relative to the DAGs folder. */
  fileloc: string;
  bundle: string;
}

/**
 * Records a DAG version (its spec and, since code is kept, the code it was parsed from) and points
 * the DAG at it. Idempotent per (spec hash, code hash): a pair seen before returns its existing
 * version (and makes it the latest again, e.g. after a revert); a new pair gets the next version
 * number. The DAG row is locked while numbering, so concurrent parsers agree.
 */
export async function upsertDagVersion(
  db: Kysely<Database>,
  dag_id: string,
  spec_hash: string,
  spec: DagSpec,
  code: DagCodeInput | null = null,
): Promise<DagVersionRef> {
  const specJson = toJsonb(spec, `dag "${dag_id}" spec`);
  return inTransaction(db, async (trx) => {
    const dag = await trx
      .selectFrom('dag')
      .select(['dag_id', 'latest_version_id'])
      .where('dag_id', '=', dag_id)
      .forUpdate()
      .executeTakeFirst();
    if (dag === undefined) throw new DagNotFoundError(dag_id, 'upsertDag must record the DAG before its versions');

    let created = false;
    let version = await trx
      .selectFrom('dag_version')
      .select(['id', 'version_number'])
      .where('dag_id', '=', dag_id)
      .where('spec_hash', '=', spec_hash)
      .where((eb) => (code === null ? eb('code_hash', 'is', null) : eb('code_hash', '=', code.code_hash)))
      .executeTakeFirst();
    if (version === undefined) {
      if (code !== null) {
        await trx
          .insertInto('dag_code')
          .values(code)
          .onConflict((oc) => oc.column('code_hash').doNothing())
          .execute();
      }
      version = await trx
        .insertInto('dag_version')
        .values((eb) => ({
          dag_id,
          spec_hash,
          spec: specJson,
          code_hash: code?.code_hash ?? null,
          version_number: eb
            .selectFrom('dag_version')
            .select(sql<number>`coalesce(max(version_number), 0) + 1`.as('next'))
            .where('dag_id', '=', dag_id),
        }))
        .returning(['id', 'version_number'])
        .executeTakeFirstOrThrow();
      created = true;
    }
    if (dag.latest_version_id !== version.id) {
      await trx.updateTable('dag').set({ latest_version_id: version.id }).where('dag_id', '=', dag_id).execute();
    }
    return { id: version.id, version_number: version.version_number, created };
  });
}

/** A version and where its code came from (fileloc null when no code was kept). */
export interface DagVersionWithCode {
  id: number;
  dag_id: string;
  version_number: number;
  spec_hash: string;
  code_hash: string | null;
  fileloc: string | null;
}

function versionWithCode(db: Kysely<Database>) {
  return db
    .selectFrom('dag_version')
    .leftJoin('dag_code', 'dag_code.code_hash', 'dag_version.code_hash')
    .select([
      'dag_version.id',
      'dag_version.dag_id',
      'dag_version.version_number',
      'dag_version.spec_hash',
      'dag_version.code_hash',
      'dag_code.fileloc',
    ]);
}

/** A stored bundle by its hash. */
export async function getDagCode(db: Kysely<Database>, code_hash: string): Promise<DagCodeRow | undefined> {
  return db.selectFrom('dag_code').selectAll().where('code_hash', '=', code_hash).executeTakeFirst();
}

export async function getDagVersionWithCode(db: Kysely<Database>, id: number): Promise<DagVersionWithCode | undefined> {
  return versionWithCode(db).where('dag_version.id', '=', id).executeTakeFirst();
}

/**
 * The newest version of a DAG with this spec hash (for requests that name only the hash: callbacks
 * of runs started before versions carried their code).
 */
export async function findDagVersionWithCode(
  db: Kysely<Database>,
  dag_id: string,
  spec_hash: string,
): Promise<DagVersionWithCode | undefined> {
  return versionWithCode(db)
    .where('dag_version.dag_id', '=', dag_id)
    .where('dag_version.spec_hash', '=', spec_hash)
    .orderBy('dag_version.version_number', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** One version of a DAG by its number (`dags show --version N`). */
export async function getDagVersionByNumber(
  db: Kysely<Database>,
  dag_id: string,
  version_number: number,
): Promise<DagVersionRow | undefined> {
  return db
    .selectFrom('dag_version')
    .selectAll()
    .where('dag_id', '=', dag_id)
    .where('version_number', '=', version_number)
    .executeTakeFirst();
}

export interface ListDagsOptions {
  /** Only active (true) or only inactive (false) DAGs; default all. */
  is_active?: boolean;
  is_paused?: boolean;
}

/** DAGs ordered by dag_id, each with its latest version's number (null before its first parse). */
export async function listDagsWithVersion(
  db: Kysely<Database>,
  opts: ListDagsOptions = {},
): Promise<Array<DagRow & { version_number: number | null }>> {
  let query = db
    .selectFrom('dag')
    .leftJoin('dag_version', 'dag_version.id', 'dag.latest_version_id')
    .selectAll('dag')
    .select('dag_version.version_number')
    .orderBy('dag.dag_id');
  if (opts.is_active !== undefined) query = query.where('dag.is_active', '=', opts.is_active);
  if (opts.is_paused !== undefined) query = query.where('dag.is_paused', '=', opts.is_paused);
  return query.execute();
}

/** DAGs ordered by dag_id. */
export async function listDags(db: Kysely<Database>, opts: ListDagsOptions = {}): Promise<DagRow[]> {
  let query = db.selectFrom('dag').selectAll().orderBy('dag_id');
  if (opts.is_active !== undefined) query = query.where('is_active', '=', opts.is_active);
  if (opts.is_paused !== undefined) query = query.where('is_paused', '=', opts.is_paused);
  return query.execute();
}

export async function getDag(db: Kysely<Database>, dag_id: string): Promise<DagRow | undefined> {
  return db.selectFrom('dag').selectAll().where('dag_id', '=', dag_id).executeTakeFirst();
}

export async function getDagVersion(db: Kysely<Database>, id: number): Promise<DagVersionRow | undefined> {
  return db.selectFrom('dag_version').selectAll().where('id', '=', id).executeTakeFirst();
}

/** The version the DAG's last parse produced (dag.latest_version_id). */
export async function getLatestDagVersion(db: Kysely<Database>, dag_id: string): Promise<DagVersionRow | undefined> {
  return db
    .selectFrom('dag')
    .innerJoin('dag_version', 'dag_version.id', 'dag.latest_version_id')
    .selectAll('dag_version')
    .where('dag.dag_id', '=', dag_id)
    .executeTakeFirst();
}

/** Versions of a DAG, oldest first. */
export async function listDagVersions(db: Kysely<Database>, dag_id: string): Promise<DagVersionRow[]> {
  return db.selectFrom('dag_version').selectAll().where('dag_id', '=', dag_id).orderBy('version_number').execute();
}

/**
 * Marks every DAG not in `dag_ids` inactive (its file is gone or no longer defines it). An empty
 * list deactivates all. Returns how many DAGs changed.
 */
export async function markDagsInactiveExcept(db: Kysely<Database>, dag_ids: readonly string[]): Promise<number> {
  let query = db.updateTable('dag').set({ is_active: false }).where('is_active', '=', true);
  if (dag_ids.length > 0) query = query.where('dag_id', 'not in', [...dag_ids]);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Pauses or unpauses a DAG; throws DagNotFoundError for an unknown dag_id. */
export async function setDagPaused(db: Kysely<Database>, dag_id: string, is_paused: boolean): Promise<DagRow> {
  const row = await db
    .updateTable('dag')
    .set({ is_paused })
    .where('dag_id', '=', dag_id)
    .returningAll()
    .executeTakeFirst();
  if (row === undefined) throw new DagNotFoundError(dag_id);
  return row;
}
