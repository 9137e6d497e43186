/**
 * The model gate's unit of work (ML-DESIGN §5), in ONE transaction: resolve the candidate version
 * (registering a model artifact as a new version when needed), find the champion and its metrics,
 * decide with MLflow's rules, write the evaluation, and move the alias by compare-and-swap (pass)
 * or set the challenger alias (fail). Any error rolls everything back: nothing half-written.
 */
import type { Kysely } from 'kysely';
import type { ArtifactRow, Database, ModelEvaluationRow, ModelPromotionRow, ModelVersionRow } from './database.js';
import { checkArtifactInput, recordArtifact, type ArtifactInput } from './artifact.repository.js';
import type { ExecutionKey } from './lineage.repository.js';
import { InvalidRecordFieldError, VersionOfAnotherModelError } from './ml-errors.js';
import {
  checkAliasName,
  checkModelName,
  recordEvaluation,
  registerModelVersion,
  resolveAlias,
  setAlias,
  type AliasMoveResult,
} from './model-registry.repository.js';
import { inTransaction } from './transaction.js';
import type { GateOutcome } from '../engine/model-gate.js';
import {
  parseMetricValues,
  validateEvaluationResults,
  type MetricThresholds,
  type MetricValues,
  type ValidationResult,
} from '../engine/promotion.js';

/** The candidate: a registered version, or a model artifact to register (or find registered) from this run. */
export type GateCandidate =
  | { readonly version: { readonly model: string; readonly version: number; readonly sha256?: string } }
  | { readonly artifact: ArtifactInput };

export interface ModelGateInput {
  readonly model: string;
  readonly candidate: GateCandidate;
  /** The candidate's metrics on the evaluation data; null: the version's recorded metrics. */
  readonly candidateMetrics: MetricValues | null;
  /** The champion's metrics on the same data, pinned to the version they are of; null: looked up. */
  readonly baseline: { readonly version: number; readonly metrics: MetricValues } | null;
  /**
   * The champion the evaluation scored against, resolved before it ran (null: there was none);
   * undefined: not pinned (the champion is read when the gate runs). Pinned, the promotion expects
   * the alias exactly there, so a champion that moved or appeared since is a lost race, and the
   * baseline must be of this version (none without a champion: the thresholds alone decide).
   */
  readonly expectedChampion?: number | null;
  readonly thresholds: MetricThresholds;
  readonly promoteTo: string;
  readonly otherwiseAlias: string | null;
  /** The gate's task (evaluation row; the run an on-the-fly registration belongs to). */
  readonly dag_id: string;
  readonly run_id: string;
  readonly task_id: string;
  /** The gate's try: the source of a version it registers when no recorded try of the run wrote the artifact. */
  readonly try_number: number;
  readonly actor: string;
}

/** Where the champion's metrics came from. */
export type BaselineMetricsSource = 'input' | 'promotion_evaluation' | 'latest_evaluation' | 'version';

export interface ModelGateRecord {
  readonly outcome: GateOutcome;
  readonly decision: 'pass' | 'fail';
  readonly result: ValidationResult;
  readonly candidate: ModelVersionRow;
  readonly artifact: ArtifactRow;
  /** True when the gate registered the candidate (an artifact not registered from this run yet). */
  readonly registered: boolean;
  readonly candidateMetrics: MetricValues;
  readonly baselineVersion: number | null;
  readonly baselineMetrics: MetricValues | null;
  readonly baselineMetricsFrom: BaselineMetricsSource | null;
  /** Null when the alias already pointed at the candidate (nothing to evaluate). */
  readonly evaluation: ModelEvaluationRow | null;
  /** The promote / lost / set row written, if any. */
  readonly promotion: ModelPromotionRow | null;
  /** The version `promoteTo` points at afterwards. */
  readonly champion: number | null;
}

/** Runs the gate. Input errors (names, metrics, a threshold on a missing metric) throw before or inside the transaction; nothing stays written. */
export async function runModelGate(db: Kysely<Database>, input: ModelGateInput): Promise<ModelGateRecord> {
  checkModelName(input.model);
  checkAliasName(input.promoteTo, 'promoteTo');
  if (input.otherwiseAlias !== null) checkAliasName(input.otherwiseAlias, 'otherwiseAlias');
  if (input.candidateMetrics !== null) parseMetricValues(input.candidateMetrics, 'metrics');
  if (input.baseline !== null) parseMetricValues(input.baseline.metrics, 'baseline.metrics');
  if ('artifact' in input.candidate) checkArtifactInput(input.candidate.artifact, 'candidate');
  checkPinnedChampion(input);
  return inTransaction(db, async (trx) => {
    const { version: candidate, artifact, registered } = await resolveCandidate(trx, input);
    const candidateMetrics = input.candidateMetrics ?? candidate.metrics;
    const base = { candidate, artifact, registered, candidateMetrics };
    // A threshold on a metric the candidate lacks is an error naming it (rolls back a registration too).
    validateEvaluationResults(candidateMetrics, null, input.thresholds);
    const champion = await resolveAlias(trx, input.model, input.promoteTo);
    if (champion?.id === candidate.id) {
      return {
        ...base,
        outcome: 'unchanged',
        decision: 'pass',
        result: { decision: 'pass', failures: [] },
        baselineVersion: null,
        baselineMetrics: null,
        baselineMetricsFrom: null,
        evaluation: null,
        promotion: null,
        champion: candidate.version,
      };
    }
    const baseline = await baselineOf(trx, input, champion);
    const { evaluation, result } = await recordEvaluation(trx, {
      model: input.model,
      candidate: candidate.version,
      baseline: baseline?.version ?? null,
      candidateMetrics,
      baselineMetrics: baseline?.metrics ?? null,
      thresholds: input.thresholds,
      dag_id: input.dag_id,
      run_id: input.run_id,
      task_id: input.task_id,
    });
    const common = {
      ...base,
      decision: result.decision,
      result,
      evaluation,
      baselineVersion: baseline?.version ?? null,
      baselineMetrics: baseline?.metrics ?? null,
      baselineMetricsFrom: baseline?.from ?? null,
    };
    if (result.decision === 'pass') {
      const move = await setAlias(trx, {
        model: input.model,
        alias: input.promoteTo,
        version: candidate.version,
        expectedVersion: baseline?.version ?? null,
        action: 'promote',
        evaluationId: evaluation.id,
        actor: input.actor,
        reason:
          baseline === null
            ? `passed the thresholds (no ${input.promoteTo} yet)`
            : `passed against version ${baseline.version}`,
      });
      await setStatus(trx, candidate.id, 'validated');
      const outcome: GateOutcome =
        move.outcome === 'moved' ? 'promoted' : move.outcome === 'unchanged' ? 'unchanged' : 'lost';
      return { ...common, outcome, promotion: move.promotion, champion: move.current?.version ?? null };
    }
    let move: AliasMoveResult | null = null;
    if (input.otherwiseAlias !== null) {
      move = await setAlias(trx, {
        model: input.model,
        alias: input.otherwiseAlias,
        version: candidate.version,
        action: 'set',
        evaluationId: evaluation.id,
        actor: input.actor,
        reason: `failed ${result.failures.length} rule(s): ${result.failures.map((f) => `${f.metric} ${f.rule}`).join(', ')}`,
      });
    }
    await setStatus(trx, candidate.id, 'rejected');
    return { ...common, outcome: 'rejected', promotion: move?.promotion ?? null, champion: champion?.version ?? null };
  });
}

/** A pinned champion and the baseline must name the same version (the evaluation scored that one). */
function checkPinnedChampion(input: ModelGateInput): void {
  const pinned = input.expectedChampion;
  if (pinned === undefined) return;
  if (pinned !== null && (!Number.isInteger(pinned) || pinned < 1))
    throw new InvalidRecordFieldError('champion', `expected a version number >= 1 or null, got ${String(pinned)}`);
  const scored = input.baseline?.version ?? null;
  if (pinned === scored) return;
  if (scored === null) {
    throw new InvalidRecordFieldError(
      'baseline',
      `the champion was version ${pinned} when the evaluation ran, but the evaluation returned no baseline: ` +
        `score the champion on the same rows and return {version: ${pinned}, metrics} (evaluate.py takes it as input.champion)`,
    );
  }
  throw new InvalidRecordFieldError(
    'baseline.version',
    pinned === null
      ? `the baseline is version ${scored}, but there was no champion when the evaluation ran`
      : `the baseline is version ${scored}, but the champion the evaluation was given is version ${pinned}`,
  );
}

async function setStatus(trx: Kysely<Database>, versionId: number, status: 'validated' | 'rejected'): Promise<void> {
  await trx.updateTable('model_version').set({ status }).where('id', '=', versionId).execute();
}

/**
 * The candidate's version row. A `$model_version` ref must name this model and (when it carries a
 * hash) the bytes recorded for it. A model artifact is the version registered from the same bytes
 * in this DAG run (a training step registered it, or an earlier attempt of this gate did), else a
 * new version: source = the try of this run that wrote it (lineage), training data = that try's
 * data sets; without a recorded writer, the source is the gate's own try (the run it came from).
 */
async function resolveCandidate(
  trx: Kysely<Database>,
  input: ModelGateInput,
): Promise<{ version: ModelVersionRow; artifact: ArtifactRow; registered: boolean }> {
  const c = input.candidate;
  if ('version' in c) {
    const ref = c.version;
    if (ref.model !== input.model) {
      throw new VersionOfAnotherModelError('candidate', input.model, `${ref.model}@${ref.version}`, ref.model);
    }
    const version = await versionOf(trx, input.model, ref.version, 'candidate');
    if (ref.sha256 !== undefined && ref.sha256 !== version.sha256) {
      throw new InvalidRecordFieldError(
        'candidate',
        `${ref.model}@${ref.version} is recorded with sha256 ${version.sha256}, the ref says ${ref.sha256}`,
      );
    }
    const artifact = await trx
      .selectFrom('artifact')
      .selectAll()
      .where('id', '=', version.artifact_id)
      .executeTakeFirstOrThrow();
    return { version, artifact, registered: false };
  }
  if (c.artifact.type !== 'model') {
    throw new InvalidRecordFieldError(
      'candidate',
      `the artifact "${c.artifact.name}" is a ${c.artifact.type}, not a model`,
    );
  }
  const artifact = await recordArtifact(trx, c.artifact, 'candidate');
  const existing = await trx
    .selectFrom('model_version as v')
    .innerJoin('registered_model as m', 'm.id', 'v.model_id')
    .selectAll('v')
    .where('m.name', '=', input.model)
    .where('v.sha256', '=', artifact.sha256)
    .where('v.source_dag_id', '=', input.dag_id)
    .where('v.source_run_id', '=', input.run_id)
    .orderBy('v.version', 'desc')
    .executeTakeFirst();
  if (existing !== undefined) return { version: existing, artifact, registered: false };
  const producer = await producingTry(trx, artifact.id, input.dag_id, input.run_id);
  const version = await registerModelVersion(trx, {
    model: input.model,
    artifactId: artifact.id,
    ...(input.candidateMetrics === null ? {} : { metrics: input.candidateMetrics }),
    source: producer?.key ?? {
      dag_id: input.dag_id,
      run_id: input.run_id,
      task_id: input.task_id,
      map_index: -1,
      try_number: input.try_number,
    },
    trainingDataArtifactIds: producer?.datasets ?? [],
    createdBy: input.actor,
  });
  return { version, artifact, registered: true };
}

/** A version of the model, or an error naming `field` (the model may not be registered yet). */
async function versionOf(
  trx: Kysely<Database>,
  model: string,
  version: number,
  field: string,
): Promise<ModelVersionRow> {
  const row = await trx
    .selectFrom('model_version as v')
    .innerJoin('registered_model as m', 'm.id', 'v.model_id')
    .selectAll('v')
    .where('m.name', '=', model)
    .where('v.version', '=', version)
    .executeTakeFirst();
  if (row === undefined) throw new InvalidRecordFieldError(field, `model "${model}" has no version ${version}`);
  return row;
}

/** The try of this run that wrote the artifact, with the data sets it read. */
async function producingTry(
  trx: Kysely<Database>,
  artifactId: number,
  dag_id: string,
  run_id: string,
): Promise<{ key: ExecutionKey; datasets: number[] } | undefined> {
  const x = await trx
    .selectFrom('lineage_event as e')
    .innerJoin('execution as x', 'x.id', 'e.execution_id')
    .selectAll('x')
    .where('e.kind', '=', 'output')
    .where('e.artifact_id', '=', artifactId)
    .where('x.dag_id', '=', dag_id)
    .where('x.run_id', '=', run_id)
    .orderBy('x.id', 'desc')
    .executeTakeFirst();
  if (x === undefined) return undefined;
  const inputs = await trx
    .selectFrom('lineage_event as e')
    .innerJoin('artifact as a', 'a.id', 'e.artifact_id')
    .select('a.id')
    .where('e.execution_id', '=', x.id)
    .where('e.kind', '=', 'input')
    .where('a.type', '=', 'dataset')
    .orderBy('a.id')
    .execute();
  return {
    key: { dag_id: x.dag_id, run_id: x.run_id, task_id: x.task_id, map_index: x.map_index, try_number: x.try_number },
    datasets: inputs.map((i) => i.id),
  };
}

/**
 * The version compared against and its metrics: the pinned baseline from the input, else none
 * when the evaluation ran without a champion (pinned null), else the
 * champion with the metrics of the evaluation that made it champion, else of its latest
 * evaluation as a candidate, else those recorded with the version.
 */
async function baselineOf(
  trx: Kysely<Database>,
  input: ModelGateInput,
  champion: ModelVersionRow | undefined,
): Promise<{ version: number; metrics: MetricValues; from: BaselineMetricsSource } | null> {
  if (input.baseline !== null) {
    await versionOf(trx, input.model, input.baseline.version, 'baseline.version');
    return { version: input.baseline.version, metrics: input.baseline.metrics, from: 'input' };
  }
  // Evaluated with no champion (pinned null): the thresholds alone, whatever holds the alias now.
  if (champion === undefined || input.expectedChampion === null) return null;
  const promoted = await trx
    .selectFrom('model_promotion as p')
    .innerJoin('model_evaluation as e', 'e.id', 'p.evaluation_id')
    .select('e.candidate_metrics')
    .where('p.to_version_id', '=', champion.id)
    .where('p.alias', '=', input.promoteTo)
    .where('p.action', '=', 'promote')
    .orderBy('p.id', 'desc')
    .executeTakeFirst();
  if (promoted !== undefined)
    return { version: champion.version, metrics: promoted.candidate_metrics, from: 'promotion_evaluation' };
  const latest = await trx
    .selectFrom('model_evaluation')
    .select('candidate_metrics')
    .where('candidate_version_id', '=', champion.id)
    .orderBy('id', 'desc')
    .executeTakeFirst();
  if (latest !== undefined)
    return { version: champion.version, metrics: latest.candidate_metrics, from: 'latest_evaluation' };
  return { version: champion.version, metrics: champion.metrics, from: 'version' };
}
