/**
 * Type-level tests of d.modelGate() (compiled by `npm run typecheck`): its output is a
 * ModelGateResult whose fields feed typed tasks; options are checked.
 */
import { dag, type ArtifactRefJson, type XComArg } from '../../sdk/index.js';

dag({ dagId: 'typings_gate' }, (d) => {
  const train = d.task({ taskId: 'train' }, () => ({ model: { $model_version: { model: 'iris', version: 1 } } }));
  const gate = d.modelGate({
    taskId: 'validate_model',
    model: 'iris',
    candidate: train().get('model'),
    thresholds: { accuracy: { threshold: 0.9, greaterIsBetter: true } },
  });
  const serve = d.task({ taskId: 'serve' }, (ref: ArtifactRefJson) => ref.$artifact.sha256);
  const served: XComArg<string> = serve(gate.get('artifact'));
  const label = d.task({ taskId: 'label' }, (s: string) => s);
  label(gate.get('reason'));
  d.chain(gate, served);

  // @ts-expect-error a version number is not a string
  label(gate.get('version'));
  d.modelGate({
    taskId: 'g2',
    model: 'iris',
    candidate: train().get('model'),
    // @ts-expect-error thresholds need a direction
    thresholds: { accuracy: { threshold: 0.9 } },
  });
  // @ts-expect-error metrics is an output, a map, or 'candidate_version'
  d.modelGate({ taskId: 'g3', model: 'iris', candidate: train().get('model'), metrics: 'latest', thresholds: {} });
});
