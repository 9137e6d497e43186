/**
 * d.modelGate(): the spec it compiles to (kind, operator, control, thresholds in MLflow's
 * snake_case, input refs as edges), and the import errors naming DAG, task and field for every
 * bad option; plus the interpreter's reading of a gate result (engine/model-gate.ts gateVerdict).
 */
import { expect } from 'chai';
import { compileDag } from '../../../sdk/compile.js';
import { dag, type DagBuilder } from '../../../sdk/dag.js';
import type { ModelGateOptions } from '../../../sdk/model-gate.js';
import { gateVerdict, thresholdsFromSpec } from '../../../engine/model-gate.js';
import type { DagSpec, TaskSpec } from '../../../spec/dag-spec.js';
import { expectDefinitionError as expectError } from './definition-error.js';

function task(spec: DagSpec, id: string): TaskSpec {
  return spec.tasks.find((x) => x.task_id === id)!;
}

function gateDag(overrides: Partial<ModelGateOptions> = {}, extra?: (d: DagBuilder) => void): DagSpec {
  return compileDag(
    dag({ dagId: 'ml' }, (d) => {
      const train = d.task({ taskId: 'train' }, () => ({
        model: { $artifact: { sha256: 'a'.repeat(64), uri: 'file:///m', name: 'model', type: 'model', size: 1 } },
      }));
      const evaluate = d.task({ taskId: 'evaluate' }, () => ({ accuracy: 0.9 }));
      const gate = d.modelGate({
        taskId: 'validate_model',
        model: 'iris',
        candidate: train().get('model'),
        metrics: evaluate(),
        thresholds: {
          accuracy: { threshold: 0.8, minAbsoluteChange: 0, greaterIsBetter: true },
          log_loss: { minRelativeChange: 0.1, greaterIsBetter: false },
        },
        ...overrides,
      });
      d.task({ taskId: 'serve' }, (_: unknown) => 1)(gate.get('artifact'));
      extra?.(d);
    }),
    'ml.ts',
  ).spec;
}

describe('sdk: d.modelGate()', () => {
  it('compiles to a model_gate task with the thresholds, aliases, control and input refs as edges', () => {
    const spec = gateDag();
    const gate = task(spec, 'validate_model');
    expect(gate).to.deep.include({
      kind: 'model_gate',
      operator: 'ModelGateOperator',
      upstream: ['evaluate', 'train'],
      downstream: ['serve'],
      control: { type: 'model_gate', ignore_downstream_trigger_rules: true },
      input: {
        candidate: { $xcom: { task_id: 'train', key: 'return_value', path: ['model'] } },
        metrics: { $xcom: { task_id: 'evaluate', key: 'return_value', path: [] } },
      },
      model_gate: {
        model: 'iris',
        thresholds: {
          accuracy: { threshold: 0.8, min_absolute_change: 0, greater_is_better: true },
          log_loss: { min_relative_change: 0.1, greater_is_better: false },
        },
        promote_to: 'champion',
        otherwise_alias: 'challenger',
        metrics_from: 'input',
      },
    });
    expect(task(spec, 'serve').input).to.deep.equal({
      $xcom: { task_id: 'validate_model', key: 'return_value', path: ['artifact'] },
    });
    expect(thresholdsFromSpec(gate.model_gate!.thresholds)).to.deep.equal({
      accuracy: { threshold: 0.8, minAbsoluteChange: 0, greaterIsBetter: true },
      log_loss: { minRelativeChange: 0.1, greaterIsBetter: false },
    });
  });

  it("takes the version's metrics by default, other aliases, no challenger, and direct-only skips", () => {
    const gate = task(
      gateDag({
        metrics: undefined,
        promoteTo: 'production',
        otherwiseAlias: null,
        ignoreDownstreamTriggerRules: false,
      }),
      'validate_model',
    );
    expect(gate.model_gate).to.deep.include({
      promote_to: 'production',
      otherwise_alias: null,
      metrics_from: 'candidate_version',
    });
    expect(gate.input).to.deep.equal({
      candidate: { $xcom: { task_id: 'train', key: 'return_value', path: ['model'] } },
    });
    expect(gate.upstream).to.deep.equal(['train']);
    expect(gate.control).to.deep.equal({ type: 'model_gate', ignore_downstream_trigger_rules: false });
  });

  const where = 'DAG "ml", task "validate_model": ';
  const cases: Array<[string, Partial<ModelGateOptions>, string]> = [
    [
      'an invalid model name',
      { model: 'iris@champion' },
      'model: expected a model name of 1..250 of A-Z a-z 0-9 _ . - (starting with a letter or digit), got "iris@champion"',
    ],
    [
      'an unknown metric direction',
      { thresholds: { accuracy: { threshold: 0.8 } as never } },
      'thresholds.accuracy.greaterIsBetter: must be defined (true when higher values are better)',
    ],
    [
      'a direction that is not a boolean',
      { thresholds: { accuracy: { threshold: 0.8, greaterIsBetter: 'up' as never } } },
      'thresholds.accuracy.greaterIsBetter: must be a boolean, got the string "up"',
    ],
    [
      'a relative change above 1',
      { thresholds: { accuracy: { minRelativeChange: 5, greaterIsBetter: true } } },
      'thresholds.accuracy.minRelativeChange: must be between 0 and 1, got 5',
    ],
    [
      'a negative absolute change',
      { thresholds: { accuracy: { minAbsoluteChange: -1, greaterIsBetter: true } } },
      'thresholds.accuracy.minAbsoluteChange: must be a number >= 0, got number -1',
    ],
    [
      'a rule without a bound',
      { thresholds: { accuracy: { greaterIsBetter: true } } },
      'thresholds.accuracy: no threshold was specified (give threshold, minAbsoluteChange or minRelativeChange)',
    ],
    [
      'an unknown key',
      { thresholds: { accuracy: { treshold: 0.8, greaterIsBetter: true } as never } },
      'thresholds.accuracy.treshold: unknown key (expected threshold, minAbsoluteChange, minRelativeChange, greaterIsBetter)',
    ],
    [
      'no rules',
      { thresholds: {} },
      'thresholds: expected at least one metric rule, e.g. { accuracy: { threshold: 0.9, greaterIsBetter: true } }',
    ],
    [
      'a bad metric name',
      { thresholds: { 'acc uracy': { threshold: 0.8, greaterIsBetter: true } } },
      'thresholds.acc uracy: metric names are 1..250 of A-Z a-z 0-9 _ . - /, got "acc uracy"',
    ],
    [
      'a bad alias',
      { promoteTo: 'v2' },
      'promoteTo: expected an alias such as champion or challenger (a letter or _ first; not "latest", not a version like v3), got "v2"',
    ],
    [
      'the same alias twice',
      { otherwiseAlias: 'champion' },
      'otherwiseAlias: a failing candidate cannot take the alias "champion" that a passing one takes (promoteTo)',
    ],
    [
      'no candidate',
      { candidate: undefined as never },
      'candidate: expected the candidate model: a task\'s output holding a {"$model_version": ...} or {"$artifact": ...} ref (e.g. train.get(\'model\'))',
    ],
    [
      'a literal that is no ref',
      { candidate: { model: 'x' } as never },
      'candidate: expected a task output or a literal {"$model_version": {model, version}} / {"$artifact": {...}} ref',
    ],
    [
      'a metrics word it does not know',
      { metrics: 'from the candidate' as never },
      "metrics: expected an evaluation task's output, a {name: value} map, or 'candidate_version', got \"from the candidate\"",
    ],
    [
      'literal metrics that are not numbers',
      { metrics: { accuracy: 'high' } as never },
      'metrics.accuracy: must be a finite number, got the string "high"',
    ],
    [
      'a literal baseline without a version',
      { baseline: { metrics: { accuracy: 1 } } as never },
      "baseline: expected an evaluation task's output or {version, metrics: {name: value}} (the champion's metrics on the same data)",
    ],
    [
      'a literal champion',
      { champion: { model: 'iris', version: 1 } as never },
      "champion: expected d.modelVersion()'s output (the champion the evaluation was given), e.g. champion: d.modelVersion({ taskId: 'champion', model, alias: 'champion' })",
    ],
  ];
  for (const [what, overrides, message] of cases) {
    it(`refuses ${what}, naming the field`, () => expectError(() => gateDag(overrides), where + message));
  }
  it('refuses a model gate inside a mapped task group (its skips are not built per instance)', () => {
    expectError(
      () =>
        compileDag(
          dag({ dagId: 'ml' }, (d) => {
            d.mappedGroup({ groupId: 'g', expand: { seed: [1, 2] } }, (g) => {
              g.modelGate({
                taskId: 'gate',
                model: 'iris',
                candidate: { $model_version: { model: 'iris', version: 1 } },
                thresholds: { accuracy: { threshold: 0.9, greaterIsBetter: true } },
              });
            });
          }),
          'ml.ts',
        ),
      'DAG "ml", task "g.gate": control: a model-gate task inside mapped task group "g" is not built',
    );
  });
});

describe('engine: gateVerdict', () => {
  it('proceeds when promoted or unchanged, skips with the reason otherwise', () => {
    expect(gateVerdict('g', { outcome: 'promoted', reason: 'x' })).to.deep.equal({ proceed: true, reason: '' });
    expect(gateVerdict('g', { outcome: 'unchanged' })).to.deep.equal({ proceed: true, reason: '' });
    expect(gateVerdict('g', { outcome: 'rejected', reason: 'm@3 not promoted' })).to.deep.equal({
      proceed: false,
      reason: 'skipped by model gate "g": m@3 not promoted',
    });
    expect(gateVerdict('g', { outcome: 'lost', reason: 'lost it' }).proceed).to.equal(false);
    expect(gateVerdict('g', null)).to.deep.equal({
      proceed: false,
      reason: 'skipped by model gate "g": its result has no outcome (null)',
    });
  });
});
