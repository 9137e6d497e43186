/**
 * d.modelVersion(): the registry lookup task it compiles to (kind, operator, spec, no input), its
 * output wired into a step and a gate's `champion` pin (the edges), and the import errors naming
 * DAG, task and field.
 */
import { expect } from 'chai';
import { compileDag } from '../../../sdk/compile.js';
import { dag } from '../../../sdk/dag.js';
import type { ModelVersionOptions } from '../../../sdk/model-version.js';
import type { DagSpec, TaskSpec } from '../../../spec/dag-spec.js';
import { expectDefinitionError as expectError } from './definition-error.js';

function task(spec: DagSpec, id: string): TaskSpec {
  return spec.tasks.find((x) => x.task_id === id)!;
}

function championDag(overrides: Partial<ModelVersionOptions> = {}): DagSpec {
  return compileDag(
    dag({ dagId: 'ml' }, (d) => {
      const train = d.task({ taskId: 'train' }, () => ({
        model: { $artifact: { sha256: 'a'.repeat(64), uri: 'file:///m', name: 'model', type: 'model', size: 1 } },
      }));
      const model = train();
      const champion = d.modelVersion({ taskId: 'champion', model: 'iris', ...overrides });
      d.chain(model, champion);
      const evaluate = d.process<unknown, { metrics: Record<string, number> }>({
        taskId: 'evaluate',
        argv: ['python', 'evaluate.py'],
      })({ model: model.get('model'), champion });
      d.modelGate({
        taskId: 'validate_model',
        model: 'iris',
        candidate: model.get('model'),
        metrics: evaluate.get('metrics'),
        baseline: evaluate.get('baseline' as never),
        champion,
        thresholds: { accuracy: { threshold: 0.8, greaterIsBetter: true } },
      });
    }),
    'ml.ts',
  ).spec;
}

describe('sdk: d.modelVersion()', () => {
  it('compiles to a model_version task that reads models:/<model>@<alias> and takes no input', () => {
    const spec = championDag();
    expect(task(spec, 'champion')).to.deep.include({
      kind: 'model_version',
      operator: 'ModelVersionOperator',
      upstream: ['train'],
      downstream: ['evaluate', 'validate_model'],
      input: null,
      model_version: { model: 'iris', alias: 'champion' },
    });
    expect(task(spec, 'evaluate').input).to.deep.equal({
      model: { $xcom: { task_id: 'train', key: 'return_value', path: ['model'] } },
      champion: { $xcom: { task_id: 'champion', key: 'return_value', path: [] } },
    });
    expect(task(spec, 'validate_model').input).to.deep.include({
      champion: { $xcom: { task_id: 'champion', key: 'return_value', path: [] } },
      baseline: { $xcom: { task_id: 'evaluate', key: 'return_value', path: ['baseline'] } },
    });
    expect(task(championDag({ alias: 'production' }), 'champion').model_version).to.deep.equal({
      model: 'iris',
      alias: 'production',
    });
  });

  const where = 'DAG "ml", task "champion": ';
  const cases: Array<[string, Partial<ModelVersionOptions>, string]> = [
    [
      'a model name with an alias in it',
      { model: 'iris@champion' },
      'model: expected a model name of 1..250 of A-Z a-z 0-9 _ . - (starting with a letter or digit), got "iris@champion"',
    ],
    [
      'a version where an alias belongs',
      { alias: 'v3' },
      'alias: expected an alias such as champion or challenger (a letter or _ first; not "latest", not a version like v3), got "v3"',
    ],
    [
      'an alias that is not a string',
      { alias: 1 as never },
      'alias: expected an alias such as champion or challenger (a letter or _ first; not "latest", not a version like v3), got 1',
    ],
  ];
  for (const [what, overrides, message] of cases) {
    it(`refuses ${what}, naming the field`, () => expectError(() => championDag(overrides), where + message));
  }
});
