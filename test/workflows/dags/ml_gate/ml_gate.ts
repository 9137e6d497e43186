/**
 * The champion/challenger gate on the real stack: train hands over the candidate the run's conf
 * names (an ArtifactRef or a $model_version ref), evaluate its metrics (and, when given, the
 * champion's on the same data); validate_model is the gate; serve and monitor are its promoted path.
 */
import { dag, type Json } from '../../../../sdk/index.js';

type Metrics = Record<string, number>;

export default dag(
  { dagId: 'ml_gate', tags: ['test'], params: { candidate: null, metrics: null, baseline: null } },
  (d) => {
    const train = d.task({ taskId: 'train' }, (_: void, ctx) => ({ model: ctx.params.candidate as Json }));
    const model = train().get('model');
    const evaluate = d.task({ taskId: 'evaluate' }, (_: unknown, ctx) => ({
      metrics: ctx.params.metrics as Metrics,
      baseline: ctx.params.baseline as { version: number; metrics: Metrics } | null,
    }));
    const evaluation = evaluate({ model });
    const gate = d.modelGate({
      taskId: 'validate_model',
      model: 'iris_classifier',
      candidate: model,
      metrics: evaluation.get('metrics'),
      baseline: evaluation.get('baseline'),
      thresholds: {
        accuracy: { threshold: 0.8, minAbsoluteChange: 0.01, greaterIsBetter: true },
        log_loss: { minRelativeChange: 0.05, greaterIsBetter: false },
      },
    });
    const serve = d.task({ taskId: 'serve' }, (ref: { $artifact: { sha256: string } }) => ({
      served: ref.$artifact.sha256,
    }));
    const served = serve(gate.get('artifact'));
    d.task({ taskId: 'monitor' }, (s: { served: string }) => s.served.slice(0, 12))(served);
  },
);
