import { sql, type Kysely, type Transaction } from 'kysely';
import {
  MODEL_VERSION_STATUSES,
  type ArtifactRow,
  type Database,
  type JsonValue,
  type ModelEvaluationRow,
  type ModelPromotionRow,
  type ModelVersionRow,
  type ModelVersionStatus,
  type PromotionAction,
  type RegisteredModelRow,
} from './database.js';
import { toJsonb } from './json.js';
import { getExecution, upstreamOfArtifacts, type ExecutionKey, type LineageGraph } from './lineage.repository.js';
import {
  AliasNotFoundError,
  ArtifactNotFoundError,
  InvalidRecordFieldError,
  ModelNotFoundError,
  ModelVersionNotFoundError,
  NothingToRollBackError,
  VersionOfAnotherModelError,
} from './ml-errors.js';
import { inTransaction } from './transaction.js';
import {
  parseMetricValues,
  parseThresholds,
  validateEvaluationResults,
  type MetricValues,
  type ValidationResult,
} from '../engine/promotion.js';
import { DEFAULT_ALIAS, aliasNameProblem, modelNameProblem } from '../engine/model-gate.js';

/**
 * The model registry (MLflow's shape): registered models, integer versions, aliases moved by
 * compare-and-swap, evaluations, and the append-only promotion log. Every write is one
 * transaction; input is checked before it opens.
 */

export { MODEL_NAME, ALIAS_NAME, DEFAULT_ALIAS } from '../engine/model-gate.js';

/** A version named by model and number, as `{"$model_version": {...}}` refs carry it. */
export interface ModelVersionRef {
  readonly model: string;
  readonly version: number;
}

export function checkModelName(name: string, field = 'model'): string {
  const problem = modelNameProblem(name);
  if (problem !== undefined) throw new InvalidRecordFieldError(field, problem);
  return name;
}

export function checkAliasName(alias: string, field = 'alias'): string {
  const problem = aliasNameProblem(alias);
  if (problem !== undefined) throw new InvalidRecordFieldError(field, problem);
  return alias;
}

function checkActor(actor: string): void {
  if (typeof actor !== 'string' || actor.trim() === '')
    throw new InvalidRecordFieldError('actor', 'expected who acts (a user name or a run id)');
}

async function requireModel(db: Kysely<Database>, name: string, forUpdate = false): Promise<RegisteredModelRow> {
  let q = db.selectFrom('registered_model').selectAll().where('name', '=', name);
  if (forUpdate) q = q.forUpdate();
  const row = await q.executeTakeFirst();
  if (row === undefined) throw new ModelNotFoundError(name);
  return row;
}

async function latestVersionNumber(db: Kysely<Database>, modelId: number): Promise<number | null> {
  const row = await db
    .selectFrom('model_version')
    .select((eb) => eb.fn.max('version').as('v'))
    .where('model_id', '=', modelId)
    .executeTakeFirst();
  return row?.v ?? null;
}

/** The version row of `model` named by a number or a ref; a ref naming another model is refused. */
async function resolveVersion(
  db: Kysely<Database>,
  model: RegisteredModelRow,
  ref: number | ModelVersionRef,
  field: string,
): Promise<ModelVersionRow> {
  const number = typeof ref === 'number' ? ref : ref.version;
  if (typeof ref === 'object' && ref !== null && ref.model !== model.name) {
    throw new VersionOfAnotherModelError(field, model.name, `${ref.model}@${ref.version}`, ref.model);
  }
  if (!Number.isInteger(number) || number < 1)
    throw new InvalidRecordFieldError(field, `expected a version number >= 1, got ${JSON.stringify(number)}`);
  const row = await db
    .selectFrom('model_version')
    .selectAll()
    .where('model_id', '=', model.id)
    .where('version', '=', number)
    .executeTakeFirst();
  if (row === undefined)
    throw new ModelVersionNotFoundError(model.name, number, await latestVersionNumber(db, model.id));
  return row;
}

export interface CreateModelInput {
  readonly name: string;
  readonly description?: string | null;
}

/** Creates a registered model, or returns the existing one of that name. */
export async function ensureRegisteredModel(
  db: Kysely<Database>,
  input: CreateModelInput,
): Promise<RegisteredModelRow> {
  checkModelName(input.name, 'name');
  await db
    .insertInto('registered_model')
    .values({ name: input.name, description: input.description ?? null })
    .onConflict((oc) => oc.column('name').doNothing())
    .execute();
  return requireModel(db, input.name);
}

export async function getRegisteredModel(db: Kysely<Database>, name: string): Promise<RegisteredModelRow | undefined> {
  return db.selectFrom('registered_model').selectAll().where('name', '=', name).executeTakeFirst();
}

export interface RegisteredModelSummary extends RegisteredModelRow {
  readonly latest_version: number | null;
  /** alias -> version number. */
  readonly aliases: Record<string, number>;
}

/** Every registered model with its latest version number and its aliases, by name. */
export async function listRegisteredModels(db: Kysely<Database>): Promise<RegisteredModelSummary[]> {
  const models = await db.selectFrom('registered_model').selectAll().orderBy('name').execute();
  const latest = await db
    .selectFrom('model_version')
    .select(['model_id', (eb) => eb.fn.max('version').as('v')])
    .groupBy('model_id')
    .execute();
  const aliases = await db
    .selectFrom('model_alias as a')
    .innerJoin('model_version as v', 'v.id', 'a.version_id')
    .select(['a.model_id', 'a.alias', 'v.version'])
    .orderBy('a.alias')
    .execute();
  return models.map((m) => ({
    ...m,
    latest_version: latest.find((l) => l.model_id === m.id)?.v ?? null,
    aliases: Object.fromEntries(aliases.filter((a) => a.model_id === m.id).map((a) => [a.alias, a.version])),
  }));
}

export interface ModelVersionWithAliases extends ModelVersionRow {
  readonly model_name: string;
  /** The aliases pointing at this version (MLflow's search_model_versions omits them). */
  readonly aliases: string[];
}

/** A model's versions, newest first, each with its aliases. */
export async function listModelVersions(db: Kysely<Database>, model: string): Promise<ModelVersionWithAliases[]> {
  const m = await requireModel(db, model);
  const versions = await db
    .selectFrom('model_version')
    .selectAll()
    .where('model_id', '=', m.id)
    .orderBy('version', 'desc')
    .execute();
  const aliases = await db
    .selectFrom('model_alias')
    .select(['alias', 'version_id'])
    .where('model_id', '=', m.id)
    .orderBy('alias')
    .execute();
  return versions.map((v) => ({
    ...v,
    model_name: m.name,
    aliases: aliases.filter((a) => a.version_id === v.id).map((a) => a.alias),
  }));
}

export async function getModelVersion(
  db: Kysely<Database>,
  model: string,
  version: number,
): Promise<ModelVersionWithAliases> {
  const m = await requireModel(db, model);
  const v = await resolveVersion(db, m, version, 'version');
  const aliases = await db
    .selectFrom('model_alias')
    .select('alias')
    .where('version_id', '=', v.id)
    .orderBy('alias')
    .execute();
  return { ...v, model_name: m.name, aliases: aliases.map((a) => a.alias) };
}

/** The version an alias points at, or undefined when the alias is not set. */
export async function resolveAlias(
  db: Kysely<Database>,
  model: string,
  alias: string,
): Promise<ModelVersionRow | undefined> {
  const m = await requireModel(db, model);
  return db
    .selectFrom('model_alias as a')
    .innerJoin('model_version as v', 'v.id', 'a.version_id')
    .selectAll('v')
    .where('a.model_id', '=', m.id)
    .where('a.alias', '=', alias)
    .executeTakeFirst();
}

/**
 * `models:/<model>@<alias>` with the version's artifact row, or undefined while there is nothing
 * behind it: the alias is unset, or the model is not registered yet (a pipeline's first run has no
 * champion; that is not an error here). Names are checked.
 */
export async function lookupAlias(
  db: Kysely<Database>,
  model: string,
  alias: string,
): Promise<{ version: ModelVersionRow; artifact: ArtifactRow } | undefined> {
  checkModelName(model);
  checkAliasName(alias);
  const version = await db
    .selectFrom('model_alias as a')
    .innerJoin('registered_model as m', 'm.id', 'a.model_id')
    .innerJoin('model_version as v', 'v.id', 'a.version_id')
    .selectAll('v')
    .where('m.name', '=', model)
    .where('a.alias', '=', alias)
    .executeTakeFirst();
  if (version === undefined) return undefined;
  const artifact = await db
    .selectFrom('artifact')
    .selectAll()
    .where('id', '=', version.artifact_id)
    .executeTakeFirstOrThrow();
  return { version, artifact };
}

export interface RegisterVersionInput {
  readonly model: string;
  /** The recorded artifact holding the model's bytes. */
  readonly artifactId: number;
  /** Create the registered model when missing (default true, as a training run's first version does). */
  readonly createModel?: boolean;
  readonly format?: string | null;
  readonly signature?: JsonValue | null;
  readonly metrics?: MetricValues;
  /** The try that produced it; linked to its execution row when one is recorded. */
  readonly source?: ExecutionKey | null;
  readonly trainingDataArtifactIds?: readonly number[];
  readonly description?: string | null;
  readonly createdBy?: string | null;
}

/**
 * Registers a new version of a model: version = max + 1, under a row lock on the registered model
 * (the unique (model_id, version) key backs it), so concurrent registrations get 1, 2, 3, ...
 */
export async function registerModelVersion(
  db: Kysely<Database>,
  input: RegisterVersionInput,
): Promise<ModelVersionRow> {
  checkModelName(input.model);
  if (!Number.isSafeInteger(input.artifactId))
    throw new InvalidRecordFieldError('artifactId', 'expected an artifact id');
  if (input.metrics !== undefined) parseMetricValues(input.metrics, 'metrics');
  const training = input.trainingDataArtifactIds ?? [];
  training.forEach((id, i) => {
    if (!Number.isSafeInteger(id))
      throw new InvalidRecordFieldError(`trainingDataArtifactIds[${i}]`, 'expected an artifact id');
  });
  return inTransaction(db, async (trx) => {
    const artifact = await trx.selectFrom('artifact').selectAll().where('id', '=', input.artifactId).executeTakeFirst();
    if (artifact === undefined) throw new ArtifactNotFoundError('artifactId', `with id ${input.artifactId}`);
    const found = await trx
      .selectFrom('artifact')
      .select('id')
      .where('id', 'in', training.length === 0 ? [-1] : [...training])
      .execute();
    training.forEach((id, i) => {
      if (!found.some((f) => f.id === id))
        throw new ArtifactNotFoundError(`trainingDataArtifactIds[${i}]`, `with id ${id}`);
    });
    if (input.createModel !== false) {
      await trx
        .insertInto('registered_model')
        .values({ name: input.model })
        .onConflict((oc) => oc.column('name').doNothing())
        .execute();
    }
    const model = await requireModel(trx, input.model, true);
    const version = ((await latestVersionNumber(trx, model.id)) ?? 0) + 1;
    const execution = input.source ? await getExecution(trx, input.source) : undefined;
    return trx
      .insertInto('model_version')
      .values({
        model_id: model.id,
        version,
        artifact_id: artifact.id,
        sha256: artifact.sha256,
        uri: artifact.uri,
        format: input.format ?? artifact.format,
        signature:
          input.signature === undefined || input.signature === null ? null : toJsonb(input.signature, 'signature'),
        metrics: toJsonb(input.metrics ?? {}, 'metrics'),
        source_execution_id: execution?.id ?? null,
        source_dag_id: input.source?.dag_id ?? null,
        source_run_id: input.source?.run_id ?? null,
        source_task_id: input.source?.task_id ?? null,
        source_map_index: input.source?.map_index ?? null,
        source_try_number: input.source?.try_number ?? null,
        training_data_artifact_ids: toJsonb(training, 'trainingDataArtifactIds'),
        description: input.description ?? null,
        created_by: input.createdBy ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

/** Sets a version's status (registered, validated, rejected, archived). */
export async function setModelVersionStatus(
  db: Kysely<Database>,
  model: string,
  version: number,
  status: ModelVersionStatus,
): Promise<ModelVersionRow> {
  if (!(MODEL_VERSION_STATUSES as readonly string[]).includes(status)) {
    throw new InvalidRecordFieldError(
      'status',
      `expected one of ${MODEL_VERSION_STATUSES.join(', ')}, got ${JSON.stringify(status)}`,
    );
  }
  return inTransaction(db, async (trx) => {
    const m = await requireModel(trx, model);
    const v = await resolveVersion(trx, m, version, 'version');
    return trx
      .updateTable('model_version')
      .set({ status })
      .where('id', '=', v.id)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
}

export interface RecordEvaluationInput {
  readonly model: string;
  readonly candidate: number | ModelVersionRef;
  /** The champion compared against; null when the model has none (thresholds alone decide). */
  readonly baseline: number | ModelVersionRef | null;
  readonly candidateMetrics: MetricValues;
  /** The champion's metrics on the same evaluation data; required with a baseline. */
  readonly baselineMetrics: MetricValues | null;
  /** `{metric: {threshold?, minAbsoluteChange?, minRelativeChange?, greaterIsBetter}}`. */
  readonly thresholds: unknown;
  readonly datasetArtifactId?: number | null;
  readonly dag_id?: string | null;
  readonly run_id?: string | null;
  readonly task_id?: string | null;
}

export interface RecordedEvaluation {
  readonly evaluation: ModelEvaluationRow;
  readonly result: ValidationResult;
}

/**
 * Decides an evaluation with MLflow's rules (engine/promotion.ts) and stores both metric sets, the
 * thresholds, the decision and each failure. A threshold on a metric the candidate lacks is an
 * error naming it, and nothing is stored.
 */
export async function recordEvaluation(
  db: Kysely<Database>,
  input: RecordEvaluationInput,
): Promise<RecordedEvaluation> {
  checkModelName(input.model);
  const thresholds = parseThresholds(input.thresholds);
  if (input.baseline !== null && input.baselineMetrics === null) {
    throw new InvalidRecordFieldError(
      'baselineMetrics',
      'a baseline version needs its metrics on the same evaluation data',
    );
  }
  if (input.baseline === null && input.baselineMetrics !== null) {
    throw new InvalidRecordFieldError(
      'baseline',
      'baselineMetrics were given without the baseline version they belong to',
    );
  }
  // Throws EvaluationInputError / MissingCandidateMetricError (naming the field) before anything is written.
  const result = validateEvaluationResults(input.candidateMetrics, input.baselineMetrics, thresholds);
  return inTransaction(db, async (trx) => {
    const model = await requireModel(trx, input.model);
    const candidate = await resolveVersion(trx, model, input.candidate, 'candidate');
    const baseline = input.baseline === null ? null : await resolveVersion(trx, model, input.baseline, 'baseline');
    if (input.datasetArtifactId !== undefined && input.datasetArtifactId !== null) {
      const a = await trx
        .selectFrom('artifact')
        .select('id')
        .where('id', '=', input.datasetArtifactId)
        .executeTakeFirst();
      if (a === undefined) throw new ArtifactNotFoundError('datasetArtifactId', `with id ${input.datasetArtifactId}`);
    }
    const evaluation = await trx
      .insertInto('model_evaluation')
      .values({
        model_id: model.id,
        candidate_version_id: candidate.id,
        baseline_version_id: baseline?.id ?? null,
        dataset_artifact_id: input.datasetArtifactId ?? null,
        candidate_metrics: toJsonb(input.candidateMetrics, 'candidateMetrics'),
        baseline_metrics: input.baselineMetrics === null ? null : toJsonb(input.baselineMetrics, 'baselineMetrics'),
        thresholds: toJsonb(thresholds, 'thresholds'),
        decision: result.decision,
        failures: toJsonb(result.failures, 'failures'),
        dag_id: input.dag_id ?? null,
        run_id: input.run_id ?? null,
        task_id: input.task_id ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { evaluation, result };
  });
}

export async function getEvaluation(db: Kysely<Database>, id: number): Promise<ModelEvaluationRow | undefined> {
  return db.selectFrom('model_evaluation').selectAll().where('id', '=', id).executeTakeFirst();
}

export interface SetAliasInput {
  readonly model: string;
  readonly alias: string;
  readonly version: number | ModelVersionRef;
  /**
   * The version the caller saw the alias at: null = not set. Undefined: whatever it is now (read in
   * the same transaction), for a manual `set`/`promote` that has no prior read.
   */
  readonly expectedVersion?: number | null;
  /** Default 'promote'. */
  readonly action?: Exclude<PromotionAction, 'lost'>;
  /** The evaluation the move rests on; it must have evaluated this version of this model. */
  readonly evaluationId?: number | null;
  readonly actor: string;
  readonly reason?: string | null;
}

export type AliasMoveOutcome = 'moved' | 'unchanged' | 'lost';

export interface AliasMoveResult {
  readonly outcome: AliasMoveOutcome;
  /** The log row written: the move, or the `lost` record; null when unchanged. */
  readonly promotion: ModelPromotionRow | null;
  /** The version the alias points at after the call (the winner's, when lost). */
  readonly current: ModelVersionRow | null;
}

/**
 * Moves an alias by compare-and-swap and logs it, in one transaction:
 *   update model_alias set version_id = $new where model_id = $m and alias = $a and version_id = $expected
 * (or, when expected is null, an insert that the primary key makes fail for a racing second
 * insert). On Postgres a racing transaction blocks on the row lock and then finds the row changed,
 * so exactly one caller moves the alias; every other gets outcome `lost`, recorded as a `lost` row
 * (never both winning). Moving an alias to where it already points writes nothing.
 */
export async function setAlias(db: Kysely<Database>, input: SetAliasInput): Promise<AliasMoveResult> {
  checkModelName(input.model);
  checkAliasName(input.alias);
  checkActor(input.actor);
  const action = input.action ?? 'promote';
  if (!['promote', 'rollback', 'set'].includes(action)) {
    throw new InvalidRecordFieldError('action', `expected promote, rollback or set, got ${JSON.stringify(action)}`);
  }
  return inTransaction(db, async (trx) => {
    const model = await requireModel(trx, input.model);
    const target = await resolveVersion(trx, model, input.version, 'version');
    if (input.evaluationId !== undefined && input.evaluationId !== null) {
      await checkEvaluationFor(trx, model, target, input.evaluationId);
    }
    let expectedId: number | null;
    if (input.expectedVersion === undefined) {
      expectedId = (await currentAliasRow(trx, model.id, input.alias))?.version_id ?? null;
    } else if (input.expectedVersion === null) {
      expectedId = null;
    } else {
      expectedId = (await resolveVersion(trx, model, input.expectedVersion, 'expectedVersion')).id;
    }
    return casAlias(
      trx,
      model,
      input.alias,
      expectedId,
      target,
      action,
      input.evaluationId ?? null,
      input.actor,
      input.reason ?? null,
    );
  });
}

async function currentAliasRow(trx: Kysely<Database>, modelId: number, alias: string, forUpdate = false) {
  let q = trx.selectFrom('model_alias').selectAll().where('model_id', '=', modelId).where('alias', '=', alias);
  if (forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

async function checkEvaluationFor(
  trx: Kysely<Database>,
  model: RegisteredModelRow,
  version: ModelVersionRow,
  evaluationId: number,
): Promise<void> {
  const ev = await trx
    .selectFrom('model_evaluation as e')
    .innerJoin('registered_model as m', 'm.id', 'e.model_id')
    .innerJoin('model_version as v', 'v.id', 'e.candidate_version_id')
    .select(['e.id', 'm.name as model_name', 'v.version', 'e.candidate_version_id'])
    .where('e.id', '=', evaluationId)
    .executeTakeFirst();
  if (ev === undefined) throw new InvalidRecordFieldError('evaluationId', `no evaluation ${evaluationId} is recorded`);
  if (ev.model_name !== model.name) {
    throw new VersionOfAnotherModelError(
      'evaluationId',
      model.name,
      `evaluation ${evaluationId} (of ${ev.model_name}@${ev.version})`,
      ev.model_name,
    );
  }
  if (ev.candidate_version_id !== version.id) {
    throw new InvalidRecordFieldError(
      'evaluationId',
      `evaluation ${evaluationId} evaluated version ${ev.version} of "${model.name}", not version ${version.version}`,
    );
  }
}

async function casAlias(
  trx: Transaction<Database>,
  model: RegisteredModelRow,
  alias: string,
  expectedId: number | null,
  target: ModelVersionRow,
  action: Exclude<PromotionAction, 'lost'>,
  evaluationId: number | null,
  actor: string,
  reason: string | null,
): Promise<AliasMoveResult> {
  let swapped: boolean;
  if (expectedId === null) {
    const inserted = await trx
      .insertInto('model_alias')
      .values({ model_id: model.id, alias, version_id: target.id, updated_by: actor })
      .onConflict((oc) => oc.columns(['model_id', 'alias']).doNothing())
      .returning('version_id')
      .executeTakeFirst();
    swapped = inserted !== undefined;
  } else {
    const updated = await trx
      .updateTable('model_alias')
      .set({ version_id: target.id, updated_at: sql`now()`, updated_by: actor })
      .where('model_id', '=', model.id)
      .where('alias', '=', alias)
      .where('version_id', '=', expectedId)
      .returning('version_id')
      .executeTakeFirst();
    swapped = updated !== undefined;
  }
  if (swapped && expectedId === target.id) return { outcome: 'unchanged', promotion: null, current: target };
  if (swapped) {
    const promotion = await insertPromotion(trx, {
      model_id: model.id,
      alias,
      from_version_id: expectedId,
      to_version_id: target.id,
      action,
      evaluation_id: evaluationId,
      actor,
      reason,
    });
    return { outcome: 'moved', promotion, current: target };
  }
  // Lost: the alias moved since the caller looked. Record who lost to what; the winner's row stands.
  const now = await currentAliasRow(trx, model.id, alias);
  const current =
    now === undefined
      ? null
      : await trx.selectFrom('model_version').selectAll().where('id', '=', now.version_id).executeTakeFirstOrThrow();
  const expectedLabel = expectedId === null ? 'unset' : `version id ${expectedId}`;
  const promotion = await insertPromotion(trx, {
    model_id: model.id,
    alias,
    from_version_id: expectedId,
    to_version_id: target.id,
    action: 'lost',
    evaluation_id: evaluationId,
    actor,
    reason:
      `lost the race to ${action} version ${target.version}: "${alias}" was expected ${expectedLabel} but is ` +
      (current === null ? 'unset' : `at version ${current.version}`) +
      (reason === null ? '' : `; ${reason}`),
  });
  return { outcome: 'lost', promotion, current };
}

async function insertPromotion(
  trx: Kysely<Database>,
  row: Omit<ModelPromotionRow, 'id' | 'created_at'>,
): Promise<ModelPromotionRow> {
  return trx.insertInto('model_promotion').values(row).returningAll().executeTakeFirstOrThrow();
}

export interface RollbackInput {
  readonly model: string;
  /** Default 'champion'. */
  readonly alias?: string;
  /** Roll back to this version; default: the version the alias held before its current one. */
  readonly toVersion?: number;
  readonly actor: string;
  readonly reason?: string | null;
}

/**
 * Rolls an alias back: to `toVersion`, or to the version it held before the current one, read
 * from the promotion log (the `from` of the latest promote/set that moved it to the current
 * version, so successive rollbacks walk back through the history). Holds the alias row lock, so
 * a concurrent move waits for it.
 */
export async function rollbackAlias(db: Kysely<Database>, input: RollbackInput): Promise<AliasMoveResult> {
  checkModelName(input.model);
  const alias = checkAliasName(input.alias ?? DEFAULT_ALIAS);
  checkActor(input.actor);
  return inTransaction(db, async (trx) => {
    const model = await requireModel(trx, input.model);
    const row = await currentAliasRow(trx, model.id, alias, true);
    if (row === undefined) {
      if (input.toVersion === undefined) throw new NothingToRollBackError(model.name, alias, 'the alias is not set');
      throw new AliasNotFoundError(model.name, alias);
    }
    let target: ModelVersionRow;
    if (input.toVersion !== undefined) {
      target = await resolveVersion(trx, model, input.toVersion, 'toVersion');
    } else {
      const previous = await trx
        .selectFrom('model_promotion')
        .select('from_version_id')
        .where('model_id', '=', model.id)
        .where('alias', '=', alias)
        .where('action', 'in', ['promote', 'set'])
        .where('to_version_id', '=', row.version_id)
        .orderBy('id', 'desc')
        .limit(1)
        .executeTakeFirst();
      if (previous === undefined || previous.from_version_id === null) {
        throw new NothingToRollBackError(model.name, alias, 'the promotion log has no earlier version for it');
      }
      target = await trx
        .selectFrom('model_version')
        .selectAll()
        .where('id', '=', previous.from_version_id)
        .executeTakeFirstOrThrow();
    }
    return casAlias(trx, model, alias, row.version_id, target, 'rollback', null, input.actor, input.reason ?? null);
  });
}

export interface PromotionHistoryRow extends ModelPromotionRow {
  readonly from_version: number | null;
  readonly to_version: number | null;
}

/** The promotion log of a model (optionally one alias), oldest first. */
export async function promotionHistory(
  db: Kysely<Database>,
  model: string,
  alias?: string,
): Promise<PromotionHistoryRow[]> {
  const m = await requireModel(db, model);
  let q = db
    .selectFrom('model_promotion as p')
    .leftJoin('model_version as f', 'f.id', 'p.from_version_id')
    .leftJoin('model_version as t', 't.id', 'p.to_version_id')
    .selectAll('p')
    .select(['f.version as from_version', 't.version as to_version'])
    .where('p.model_id', '=', m.id)
    .orderBy('p.id');
  if (alias !== undefined) q = q.where('p.alias', '=', alias);
  return q.execute();
}

export interface ModelVersionLineage extends LineageGraph {
  readonly modelVersion: ModelVersionWithAliases;
  /** The distinct DAG runs whose tries are upstream. */
  readonly runs: Array<{ dag_id: string; run_id: string }>;
  /** Data sets upstream (type 'dataset') and those recorded as its training data. */
  readonly trainingData: ArtifactRow[];
}

/**
 * Everything upstream of a model version: the artifacts (data) it was built from, transitively
 * through the producing tries' inputs; those tries (their params, code version = dag_version_id
 * and code_version); and the DAG runs they belong to.
 */
export async function upstreamOfModelVersion(
  db: Kysely<Database>,
  model: string,
  version: number,
): Promise<ModelVersionLineage> {
  const mv = await getModelVersion(db, model, version);
  const graph = await upstreamOfArtifacts(
    db,
    [mv.artifact_id],
    mv.source_execution_id === null ? [] : [mv.source_execution_id],
  );
  const runs = new Map<string, { dag_id: string; run_id: string }>();
  for (const x of graph.executions) runs.set(`${x.dag_id}\u0000${x.run_id}`, { dag_id: x.dag_id, run_id: x.run_id });
  const trainingIds = new Set(mv.training_data_artifact_ids);
  const extra = [...trainingIds].filter((id) => !graph.artifacts.some((a) => a.id === id));
  const extraRows =
    extra.length === 0 ? [] : await db.selectFrom('artifact').selectAll().where('id', 'in', extra).execute();
  const trainingData = [
    ...graph.artifacts.filter((a) => a.type === 'dataset' || trainingIds.has(a.id)),
    ...extraRows,
  ].sort((a, b) => a.id - b.id);
  return { ...graph, modelVersion: mv, runs: [...runs.values()], trainingData };
}
