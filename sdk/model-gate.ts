/**
 * The champion/challenger gate (ML-DESIGN §5): `d.modelGate({...})` declares a task of kind
 * `model_gate` that runs no user code. It compares the candidate's metrics with the current
 * champion's using MLflow's rules (engine/promotion.ts), records the evaluation, and moves the
 * `promoteTo` alias to the candidate by compare-and-swap when it passes; when it fails the
 * candidate takes `otherwiseAlias` and the downstream tasks (the "promoted" path, e.g. serve) are
 * skipped with the failures as the reason. This module is the authoring side and the compiler's
 * part; activities/model-gate.ts runs it.
 */
import type { TaskOptions } from './options.js';
import type { DeclaredTask, Task } from './task.js';
import { isXComArg, type XComArg } from './xcom-arg.js';
import {
  DEFAULT_ALIAS,
  DEFAULT_CHALLENGER_ALIAS,
  aliasNameProblem,
  modelNameProblem,
  thresholdsToSpec,
  type GateOutcome,
} from '../engine/model-gate.js';
import {
  EvaluationInputError,
  parseMetricValues,
  parseThresholds,
  type ValidationFailure,
} from '../engine/promotion.js';
import type { ControlSpec, Json, ModelGateSpec, TaskSpec } from '../spec/dag-spec.js';

/** One metric's rule (MLflow's MetricThreshold): at least one of the three bounds, and the direction. */
export interface MetricThresholdOptions {
  /** The candidate must reach this value. */
  threshold?: number;
  /** The candidate must beat the champion by at least this much (0: at least as good). */
  minAbsoluteChange?: number;
  /** The candidate must beat the champion by at least this fraction of its value (0..1). */
  minRelativeChange?: number;
  /** true for accuracy-like metrics, false for losses. */
  greaterIsBetter: boolean;
}

/** `{"$model_version": {...}}`: a registered version, as a training step's XCom carries it. */
export interface ModelVersionRefJson {
  $model_version: { model: string; version: number; sha256?: string; uri?: string };
}

/** `{"$artifact": {...}}`: an artifact in the store (registered as a new version by the gate). */
export interface ArtifactRefJson {
  $artifact: {
    sha256: string;
    uri: string;
    name: string;
    type: string;
    format?: string | null;
    size: number;
    path?: string;
  };
}

/** The champion's metrics on the same evaluation data, and which version they are of. */
export interface BaselineMetrics {
  version: number;
  metrics: Record<string, number>;
}

export interface ModelGateOptions extends TaskOptions {
  /** The registered model (created on the first registration). */
  model: string;
  /** The candidate: a `$model_version` ref, or a model `$artifact` ref that the gate registers as a new version. */
  candidate: XComArg<unknown> | ModelVersionRefJson | ArtifactRefJson;
  /**
   * The candidate's metrics on the evaluation data: an evaluation task's output (`{name: value}`),
   * or 'candidate_version' for the metrics recorded with the version. @default 'candidate_version'
   */
  metrics?: XComArg<unknown> | Record<string, number> | 'candidate_version';
  /**
   * The champion's metrics on the same evaluation data, with its version (`{version, metrics}`),
   * when the evaluation task scored the champion too. The gate then compares against that version
   * and promotes only if the alias still points at it (a lost race otherwise). Omitted: the
   * champion's metrics from the evaluation that made it champion (else its version's metrics).
   */
  baseline?: XComArg<unknown> | BaselineMetrics;
  /**
   * The champion the evaluation scored: `d.modelVersion({model, alias: promoteTo})`'s output (null
   * when there was none). The gate then promotes only if the alias still points at that version
   * (is still unset, for null): a champion that moved or appeared since the evaluation is a lost
   * race, never promoted over. The baseline must be of this version; with none, the thresholds
   * alone decide. Omitted: the champion is read when the gate runs.
   */
  champion?: XComArg<unknown>;
  /** Per metric: MLflow's rules. */
  thresholds: Record<string, MetricThresholdOptions>;
  /** The alias a passing candidate takes. @default 'champion' */
  promoteTo?: string;
  /** The alias a failing candidate takes; null for none. @default 'challenger' */
  otherwiseAlias?: string | null;
  /**
   * When the candidate is not promoted: true skips every downstream task (teardowns excepted);
   * false skips the direct downstream tasks and lets trigger rules decide the rest. @default true
   */
  ignoreDownstreamTriggerRules?: boolean;
}

/** A failed rule, as the gate's XCom reports it. */
export type ModelGateFailure = Omit<ValidationFailure, 'rule'> & { rule: string };

/** The gate's XCom (return_value). */
export interface ModelGateResult {
  outcome: GateOutcome;
  decision: 'pass' | 'fail';
  model: string;
  version: number;
  /** The alias the gate tried to move (promoteTo). */
  alias: string;
  /** The version that alias points at after the gate (the winner's, when lost). */
  champion: number | null;
  baseline_version: number | null;
  /** Where the champion's metrics came from: 'input', 'promotion_evaluation', 'latest_evaluation', 'version', or null without a champion. */
  baseline_metrics_from: string | null;
  evaluation_id: number | null;
  failures: ModelGateFailure[];
  /** One line: what happened and why (the skip reason downstream). */
  reason: string;
  model_version: ModelVersionRefJson;
  artifact: ArtifactRefJson;
}

export interface ModelGateBuilder {
  /**
   * A champion/challenger gate (a task of kind `model_gate`, no user code). Returns its output:
   * a ModelGateResult; `gate.get('artifact')` is the promoted model's ArtifactRef for a serve
   * step. Unless the candidate was promoted, every downstream task is skipped with the reason.
   */
  modelGate(options: ModelGateOptions): XComArg<ModelGateResult>;
}

/** How the builder declares a task (dag.ts passes its own). */
export type DeclareGateTask = <I, O>(
  kind: 'model_gate',
  options: TaskOptions,
  fn: undefined,
  control: ControlSpec,
) => Task<I, O>;

export function modelGateBuilder(declare: DeclareGateTask): ModelGateBuilder {
  return {
    modelGate: (options) => {
      const task = declare<unknown, ModelGateResult>('model_gate', options, undefined, {
        type: 'model_gate',
        ignore_downstream_trigger_rules: options?.ignoreDownstreamTriggerRules ?? true,
      });
      const metrics = options?.metrics;
      // The references become the task's input (and its upstream edges); the compiler checks them.
      const input: Record<string, unknown> = { candidate: options?.candidate };
      if (metrics !== undefined && metrics !== 'candidate_version') input.metrics = metrics;
      if (options?.baseline !== undefined) input.baseline = options.baseline;
      if (options?.champion !== undefined) input.champion = options.champion;
      return task(input);
    },
  };
}

/** MLflow's metric name rule (as the lineage record checks metric names). */
const METRIC_NAME = /^[A-Za-z0-9_./-]{1,250}$/;

type FieldFail = (message: string, field: string) => never;

/** The spec fields of a model gate (compile-task.ts merges them into the TaskSpec). */
export function compileModelGate(t: DeclaredTask, f: FieldFail): Pick<TaskSpec, 'model_gate'> {
  const o = t.options as ModelGateOptions;
  const modelProblem = modelNameProblem(o.model);
  if (modelProblem !== undefined) f(modelProblem, 'model');
  checkRef(o.candidate, 'candidate', f);
  const metricsFrom = compileMetricsSource(o.metrics, f);
  if (o.baseline !== undefined) checkBaseline(o.baseline, f);
  if (o.champion !== undefined && !isXComArg(o.champion)) {
    f(
      "expected d.modelVersion()'s output (the champion the evaluation was given), e.g. champion: d.modelVersion({ taskId: 'champion', model, alias: 'champion' })",
      'champion',
    );
  }
  if (
    o.thresholds === null ||
    typeof o.thresholds !== 'object' ||
    Array.isArray(o.thresholds) ||
    Object.keys(o.thresholds).length === 0
  ) {
    f('expected at least one metric rule, e.g. { accuracy: { threshold: 0.9, greaterIsBetter: true } }', 'thresholds');
  }
  for (const metric of Object.keys(o.thresholds)) {
    if (!METRIC_NAME.test(metric))
      f(`metric names are 1..250 of A-Z a-z 0-9 _ . - /, got ${JSON.stringify(metric)}`, `thresholds.${metric}`);
  }
  let thresholds;
  try {
    thresholds = parseThresholds(o.thresholds);
  } catch (err) {
    if (!(err instanceof EvaluationInputError)) throw err;
    return f(err.message.slice(err.field.length + 2), err.field);
  }
  const promoteTo = o.promoteTo ?? DEFAULT_ALIAS;
  const aliasProblem = aliasNameProblem(promoteTo);
  if (aliasProblem !== undefined) f(aliasProblem, 'promoteTo');
  const otherwise = o.otherwiseAlias === undefined ? DEFAULT_CHALLENGER_ALIAS : o.otherwiseAlias;
  if (otherwise !== null) {
    const problem = aliasNameProblem(otherwise);
    if (problem !== undefined) f(`${problem} (or null for none)`, 'otherwiseAlias');
    if (otherwise === promoteTo)
      f(
        `a failing candidate cannot take the alias "${promoteTo}" that a passing one takes (promoteTo)`,
        'otherwiseAlias',
      );
  }
  if (o.ignoreDownstreamTriggerRules !== undefined && typeof o.ignoreDownstreamTriggerRules !== 'boolean') {
    f(`expected true or false, got ${JSON.stringify(o.ignoreDownstreamTriggerRules)}`, 'ignoreDownstreamTriggerRules');
  }
  const spec: ModelGateSpec = {
    model: o.model,
    thresholds: thresholdsToSpec(thresholds),
    promote_to: promoteTo,
    otherwise_alias: otherwise,
    metrics_from: metricsFrom,
  };
  return { model_gate: spec };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A literal candidate must be a ref; a task's output is checked when the gate runs. */
function checkRef(value: unknown, field: string, f: FieldFail): void {
  if (value === undefined || value === null) {
    f(
      'expected the candidate model: a task\'s output holding a {"$model_version": ...} or {"$artifact": ...} ref (e.g. train.get(\'model\'))',
      field,
    );
  }
  if (isXComArg(value)) return;
  if (!isRecord(value) || (!isRecord(value.$model_version) && !isRecord(value.$artifact))) {
    f('expected a task output or a literal {"$model_version": {model, version}} / {"$artifact": {...}} ref', field);
  }
}

function compileMetricsSource(metrics: ModelGateOptions['metrics'], f: FieldFail): ModelGateSpec['metrics_from'] {
  if (metrics === undefined || metrics === 'candidate_version')
    return metrics === undefined ? 'candidate_version' : metrics;
  if (isXComArg(metrics)) return 'input';
  if (typeof metrics === 'string')
    f(
      `expected an evaluation task's output, a {name: value} map, or 'candidate_version', got ${JSON.stringify(metrics)}`,
      'metrics',
    );
  try {
    parseMetricValues(metrics, 'metrics');
  } catch (err) {
    if (!(err instanceof EvaluationInputError)) throw err;
    return f(err.message.slice(err.field.length + 2), err.field);
  }
  return 'input';
}

function checkBaseline(baseline: unknown, f: FieldFail): void {
  if (isXComArg(baseline)) return;
  if (
    !isRecord(baseline) ||
    !Number.isInteger(baseline.version) ||
    (baseline.version as number) < 1 ||
    !isRecord(baseline.metrics)
  ) {
    f(
      "expected an evaluation task's output or {version, metrics: {name: value}} (the champion's metrics on the same data)",
      'baseline',
    );
  }
  try {
    parseMetricValues((baseline as unknown as BaselineMetrics).metrics, 'baseline.metrics');
  } catch (err) {
    if (!(err instanceof EvaluationInputError)) throw err;
    f(err.message.slice(err.field.length + 2), err.field);
  }
}

/** The JSON a gate's input holds; exported for the activity's checks of resolved values. */
export type ModelGateInput = { candidate?: Json; metrics?: Json; baseline?: Json; champion?: Json };
