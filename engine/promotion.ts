/**
 * The champion/challenger validation rules: MLflow's `validate_evaluation_results`
 * (mlflow/models/evaluation/validation.py), as a pure function. Sandbox-safe (no node:*).
 *
 * Per metric, a threshold `{threshold?, minAbsoluteChange?, minRelativeChange?, greaterIsBetter}`.
 * With higher is better (lower is better mirrors each rule):
 *   - threshold:            candidate >= threshold
 *   - min absolute change:  candidate >= baseline + minAbsoluteChange
 *   - min relative change:  (candidate - baseline) / |baseline| >= minRelativeChange; when the
 *                           baseline is 0: candidate >= baseline + 1e-10 (MLflow's fallback)
 * Comparisons are made in doubles exactly as MLflow makes them, so MLflow's boundary cases
 * (e.g. 0.8 + 1e-10 against 0.7 + 0.1) decide the same way here.
 *
 * Where this differs from MLflow, on purpose:
 *   - no baseline (`baseline === null`: the model has no champion yet) checks the thresholds alone;
 *     MLflow reports the comparison rules as failed ("missing from the baseline"). A baseline that
 *     exists but lacks the metric still fails with rule `missing_baseline`, as in MLflow.
 *   - a threshold naming a metric the candidate lacks is an input error (MissingCandidateMetricError),
 *     not a failed validation: the gate was configured for metrics the evaluation does not produce.
 *   - minAbsoluteChange may be 0 ("at least as good as the champion"); MLflow requires > 0.
 *   - the relative change divides by |baseline|, which equals MLflow for positive baselines and
 *     stays meaningful for negative ones (e.g. an R² below 0), where MLflow's sign flips.
 */

export interface MetricThreshold {
  readonly threshold?: number;
  readonly minAbsoluteChange?: number;
  /** A fraction of the baseline, 0..1. */
  readonly minRelativeChange?: number;
  readonly greaterIsBetter: boolean;
}

export type MetricThresholds = Readonly<Record<string, MetricThreshold>>;
export type MetricValues = Readonly<Record<string, number>>;

export const VALIDATION_RULES = [
  'threshold',
  'missing_baseline',
  'min_absolute_change',
  'min_relative_change',
] as const;
export type ValidationRule = (typeof VALIDATION_RULES)[number];

export interface ValidationFailure {
  readonly metric: string;
  readonly rule: ValidationRule;
  readonly candidate: number;
  /** The champion's value; null when the baseline lacks the metric. */
  readonly baseline: number | null;
  /** The bound the candidate had to reach (for a relative change, baseline ± |baseline|·rel). */
  readonly expected: number | null;
  /** MLflow's wording, for logs and skip reasons. */
  readonly message: string;
}

export interface ValidationResult {
  readonly decision: 'pass' | 'fail';
  readonly failures: readonly ValidationFailure[];
}

/** The relative-change fallback when the baseline is 0 (MLflow's constant). */
export const ZERO_BASELINE_EPSILON = 1e-10;

/** A threshold or metric map that cannot be interpreted; `field` names it (`thresholds.accuracy.threshold`). */
export class EvaluationInputError extends Error {
  override readonly name: string = 'EvaluationInputError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A threshold names a metric that the candidate's evaluation does not have. */
export class MissingCandidateMetricError extends EvaluationInputError {
  override readonly name = 'MissingCandidateMetricError';
  constructor(
    readonly metric: string,
    available: readonly string[],
  ) {
    super(
      `thresholds.${metric}`,
      `the candidate's evaluation has no metric "${metric}" (it has: ${available.length === 0 ? 'none' : available.join(', ')}); ` +
        'log that metric in the evaluation step or remove the threshold',
    );
  }
}

const THRESHOLD_KEYS = new Set(['threshold', 'minAbsoluteChange', 'minRelativeChange', 'greaterIsBetter']);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a thresholds map from user input (a DAG file, the CLI) and returns it typed. The rules are
 * MLflow's MetricThreshold constructor checks, each error naming the field.
 */
export function parseThresholds(raw: unknown, field = 'thresholds'): MetricThresholds {
  if (!isRecord(raw))
    throw new EvaluationInputError(field, `expected an object of metric name -> threshold, got ${describe(raw)}`);
  const out: Record<string, MetricThreshold> = {};
  for (const [metric, t] of Object.entries(raw)) {
    const f = `${field}.${metric}`;
    if (!isRecord(t))
      throw new EvaluationInputError(
        f,
        `expected {threshold?, minAbsoluteChange?, minRelativeChange?, greaterIsBetter}, got ${describe(t)}`,
      );
    for (const key of Object.keys(t)) {
      if (!THRESHOLD_KEYS.has(key)) {
        throw new EvaluationInputError(
          `${f}.${key}`,
          'unknown key (expected threshold, minAbsoluteChange, minRelativeChange, greaterIsBetter)',
        );
      }
    }
    const { threshold, minAbsoluteChange, minRelativeChange, greaterIsBetter } = t;
    if (greaterIsBetter === undefined)
      throw new EvaluationInputError(`${f}.greaterIsBetter`, 'must be defined (true when higher values are better)');
    if (typeof greaterIsBetter !== 'boolean')
      throw new EvaluationInputError(`${f}.greaterIsBetter`, `must be a boolean, got ${describe(greaterIsBetter)}`);
    if (threshold !== undefined && !isFiniteNumber(threshold)) {
      throw new EvaluationInputError(`${f}.threshold`, `must be a number, got ${describe(threshold)}`);
    }
    if (minAbsoluteChange !== undefined && (!isFiniteNumber(minAbsoluteChange) || minAbsoluteChange < 0)) {
      throw new EvaluationInputError(
        `${f}.minAbsoluteChange`,
        `must be a number >= 0, got ${describe(minAbsoluteChange)}`,
      );
    }
    if (minRelativeChange !== undefined) {
      if (!isFiniteNumber(minRelativeChange)) {
        throw new EvaluationInputError(
          `${f}.minRelativeChange`,
          `must be a number between 0 and 1, got ${describe(minRelativeChange)}`,
        );
      }
      if (minRelativeChange < 0 || minRelativeChange > 1) {
        throw new EvaluationInputError(`${f}.minRelativeChange`, `must be between 0 and 1, got ${minRelativeChange}`);
      }
    }
    if (threshold === undefined && minAbsoluteChange === undefined && minRelativeChange === undefined) {
      throw new EvaluationInputError(
        f,
        'no threshold was specified (give threshold, minAbsoluteChange or minRelativeChange)',
      );
    }
    out[metric] = {
      ...(threshold === undefined ? {} : { threshold }),
      ...(minAbsoluteChange === undefined ? {} : { minAbsoluteChange }),
      ...(minRelativeChange === undefined ? {} : { minRelativeChange }),
      greaterIsBetter,
    };
  }
  return out;
}

/** Checks a metric map (name -> finite number). */
export function parseMetricValues(raw: unknown, field: string): MetricValues {
  if (!isRecord(raw))
    throw new EvaluationInputError(field, `expected an object of metric name -> number, got ${describe(raw)}`);
  for (const [name, v] of Object.entries(raw)) {
    if (!isFiniteNumber(v))
      throw new EvaluationInputError(`${field}.${name}`, `must be a finite number, got ${describe(v)}`);
  }
  return raw as MetricValues;
}

/**
 * Validates the candidate's metrics against the thresholds and, where a baseline (the champion's
 * metrics on the same evaluation data) exists, against the baseline. Never throws for a failed
 * rule: failures are data. Throws EvaluationInputError for malformed input and
 * MissingCandidateMetricError for a threshold on a metric the candidate lacks.
 */
export function validateEvaluationResults(
  candidate: MetricValues,
  baseline: MetricValues | null,
  thresholds: MetricThresholds,
): ValidationResult {
  parseThresholds(thresholds);
  parseMetricValues(candidate, 'candidate');
  if (baseline !== null) parseMetricValues(baseline, 'baseline');

  const failures: ValidationFailure[] = [];
  for (const [metric, t] of Object.entries(thresholds)) {
    const c = candidate[metric];
    if (c === undefined) throw new MissingCandidateMetricError(metric, Object.keys(candidate));
    const better = t.greaterIsBetter ? (a: number, b: number) => a >= b : (a: number, b: number) => a <= b;
    const toward = t.greaterIsBetter ? (a: number, d: number) => a + d : (a: number, d: number) => a - d;

    if (t.threshold !== undefined && !better(c, t.threshold)) {
      failures.push({
        metric,
        rule: 'threshold',
        candidate: c,
        baseline: baseline?.[metric] ?? null,
        expected: t.threshold,
        message: `Metric ${metric} value threshold check failed: candidate model ${metric} = ${c}, ${metric} threshold = ${t.threshold}.`,
      });
    }
    const compares = t.minAbsoluteChange !== undefined || t.minRelativeChange !== undefined;
    if (!compares || baseline === null) continue;
    const b = baseline[metric];
    if (b === undefined) {
      failures.push({
        metric,
        rule: 'missing_baseline',
        candidate: c,
        baseline: null,
        expected: null,
        message: `Model comparison failed: metric ${metric} was missing from the evaluation result of the baseline model.`,
      });
      continue;
    }
    if (t.minAbsoluteChange !== undefined) {
      const bound = toward(b, t.minAbsoluteChange);
      if (!better(c, bound)) {
        failures.push({
          metric,
          rule: 'min_absolute_change',
          candidate: c,
          baseline: b,
          expected: bound,
          message:
            `Metric ${metric} minimum absolute change check failed: candidate model ${metric} = ${c}, ` +
            `baseline model ${metric} = ${b}, ${metric} minimum absolute change threshold = ${t.minAbsoluteChange}.`,
        });
      }
    }
    if (t.minRelativeChange !== undefined) {
      let failed: boolean;
      let bound: number;
      if (b === 0) {
        bound = toward(b, ZERO_BASELINE_EPSILON);
        failed = !better(c, bound);
      } else {
        const change = (t.greaterIsBetter ? c - b : b - c) / Math.abs(b);
        failed = change < t.minRelativeChange;
        bound = toward(b, Math.abs(b) * t.minRelativeChange);
      }
      if (failed) {
        failures.push({
          metric,
          rule: 'min_relative_change',
          candidate: c,
          baseline: b,
          expected: bound,
          message:
            `Metric ${metric} minimum relative change check failed: candidate model ${metric} = ${c}, ` +
            `baseline model ${metric} = ${b}, ${metric} minimum relative change threshold = ${t.minRelativeChange}.`,
        });
      }
    }
  }
  return { decision: failures.length === 0 ? 'pass' : 'fail', failures };
}

/** The failures as one text (MLflow's ModelValidationFailedException message, newline-joined). */
export function describeFailures(result: ValidationResult): string {
  return result.failures.map((f) => f.message).join('\n');
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}
