import { sql, type Kysely, type RawBuilder } from 'kysely';
import {
  EXECUTION_STATES,
  type ArtifactRow,
  type Database,
  type ExecutionRow,
  type ExecutionState,
  type LineageEventKind,
  type LineageEventRow,
  type MetricRow,
  type ModelVersionRow,
} from './database.js';
import { checkArtifactInput, recordArtifacts, type ArtifactInput } from './artifact.repository.js';
import { toJsonb } from './json.js';
import { InvalidRecordFieldError } from './ml-errors.js';
import { chunkForParameters, inTransaction } from './transaction.js';

/**
 * Lineage in the MLMD shape: a task try is an execution; it consumed (input events) and produced
 * (output events) artifacts; the DAG run (dag_id, run_id) groups executions. Metrics and params
 * belong to the execution. Upstream/downstream queries are recursive CTEs over lineage_event.
 */

export interface ExecutionKey {
  readonly dag_id: string;
  readonly run_id: string;
  readonly task_id: string;
  /** -1 for an unmapped task (Airflow's convention). */
  readonly map_index: number;
  readonly try_number: number;
}

/** MLflow's metric/param name rule. */
export const RECORD_NAME = /^[A-Za-z0-9_./-]{1,250}$/;
/** MLflow's limit on a param value's length. */
export const MAX_PARAM_VALUE_LENGTH = 6000;

export interface MetricInput {
  readonly name: string;
  readonly value: number;
  /** Integer >= 0; default 0. */
  readonly step?: number;
  readonly timestamp?: Date | string;
}

export type ParamValue = string | number | boolean;

export interface LineageArtifactInput extends ArtifactInput {
  /** Where the step saw or wrote it (a path relative to its output folder, or the input's local path). */
  readonly path?: string | null;
}

export interface ExecutionRecord {
  readonly key: ExecutionKey;
  readonly state: ExecutionState;
  readonly dag_version_id?: number | null;
  readonly code_version?: string | null;
  /** Replaces the recorded params when given. */
  readonly params?: { readonly [name: string]: ParamValue };
  readonly started_at?: Date | string | null;
  readonly ended_at?: Date | string | null;
  readonly inputs?: readonly LineageArtifactInput[];
  readonly outputs?: readonly LineageArtifactInput[];
  /** Replaces the recorded metrics when given. */
  readonly metrics?: readonly MetricInput[];
}

export interface RecordedExecution {
  readonly execution: ExecutionRow;
  /** The artifact rows of `inputs` and `outputs`, in the order given. */
  readonly inputs: ArtifactRow[];
  readonly outputs: ArtifactRow[];
  readonly metricCount: number;
}

export function checkExecutionKey(key: ExecutionKey, field = 'key'): ExecutionKey {
  for (const k of ['dag_id', 'run_id', 'task_id'] as const) {
    if (typeof key[k] !== 'string' || key[k] === '')
      throw new InvalidRecordFieldError(`${field}.${k}`, 'expected a non-empty string');
  }
  if (!Number.isInteger(key.map_index) || key.map_index < -1) {
    throw new InvalidRecordFieldError(
      `${field}.map_index`,
      `expected an integer >= -1, got ${JSON.stringify(key.map_index)}`,
    );
  }
  if (!Number.isInteger(key.try_number) || key.try_number < 1) {
    throw new InvalidRecordFieldError(
      `${field}.try_number`,
      `expected an integer >= 1, got ${JSON.stringify(key.try_number)}`,
    );
  }
  return key;
}

/** Checks metrics (MLflow's rules: name pattern, finite value, integer step >= 0). */
export function checkMetrics(metrics: readonly MetricInput[], field = 'metrics'): void {
  metrics.forEach((m, i) => {
    const f = `${field}[${i}]`;
    if (typeof m !== 'object' || m === null)
      throw new InvalidRecordFieldError(f, 'expected {name, value, step?, timestamp?}');
    if (typeof m.name !== 'string' || !RECORD_NAME.test(m.name)) {
      throw new InvalidRecordFieldError(
        `${f}.name`,
        `expected 1..250 of A-Z a-z 0-9 _ . - /, got ${JSON.stringify(m.name)}`,
      );
    }
    if (typeof m.value !== 'number' || !Number.isFinite(m.value)) {
      throw new InvalidRecordFieldError(
        `${f}.value`,
        `metric "${m.name}" needs a finite number, got ${describe(m.value)}`,
      );
    }
    if (m.step !== undefined && (!Number.isInteger(m.step) || m.step < 0 || m.step > 2147483647)) {
      throw new InvalidRecordFieldError(`${f}.step`, `expected an integer >= 0, got ${JSON.stringify(m.step)}`);
    }
    if (m.timestamp !== undefined && Number.isNaN(new Date(m.timestamp).getTime())) {
      throw new InvalidRecordFieldError(
        `${f}.timestamp`,
        `expected an ISO 8601 time, got ${JSON.stringify(m.timestamp)}`,
      );
    }
  });
}

/** Checks params: a flat object of string, finite number or boolean values (MLflow's params). */
export function checkParams(params: unknown, field = 'params'): void {
  if (typeof params !== 'object' || params === null || Array.isArray(params)) {
    throw new InvalidRecordFieldError(field, 'expected a flat object of name -> string | number | boolean');
  }
  for (const [name, value] of Object.entries(params)) {
    if (!RECORD_NAME.test(name))
      throw new InvalidRecordFieldError(`${field}.${name}`, 'param names are 1..250 of A-Z a-z 0-9 _ . - /');
    const ok =
      typeof value === 'boolean' ||
      (typeof value === 'number' && Number.isFinite(value)) ||
      (typeof value === 'string' && value.length <= MAX_PARAM_VALUE_LENGTH);
    if (!ok) {
      throw new InvalidRecordFieldError(
        `${field}.${name}`,
        typeof value === 'string'
          ? `a param value is at most ${MAX_PARAM_VALUE_LENGTH} characters`
          : `expected a string, a finite number or a boolean, got ${describe(value)}`,
      );
    }
  }
}

function checkRecord(rec: ExecutionRecord): void {
  checkExecutionKey(rec.key);
  if (!(EXECUTION_STATES as readonly string[]).includes(rec.state)) {
    throw new InvalidRecordFieldError(
      'state',
      `expected one of ${EXECUTION_STATES.join(', ')}, got ${JSON.stringify(rec.state)}`,
    );
  }
  if (rec.params !== undefined) checkParams(rec.params);
  if (rec.metrics !== undefined) checkMetrics(rec.metrics);
  rec.inputs?.forEach((a, i) => checkArtifactInput(a, `inputs[${i}]`));
  rec.outputs?.forEach((a, i) => checkArtifactInput(a, `outputs[${i}]`));
}

/** Marks a try as started (an execution in state `running`); idempotent per try. */
export async function startExecution(
  db: Kysely<Database>,
  key: ExecutionKey,
  opts: {
    dag_version_id?: number | null;
    code_version?: string | null;
    params?: { [name: string]: ParamValue };
    started_at?: Date | string;
  } = {},
): Promise<ExecutionRow> {
  const rec: ExecutionRecord = { key, state: 'running', ...opts };
  checkRecord(rec);
  return upsertExecution(db, rec);
}

async function upsertExecution(db: Kysely<Database>, rec: ExecutionRecord): Promise<ExecutionRow> {
  const k = rec.key;
  const params = rec.params === undefined ? undefined : toJsonb(rec.params, 'params');
  return db
    .insertInto('execution')
    .values({
      dag_id: k.dag_id,
      run_id: k.run_id,
      task_id: k.task_id,
      map_index: k.map_index,
      try_number: k.try_number,
      state: rec.state,
      dag_version_id: rec.dag_version_id ?? null,
      code_version: rec.code_version ?? null,
      ...(params === undefined ? {} : { params }),
      started_at: rec.started_at ?? null,
      ended_at: rec.ended_at ?? null,
    })
    .onConflict((oc) =>
      oc.columns(['dag_id', 'run_id', 'task_id', 'map_index', 'try_number']).doUpdateSet((eb) => ({
        state: eb.ref('excluded.state'),
        // Later calls fill in what earlier ones did not know; they never erase it.
        dag_version_id: sql`coalesce(excluded.dag_version_id, execution.dag_version_id)`,
        code_version: sql`coalesce(excluded.code_version, execution.code_version)`,
        started_at: sql`coalesce(execution.started_at, excluded.started_at)`,
        ended_at: sql`coalesce(excluded.ended_at, execution.ended_at)`,
        ...(params === undefined ? {} : { params: eb.ref('excluded.params') }),
      })),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Records a try: its execution row, the artifacts it consumed and produced with their events, its
 * params and metrics, in one transaction. Idempotent per try (an activity retried after a crash
 * records the same rows again): events are kept once, metrics and params are replaced when given.
 */
export async function recordExecution(db: Kysely<Database>, rec: ExecutionRecord): Promise<RecordedExecution> {
  checkRecord(rec);
  return inTransaction(db, async (trx) => {
    const execution = await upsertExecution(trx, rec);
    const inputs = await recordArtifacts(trx, rec.inputs ?? [], 'inputs');
    const outputs = await recordArtifacts(trx, rec.outputs ?? [], 'outputs');
    const events: Array<{ artifact_id: number; execution_id: number; kind: LineageEventKind; path: string | null }> =
      [];
    inputs.forEach((a, i) =>
      events.push({
        artifact_id: a.id,
        execution_id: execution.id,
        kind: 'input',
        path: rec.inputs?.[i]?.path ?? null,
      }),
    );
    outputs.forEach((a, i) =>
      events.push({
        artifact_id: a.id,
        execution_id: execution.id,
        kind: 'output',
        path: rec.outputs?.[i]?.path ?? null,
      }),
    );
    for (const chunk of chunkForParameters(events, 4)) {
      await trx
        .insertInto('lineage_event')
        .values(chunk)
        .onConflict((oc) => oc.columns(['execution_id', 'kind', 'artifact_id']).doNothing())
        .execute();
    }
    let metricCount = 0;
    if (rec.metrics !== undefined) {
      await trx.deleteFrom('metric').where('execution_id', '=', execution.id).execute();
      const rows = rec.metrics.map((m) => ({
        execution_id: execution.id,
        name: m.name,
        value: m.value,
        step: m.step ?? 0,
        ...(m.timestamp === undefined ? {} : { timestamp: m.timestamp }),
      }));
      for (const chunk of chunkForParameters(rows, 5)) await trx.insertInto('metric').values(chunk).execute();
      metricCount = rows.length;
    }
    return { execution, inputs, outputs, metricCount };
  });
}

export async function getExecution(db: Kysely<Database>, key: ExecutionKey): Promise<ExecutionRow | undefined> {
  return db
    .selectFrom('execution')
    .selectAll()
    .where('dag_id', '=', key.dag_id)
    .where('run_id', '=', key.run_id)
    .where('task_id', '=', key.task_id)
    .where('map_index', '=', key.map_index)
    .where('try_number', '=', key.try_number)
    .executeTakeFirst();
}

/** A try's metrics, by name then step. */
export async function listMetrics(db: Kysely<Database>, executionId: number): Promise<MetricRow[]> {
  return db
    .selectFrom('metric')
    .selectAll()
    .where('execution_id', '=', executionId)
    .orderBy('name')
    .orderBy('step')
    .orderBy('id')
    .execute();
}

export interface RunMetricRow extends MetricRow {
  readonly task_id: string;
  readonly map_index: number;
  readonly try_number: number;
}

/** Every metric of a DAG run's tries (`updraft runs metrics`), by task, try, name, step. */
export async function listRunMetrics(db: Kysely<Database>, dag_id: string, run_id: string): Promise<RunMetricRow[]> {
  return db
    .selectFrom('metric as m')
    .innerJoin('execution as x', 'x.id', 'm.execution_id')
    .selectAll('m')
    .select(['x.task_id', 'x.map_index', 'x.try_number'])
    .where('x.dag_id', '=', dag_id)
    .where('x.run_id', '=', run_id)
    .orderBy('x.task_id')
    .orderBy('x.map_index')
    .orderBy('x.try_number')
    .orderBy('m.name')
    .orderBy('m.step')
    .orderBy('m.id')
    .execute();
}

/** A lineage subgraph: its artifacts, executions and the events between them, plus model versions. */
export interface LineageGraph {
  readonly artifacts: ArtifactRow[];
  readonly executions: ExecutionRow[];
  readonly events: LineageEventRow[];
  /** Model versions whose artifact is in the graph. */
  readonly modelVersions: Array<ModelVersionRow & { model_name: string }>;
}

/**
 * A set of ids for `in`, as one parameter: a Postgres array literal sent as text and unnested (a
 * list of parameters would hit the bind-parameter limit). The planner sizes `unnest` of a constant
 * array exactly, so a walk from one model version is planned as index lookups and a walk over the
 * whole registry as hash joins; a JSON array would be guessed at 100 rows either way.
 */
function idSet(ids: readonly number[]): RawBuilder<number> {
  for (const id of ids) if (!Number.isSafeInteger(id)) throw new Error(`lineage: not an id: ${String(id)}`);
  return sql<number>`(select unnest(${`{${ids.join(',')}}`}::bigint[]))`;
}

interface WalkIds {
  artifact_ids: number[] | null;
}

/**
 * Everything upstream of the given artifacts: the executions that produced them, those
 * executions' inputs, their producers, and so on to the roots. `extraExecutionIds` are executions
 * to include with their inputs even without an output event (a model version's source try).
 * UNION (not UNION ALL) in the recursive term makes the walk a visited set: it ends on cycles.
 * The walk yields artifact ids only; the executions are read in a second statement from the exact
 * id set (inside the walk's statement the planner can only guess the CTE's size, and guesses
 * big enough to scan the whole event table).
 */
export async function upstreamOfArtifacts(
  db: Kysely<Database>,
  artifactIds: readonly number[],
  extraExecutionIds: readonly number[] = [],
): Promise<LineageGraph> {
  const walk = await sql<WalkIds>`
    with recursive up(artifact_id) as (
      select id from artifact where id in ${idSet(artifactIds)}
      union
      select artifact_id from lineage_event where kind = 'input' and execution_id in ${idSet(extraExecutionIds)}
      union
      select ein.artifact_id
      from up
      join lineage_event eout on eout.artifact_id = up.artifact_id and eout.kind = 'output'
      join lineage_event ein on ein.execution_id = eout.execution_id and ein.kind = 'input'
    )
    select json_agg(artifact_id order by artifact_id) as artifact_ids from up
  `.execute(db);
  const ids = walk.rows[0]?.artifact_ids ?? [];
  const producers = await db
    .selectFrom('lineage_event')
    .select('execution_id')
    .distinct()
    .where('kind', '=', 'output')
    .where('artifact_id', 'in', idSet(ids))
    .execute();
  const executionIds = [
    ...new Set([...producers.map((p) => p.execution_id), ...(await existingExecutions(db, extraExecutionIds))]),
  ];
  return loadGraph(
    db,
    ids,
    executionIds.sort((a, b) => a - b),
  );
}

async function existingExecutions(db: Kysely<Database>, ids: readonly number[]): Promise<number[]> {
  if (ids.length === 0) return [];
  return (await db.selectFrom('execution').select('id').where('id', 'in', idSet(ids)).execute()).map((r) => r.id);
}

/**
 * Everything downstream of the given artifacts: the executions that consumed them, their outputs,
 * those outputs' consumers, and so on; with the model versions built from any of them.
 */
export async function downstreamOfArtifacts(
  db: Kysely<Database>,
  artifactIds: readonly number[],
): Promise<LineageGraph> {
  const walk = await sql<WalkIds>`
    with recursive down(artifact_id) as (
      select id from artifact where id in ${idSet(artifactIds)}
      union
      select eout.artifact_id
      from down
      join lineage_event ein on ein.artifact_id = down.artifact_id and ein.kind = 'input'
      join lineage_event eout on eout.execution_id = ein.execution_id and eout.kind = 'output'
    )
    select json_agg(artifact_id order by artifact_id) as artifact_ids from down
  `.execute(db);
  const ids = walk.rows[0]?.artifact_ids ?? [];
  const consumers = await db
    .selectFrom('lineage_event')
    .select('execution_id')
    .distinct()
    .where('kind', '=', 'input')
    .where('artifact_id', 'in', idSet(ids))
    .orderBy('execution_id')
    .execute();
  return loadGraph(
    db,
    ids,
    consumers.map((c) => c.execution_id),
  );
}

/** Every execution of a DAG run with the artifacts it consumed and produced. */
export async function lineageOfRun(db: Kysely<Database>, dag_id: string, run_id: string): Promise<LineageGraph> {
  const executions = await db
    .selectFrom('execution')
    .select('id')
    .where('dag_id', '=', dag_id)
    .where('run_id', '=', run_id)
    .execute();
  const executionIds = executions.map((e) => e.id);
  const artifacts = await db
    .selectFrom('lineage_event')
    .select('artifact_id')
    .distinct()
    .where('execution_id', 'in', idSet(executionIds))
    .execute();
  return loadGraph(
    db,
    artifacts.map((a) => a.artifact_id),
    executionIds,
  );
}

async function loadGraph(
  db: Kysely<Database>,
  artifactIds: readonly number[],
  executionIds: readonly number[],
): Promise<LineageGraph> {
  if (artifactIds.length === 0 && executionIds.length === 0)
    return { artifacts: [], executions: [], events: [], modelVersions: [] };
  // Sequential on purpose: inside a caller's transaction the statements share one connection.
  const artifacts = await db
    .selectFrom('artifact')
    .selectAll()
    .where('id', 'in', idSet(artifactIds))
    .orderBy('id')
    .execute();
  const executions = await db
    .selectFrom('execution')
    .selectAll()
    .where('id', 'in', idSet(executionIds))
    .orderBy('id')
    .execute();
  const events = await db
    .selectFrom('lineage_event')
    .selectAll()
    .where('execution_id', 'in', idSet(executionIds))
    .where('artifact_id', 'in', idSet(artifactIds))
    .orderBy('id')
    .execute();
  const modelVersions = await db
    .selectFrom('model_version as v')
    .innerJoin('registered_model as m', 'm.id', 'v.model_id')
    .selectAll('v')
    .select('m.name as model_name')
    .where('v.artifact_id', 'in', idSet(artifactIds))
    .orderBy('v.id')
    .execute();
  return { artifacts, executions, events, modelVersions };
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number') return String(v);
  return typeof v;
}
