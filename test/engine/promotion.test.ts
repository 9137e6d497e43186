/**
 * engine/promotion.ts against MLflow's own cases: mlflow/mlflow tests/evaluate/test_validation.py
 * (value_threshold_test_spec, min_absolute_change_threshold_test_spec,
 * min_relative_change_threshold_test_spec, multi_thresholds_test_spec,
 * test_validation_thresholds_no_mock, metric_threshold_class_test_spec). Each row keeps MLflow's
 * case name. Where our rules deliberately differ (see engine/promotion.ts), the row says so.
 */
import { expect } from 'chai';
import {
  EvaluationInputError,
  MissingCandidateMetricError,
  describeFailures,
  parseThresholds,
  validateEvaluationResults,
  type MetricThreshold,
  type MetricThresholds,
  type MetricValues,
  type ValidationRule,
} from '../../engine/promotion.js';

const gib = (t: Omit<MetricThreshold, 'greaterIsBetter'>): MetricThreshold => ({ ...t, greaterIsBetter: true });
const lib = (t: Omit<MetricThreshold, 'greaterIsBetter'>): MetricThreshold => ({ ...t, greaterIsBetter: false });

interface Case {
  readonly name: string;
  readonly candidate: MetricValues;
  readonly baseline: MetricValues | null;
  readonly thresholds: MetricThresholds;
  /** [metric, rule] of each failure in order; [] means pass. */
  readonly failures: ReadonlyArray<readonly [string, ValidationRule]>;
}

// value_threshold_test_spec (MLflow passes baseline_result=None: thresholds only).
const acc9 = gib({ threshold: 0.9 });
const f18 = gib({ threshold: 0.8 });
const logloss5 = lib({ threshold: 0.5 });
const l13 = lib({ threshold: 0.3 });
const VALUE_THRESHOLD: Case[] = [
  {
    name: 'single_metric_not_satisfied_higher_better',
    candidate: { accuracy: 0.8 },
    baseline: null,
    thresholds: { accuracy: acc9 },
    failures: [['accuracy', 'threshold']],
  },
  {
    name: 'multiple_metrics_not_satisfied_higher_better',
    candidate: { accuracy: 0.8, f1_score: 0.7 },
    baseline: null,
    thresholds: { accuracy: acc9, f1_score: f18 },
    failures: [
      ['accuracy', 'threshold'],
      ['f1_score', 'threshold'],
    ],
  },
  {
    name: 'single_metric_not_satisfied_lower_better',
    candidate: { custom_l1_loss: 0.5 },
    baseline: null,
    thresholds: { custom_l1_loss: l13 },
    failures: [['custom_l1_loss', 'threshold']],
  },
  {
    name: 'multiple_metrics_not_satisfied_lower_better',
    candidate: { custom_l1_loss: 0.5, log_loss: 0.8 },
    baseline: null,
    thresholds: { custom_l1_loss: l13, log_loss: logloss5 },
    failures: [
      ['custom_l1_loss', 'threshold'],
      ['log_loss', 'threshold'],
    ],
  },
  {
    name: 'multiple_metrics_not_all_satisfied',
    candidate: { accuracy: 0.8, f1_score: 0.7, log_loss: 0.3 },
    baseline: null,
    thresholds: { accuracy: acc9, f1_score: f18, log_loss: logloss5 },
    failures: [
      ['accuracy', 'threshold'],
      ['f1_score', 'threshold'],
    ],
  },
  {
    name: 'equality_boundary',
    candidate: { accuracy: 0.9, log_loss: 0.5 },
    baseline: null,
    thresholds: { accuracy: acc9, log_loss: logloss5 },
    failures: [],
  },
  {
    name: 'single_metric_satisfied_higher_better',
    candidate: { accuracy: 0.91 },
    baseline: null,
    thresholds: { accuracy: acc9 },
    failures: [],
  },
  {
    name: 'single_metric_satisfied_lower_better',
    candidate: { log_loss: 0.3 },
    baseline: null,
    thresholds: { log_loss: logloss5 },
    failures: [],
  },
  {
    name: 'multiple_metrics_all_satisfied',
    candidate: { accuracy: 0.9, f1_score: 0.8, log_loss: 0.3 },
    baseline: null,
    thresholds: { accuracy: acc9, f1_score: f18, log_loss: logloss5 },
    failures: [],
  },
];

// min_absolute_change_threshold_test_spec
const accA = gib({ minAbsoluteChange: 0.1 });
const f1A = gib({ minAbsoluteChange: 0.15 });
const loglossA = lib({ minAbsoluteChange: 0.1 });
const l1A = lib({ minAbsoluteChange: 0.15 });
const ABSOLUTE: Case[] = [
  {
    name: 'single_metric_not_satisfied_higher_better',
    candidate: { accuracy: 0.79 },
    baseline: { accuracy: 0.7 },
    thresholds: { accuracy: accA },
    failures: [['accuracy', 'min_absolute_change']],
  },
  {
    name: 'multiple_metrics_not_satisfied_higher_better',
    candidate: { accuracy: 0.79, f1_score: 0.8 },
    baseline: { accuracy: 0.7, f1_score: 0.7 },
    thresholds: { accuracy: accA, f1_score: f1A },
    failures: [
      ['accuracy', 'min_absolute_change'],
      ['f1_score', 'min_absolute_change'],
    ],
  },
  {
    name: 'single_metric_not_satisfied_lower_better',
    candidate: { custom_l1_loss: 0.5 },
    baseline: { custom_l1_loss: 0.6 },
    thresholds: { custom_l1_loss: l1A },
    failures: [['custom_l1_loss', 'min_absolute_change']],
  },
  {
    name: 'multiple_metrics_not_satisfied_lower_better',
    candidate: { custom_l1_loss: 0.5, log_loss: 0.45 },
    baseline: { custom_l1_loss: 0.6, log_loss: 0.3 },
    thresholds: { custom_l1_loss: l1A, log_loss: loglossA },
    failures: [
      ['custom_l1_loss', 'min_absolute_change'],
      ['log_loss', 'min_absolute_change'],
    ],
  },
  // MLflow passes baseline_result=None here; a champion whose evaluation lacks the metric is our equivalent.
  {
    name: 'missing_baseline_metric (baseline without the metric)',
    candidate: { custom_l1_loss: 0.72 },
    baseline: {},
    thresholds: { custom_l1_loss: l1A },
    failures: [['custom_l1_loss', 'missing_baseline']],
  },
  // Deviation: no champion at all means thresholds only, so a comparison-only threshold passes.
  {
    name: 'missing_baseline_metric (no champion: comparisons skipped)',
    candidate: { custom_l1_loss: 0.72 },
    baseline: null,
    thresholds: { custom_l1_loss: l1A },
    failures: [],
  },
  {
    name: 'equality_boundary',
    candidate: { accuracy: 0.8 + 1e-10, log_loss: 0.2 - 1e-10 },
    baseline: { accuracy: 0.7, log_loss: 0.3 },
    thresholds: { accuracy: accA, log_loss: loglossA },
    failures: [],
  },
  {
    name: 'single_metric_satisfied_higher_better',
    candidate: { accuracy: 0.9 + 1e-2 },
    baseline: { accuracy: 0.8 },
    thresholds: { accuracy: accA },
    failures: [],
  },
  {
    name: 'single_metric_satisfied_lower_better',
    candidate: { log_loss: 0.3 },
    baseline: { log_loss: 0.4 + 1e-3 },
    thresholds: { log_loss: loglossA },
    failures: [],
  },
  {
    name: 'multiple_metrics_all_satisfied',
    candidate: { accuracy: 0.9, f1_score: 0.8, log_loss: 0.3 },
    baseline: { accuracy: 0.7, f1_score: 0.6, log_loss: 0.5 },
    thresholds: { accuracy: accA, f1_score: f1A, log_loss: loglossA },
    failures: [],
  },
];

// min_relative_change_threshold_test_spec
const accR = gib({ minRelativeChange: 0.1 });
const f1R = gib({ minRelativeChange: 0.15 });
const loglossR = lib({ minRelativeChange: 0.15 });
const l1R = lib({ minRelativeChange: 0.1 });
const RELATIVE: Case[] = [
  {
    name: 'single_metric_not_satisfied_higher_better',
    candidate: { accuracy: 0.75 },
    baseline: { accuracy: 0.7 },
    thresholds: { accuracy: accR },
    failures: [['accuracy', 'min_relative_change']],
  },
  {
    name: 'multiple_metrics_not_satisfied_higher_better',
    candidate: { accuracy: 0.53, f1_score: 0.8 },
    baseline: { accuracy: 0.5, f1_score: 0.7 },
    thresholds: { accuracy: accR, f1_score: f1R },
    failures: [
      ['accuracy', 'min_relative_change'],
      ['f1_score', 'min_relative_change'],
    ],
  },
  {
    name: 'single_metric_not_satisfied_lower_better',
    candidate: { custom_l1_loss: 0.55 },
    baseline: { custom_l1_loss: 0.6 },
    thresholds: { custom_l1_loss: l1R },
    failures: [['custom_l1_loss', 'min_relative_change']],
  },
  {
    name: 'missing_baseline_metric (baseline without the metric)',
    candidate: { custom_l1_loss: 0.72 },
    baseline: {},
    thresholds: { custom_l1_loss: l1R },
    failures: [['custom_l1_loss', 'missing_baseline']],
  },
  {
    name: 'multiple_metrics_not_satisfied_lower_better',
    candidate: { custom_l1_loss: 0.72 + 1e-3, log_loss: 0.27 + 1e-5 },
    baseline: { custom_l1_loss: 0.8, log_loss: 0.3 },
    thresholds: { custom_l1_loss: l1R, log_loss: loglossR },
    failures: [
      ['custom_l1_loss', 'min_relative_change'],
      ['log_loss', 'min_relative_change'],
    ],
  },
  {
    name: 'baseline_metric_value_equals_0_fails',
    candidate: { metric_1: 0 },
    baseline: { metric_1: 0 },
    thresholds: { metric_1: accR },
    failures: [['metric_1', 'min_relative_change']],
  },
  {
    name: 'equality_boundary',
    candidate: { accuracy: 0.77, log_loss: 0.3 * 0.85 - 1e-10 },
    baseline: { accuracy: 0.7, log_loss: 0.3 },
    thresholds: { accuracy: accR, log_loss: loglossR },
    failures: [],
  },
  {
    name: 'single_metric_satisfied_higher_better',
    candidate: { accuracy: 0.99 + 1e-10 },
    baseline: { accuracy: 0.9 },
    thresholds: { accuracy: accR },
    failures: [],
  },
  {
    name: 'single_metric_satisfied_lower_better',
    candidate: { log_loss: 0.3 },
    baseline: { log_loss: 0.4 },
    thresholds: { log_loss: loglossR },
    failures: [],
  },
  {
    name: 'multiple_metrics_all_satisfied',
    candidate: { accuracy: 0.9, f1_score: 0.9, log_loss: 0.3 },
    baseline: { accuracy: 0.7, f1_score: 0.6, log_loss: 0.5 },
    thresholds: { accuracy: accR, f1_score: f1R, log_loss: loglossR },
    failures: [],
  },
  {
    name: 'baseline_metric_value_equals_0_succeeds',
    candidate: { metric_1: 1e-10 },
    baseline: { metric_1: 0 },
    thresholds: { metric_1: accR },
    failures: [],
  },
];

// multi_thresholds_test_spec and test_validation_thresholds_no_mock (recall 1.0 vs 0.0).
const accAll = gib({ threshold: 0.8, minAbsoluteChange: 0.1, minRelativeChange: 0.1 });
const recall = gib({ threshold: 0.9, minAbsoluteChange: 0.1 });
const MULTI: Case[] = [
  {
    name: 'single_metric_all_thresholds_failed',
    candidate: { accuracy: 0.75 },
    baseline: { accuracy: 0.7 },
    thresholds: { accuracy: accAll },
    failures: [
      ['accuracy', 'threshold'],
      ['accuracy', 'min_absolute_change'],
      ['accuracy', 'min_relative_change'],
    ],
  },
  {
    name: 'no_mock: candidate beats baseline',
    candidate: { recall_score: 1 },
    baseline: { recall_score: 0 },
    thresholds: { recall_score: recall },
    failures: [],
  },
  {
    name: 'no_mock: roles swapped',
    candidate: { recall_score: 0 },
    baseline: { recall_score: 1 },
    thresholds: { recall_score: recall },
    failures: [
      ['recall_score', 'threshold'],
      ['recall_score', 'min_absolute_change'],
    ],
  },
];

describe('engine/promotion: MLflow validate_evaluation_results', () => {
  for (const [group, cases] of [
    ['value threshold', VALUE_THRESHOLD],
    ['min absolute change', ABSOLUTE],
    ['min relative change', RELATIVE],
    ['multiple thresholds', MULTI],
  ] as const) {
    describe(group, () => {
      for (const c of cases) {
        it(`${c.name} -> ${c.failures.length === 0 ? 'pass' : 'fail'}`, () => {
          const result = validateEvaluationResults(c.candidate, c.baseline, c.thresholds);
          expect(result.failures.map((f) => [f.metric, f.rule])).to.deep.equal(c.failures);
          expect(result.decision).to.equal(c.failures.length === 0 ? 'pass' : 'fail');
        });
      }
    });
  }

  it('records candidate, baseline and the bound each failure missed', () => {
    const r = validateEvaluationResults({ accuracy: 0.75 }, { accuracy: 0.7 }, { accuracy: accAll });
    expect(
      r.failures.map((f) => ({ rule: f.rule, candidate: f.candidate, baseline: f.baseline, expected: f.expected })),
    ).to.deep.equal([
      { rule: 'threshold', candidate: 0.75, baseline: 0.7, expected: 0.8 },
      { rule: 'min_absolute_change', candidate: 0.75, baseline: 0.7, expected: 0.7 + 0.1 },
      { rule: 'min_relative_change', candidate: 0.75, baseline: 0.7, expected: 0.7 + 0.7 * 0.1 },
    ]);
    // MLflow's wording, one failure a line.
    expect(describeFailures(r)).to.equal(
      'Metric accuracy value threshold check failed: candidate model accuracy = 0.75, accuracy threshold = 0.8.\n' +
        'Metric accuracy minimum absolute change check failed: candidate model accuracy = 0.75, baseline model accuracy = 0.7, accuracy minimum absolute change threshold = 0.1.\n' +
        'Metric accuracy minimum relative change check failed: candidate model accuracy = 0.75, baseline model accuracy = 0.7, accuracy minimum relative change threshold = 0.1.',
    );
  });

  it('lower is better mirrors the bounds (baseline - change)', () => {
    const r = validateEvaluationResults(
      { rmse: 0.95 },
      { rmse: 1 },
      { rmse: lib({ minAbsoluteChange: 0.1, minRelativeChange: 0.2 }) },
    );
    expect(r.failures.map((f) => [f.rule, f.expected])).to.deep.equal([
      ['min_absolute_change', 0.9],
      ['min_relative_change', 0.8],
    ]);
  });

  it('a negative baseline compares by |baseline| (an R² below 0 that improves passes)', () => {
    const r = validateEvaluationResults({ r2: -0.5 }, { r2: -1 }, { r2: gib({ minRelativeChange: 0.2 }) });
    expect(r.decision).to.equal('pass');
    expect(
      validateEvaluationResults({ r2: -0.9 }, { r2: -1 }, { r2: gib({ minRelativeChange: 0.2 }) }).decision,
    ).to.equal('fail');
  });

  it('minAbsoluteChange 0 means "at least as good as the champion"', () => {
    const t = { accuracy: gib({ minAbsoluteChange: 0 }) };
    expect(validateEvaluationResults({ accuracy: 0.9 }, { accuracy: 0.9 }, t).decision).to.equal('pass');
    expect(validateEvaluationResults({ accuracy: 0.89 }, { accuracy: 0.9 }, t).decision).to.equal('fail');
  });

  it('missing_candidate_metric: a threshold on a metric the evaluation lacks is an error naming it', () => {
    // MLflow records this as a failed validation; for a gate it is a configuration error.
    const err = captureError(() => validateEvaluationResults({ f1: 0.5 }, null, { accuracy: acc9 }));
    expect(err).to.be.instanceOf(MissingCandidateMetricError);
    expect((err as MissingCandidateMetricError).field).to.equal('thresholds.accuracy');
    expect((err as MissingCandidateMetricError).metric).to.equal('accuracy');
    expect(err.message).to.contain('has no metric "accuracy" (it has: f1)');
  });

  it('rejects non-finite metric values, naming the metric', () => {
    const err = captureError(() => validateEvaluationResults({ accuracy: NaN }, null, { accuracy: acc9 }));
    expect((err as EvaluationInputError).field).to.equal('candidate.accuracy');
    const err2 = captureError(() =>
      validateEvaluationResults({ accuracy: 1 }, { accuracy: Infinity }, { accuracy: accA }),
    );
    expect((err2 as EvaluationInputError).field).to.equal('baseline.accuracy');
  });
});

describe('engine/promotion: parseThresholds (MLflow metric_threshold_class_test_spec)', () => {
  const base = { threshold: 1, minAbsoluteChange: 1, minRelativeChange: 0.1, greaterIsBetter: true };
  const cases: ReadonlyArray<[string, unknown, string, string]> = [
    ['threshold_is_not_number', { m: { ...base, threshold: 'string' } }, 'thresholds.m.threshold', 'must be a number'],
    [
      'min_absolute_change_is_not_number',
      { m: { ...base, minAbsoluteChange: 'string' } },
      'thresholds.m.minAbsoluteChange',
      'must be a number >= 0',
    ],
    [
      'min_absolute_change_is_not_positive',
      { m: { ...base, minAbsoluteChange: -1 } },
      'thresholds.m.minAbsoluteChange',
      'must be a number >= 0',
    ],
    // MLflow rejects the integer 2 as "not a float"; JavaScript has one number type, so it is the range that fails.
    [
      'min_relative_change_is_not_float',
      { m: { ...base, minRelativeChange: 2 } },
      'thresholds.m.minRelativeChange',
      'between 0 and 1',
    ],
    [
      'min_relative_change_is_not_between_0_and_1',
      { m: { ...base, minRelativeChange: -0.1 } },
      'thresholds.m.minRelativeChange',
      'between 0 and 1',
    ],
    [
      'greater_is_better_is_not_defined',
      { m: { ...base, greaterIsBetter: undefined } },
      'thresholds.m.greaterIsBetter',
      'must be defined',
    ],
    [
      'greater_is_better_is_not_bool',
      { m: { ...base, greaterIsBetter: 1 } },
      'thresholds.m.greaterIsBetter',
      'must be a boolean',
    ],
    ['no_threshold', { m: { greaterIsBetter: true } }, 'thresholds.m', 'no threshold was specified'],
    ['param_not_dict', 1, 'thresholds', 'expected an object'],
    ['value_not_metric_threshold', { accuracy: 1 }, 'thresholds.accuracy', 'expected {threshold?'],
    [
      'unknown key (a typo such as min_absolute_change)',
      { m: { greaterIsBetter: true, min_absolute_change: 0.1 } },
      'thresholds.m.min_absolute_change',
      'unknown key',
    ],
  ];
  for (const [name, raw, field, text] of cases) {
    it(`${name}: ${field}`, () => {
      const err = captureError(() => parseThresholds(raw));
      expect(err).to.be.instanceOf(EvaluationInputError);
      expect((err as EvaluationInputError).field).to.equal(field);
      expect(err.message).to.contain(text);
    });
  }

  it('accepts a valid map and keeps only the given keys', () => {
    expect(parseThresholds({ accuracy: { threshold: 0.9, greaterIsBetter: true } })).to.deep.equal({
      accuracy: { threshold: 0.9, greaterIsBetter: true },
    });
  });
});

function captureError(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    if (err instanceof Error) return err;
    throw err;
  }
  throw new Error('expected an error');
}
