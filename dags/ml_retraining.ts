/**
 * The reference retraining pipeline (docs/ml-pipeline.md): extract → validate_data → prepare →
 * train → evaluate → validate_model → serve → monitor on scikit-learn's bundled breast cancer table.
 * `champion` reads the registry (models:/breast_cancer_classifier@champion) so evaluate scores the
 * current champion on the same test rows as the candidate, and the gate compares the two.
 * Every step but the gate is a real program of steps/ (Python; validate_data is R), run as a process
 * (the setup's venv and Rscript) or as a container (updraft/step-python, updraft/step-r on Docker or
 * Kubernetes): UPDRAFT_ML_RUNTIME=process|docker|kubernetes picks one for the whole graph when the
 * DAG file is parsed, so the worker's environment decides and the graph is the same on each.
 * UPDRAFT_ML_K8S_REAL_NODE=1 (with kubernetes) places the pods on the test cluster's real node.
 *
 * The run's params pick the data slice (`fraction` of the rows, `seed`, an optional `shift`), so a
 * second run on more or shifted data trains a challenger that the gate compares with the champion.
 */
import path from 'node:path';
import { dag, param } from '../sdk/index.js';
import type { ContainerTaskOptions, ProcessTaskOptions } from '../sdk/index.js';

export const MODEL_NAME = 'breast_cancer_classifier';

type Runtime = 'process' | 'docker' | 'kubernetes';
const RUNTIMES: readonly Runtime[] = ['process', 'docker', 'kubernetes'];

function runtimeFromEnv(): Runtime {
  const raw = process.env.UPDRAFT_ML_RUNTIME || 'process';
  if (!(RUNTIMES as readonly string[]).includes(raw)) {
    throw new Error(
      `UPDRAFT_ML_RUNTIME must be one of ${RUNTIMES.join(', ')} (how ml_retraining runs its steps), got "${raw}"`,
    );
  }
  return raw as Runtime;
}

const runtime = runtimeFromEnv();
// The DAG file sits in <repo>/dags; the step programs and the setup's venv are beside it.
const repo = path.resolve(__dirname, '..');
const stepsDir = process.env.UPDRAFT_ML_STEPS_DIR || path.join(repo, 'steps');
const python = process.env.UPDRAFT_ML_PYTHON || path.join(repo, '.updraft', 'venv', 'bin', 'python');
const rscript = process.env.UPDRAFT_ML_RSCRIPT || 'Rscript';
const pythonImage = process.env.UPDRAFT_ML_PYTHON_IMAGE || 'updraft/step-python:latest';
const rImage = process.env.UPDRAFT_ML_R_IMAGE || 'updraft/step-r:latest';
// Where serve publishes models (a server would read <dir>/<model>/deployment.json).
const servingDir =
  process.env.UPDRAFT_SERVING_DIR || path.join(process.env.UPDRAFT_HOME || path.join(repo, '.updraft'), 'serving');

// Kubernetes on the test cluster's real node (docs/kubernetes.md "The real node"): the node is this
// machine, so the images are the local engine's and host folders (the worker's local artifact
// store, which the executor mounts itself, and the serving folder) are shared with the pods.
const realNode = runtime === 'kubernetes' && !!process.env.UPDRAFT_ML_K8S_REAL_NODE;
const REAL_NODE_LABEL = 'updraft.dev/real-node';
const realNodeOptions: Partial<ContainerTaskOptions> = realNode
  ? {
      pullPolicy: 'never',
      networkMode: 'host',
      kubernetes: {
        nodeSelector: { [REAL_NODE_LABEL]: 'true' },
        tolerations: [{ key: REAL_NODE_LABEL, operator: 'Equal', value: 'true', effect: 'NoSchedule' }],
      },
    }
  : {};

type StepOptions = { taskId: string; env?: Record<string, string>; mounts?: ContainerTaskOptions['mounts'] };

/** One step program as a process or a container task, by the runtime. */
function stepTask(lang: 'python' | 'r', program: string, o: StepOptions): ProcessTaskOptions | ContainerTaskOptions {
  const env = { ...o.env };
  if (runtime === 'process') {
    return {
      taskId: o.taskId,
      argv:
        lang === 'python'
          ? [python, path.join(stepsDir, 'python', program)]
          : [rscript, path.join(stepsDir, 'r', program)],
      env,
    };
  }
  // Pods cannot be read after they end: outputs travel as a manifest through the artifact store.
  if (runtime === 'kubernetes') env.UPDRAFT_OUTPUT_MANIFEST = '1';
  return {
    taskId: o.taskId,
    image: lang === 'python' ? pythonImage : rImage,
    // args keep the images' tini entrypoint, so signals reach the step.
    args: lang === 'python' ? ['python', `/steps/python/${program}`] : ['Rscript', `/steps/r/${program}`],
    env,
    mounts: o.mounts,
    runtime,
    ...realNodeOptions,
  };
}

export default dag(
  {
    dagId: 'ml_retraining',
    description: 'Retrain the breast cancer classifier on a data slice; promote it if it beats the champion',
    tags: ['ml', 'reference'],
    params: {
      fraction: param(0.6, {
        type: 'number',
        exclusiveMinimum: 0,
        maximum: 1,
        description: 'share of the 569 rows to train and test on (a larger one with the same seed is a superset)',
      }),
      seed: param(0, { type: 'integer', minimum: 0, description: 'seed of the row permutation' }),
      shift: param(null, {
        type: ['object', 'null'],
        description: 'simulated drift: {"columns": [names] or null (all), "offset_std": 0.0, "scale": 1.0}',
      }),
    },
    defaultArgs: { owner: 'ml', retries: 1, retryDelay: '5s' },
  },
  (d) => {
    const step = <I, O>(lang: 'python' | 'r', program: string, o: StepOptions) => {
      const options = stepTask(lang, program, o);
      return 'argv' in options ? d.process<I, O>(options) : d.container<I, O>(options);
    };
    type Ref = { $artifact: Record<string, unknown> };

    const extract = step<void, { dataset: Ref; rows: number; columns: number }>('python', 'extract.py', {
      taskId: 'extract',
      // Env values are templated, the input is not: the run's params reach the step this way.
      env: {
        UPDRAFT_STEP_PARAMS: '{{ {"fraction": params.fraction, "seed": params.seed, "shift": params.shift} | tojson }}',
      },
    });
    const validateData = step<{ dataset: Ref }, { valid: boolean; report: Ref }>('r', 'validate_data.R', {
      taskId: 'validate_data',
    });
    const prepare = step<{ dataset: Ref }, { train: Ref; test: Ref; reference_stats: Ref }>('python', 'prepare.py', {
      taskId: 'prepare',
    });
    const train = step<{ train: Ref }, { model: Ref; model_sha256: string }>('python', 'train.py', {
      taskId: 'train',
      env: { UPDRAFT_STEP_PARAMS: JSON.stringify({ model_name: MODEL_NAME }) },
    });
    type Metrics = Record<string, number>;
    const evaluate = step<
      { model: Ref; test: Ref; champion: unknown },
      { metrics: Metrics; baseline: { version: number; metrics: Metrics } | null; evaluation: Ref; golden: Ref }
    >('python', 'evaluate.py', { taskId: 'evaluate' });
    const serve = step<{ model: Ref; golden: Ref }, { served: boolean; version: string }>('python', 'serve.py', {
      taskId: 'serve',
      ...(runtime === 'docker' || realNode
        ? { env: { UPDRAFT_SERVING_DIR: '/serving' }, mounts: [{ source: servingDir, target: '/serving' }] }
        : runtime === 'process'
          ? { env: { UPDRAFT_SERVING_DIR: servingDir } }
          : // Kubernetes on a node that shares no folder with the worker: the pod's own folder (the smoke test still runs).
            { env: { UPDRAFT_SERVING_DIR: '/tmp/serving' } }),
    });
    const monitor = step<{ reference: Ref; current: Ref }, { drift: boolean; report: Ref }>('python', 'monitor.py', {
      taskId: 'monitor',
    });

    const data = extract();
    const checked = validateData({ dataset: data.get('dataset') });
    const split = prepare({ dataset: data.get('dataset') });
    d.chain(checked, split);
    const model = train({ train: split.get('train') });
    // models:/<name>@champion, resolved once: evaluate scores it on the same test rows as the
    // candidate, and the gate promotes only if the alias still points there (a lost race otherwise).
    const champion = d.modelVersion({ taskId: 'champion', model: MODEL_NAME, alias: 'champion' });
    // Read after training, right before evaluate: the shortest window for another run to move it.
    d.chain(model, champion);
    const scored = evaluate({ model: model.get('model'), test: split.get('test'), champion });
    const gate = d.modelGate({
      taskId: 'validate_model',
      model: MODEL_NAME,
      candidate: model.get('model'),
      metrics: scored.get('metrics'),
      baseline: scored.get('baseline'),
      champion,
      // MLflow's rules: an absolute bar for every model, and a challenger must beat the champion's
      // accuracy by half a point without losing on ROC AUC or log loss.
      thresholds: {
        accuracy: { threshold: 0.9, minAbsoluteChange: 0.005, greaterIsBetter: true },
        roc_auc: { threshold: 0.95, minAbsoluteChange: 0, greaterIsBetter: true },
        log_loss: { threshold: 0.3, minAbsoluteChange: 0, greaterIsBetter: false },
      },
      promoteTo: 'champion',
      otherwiseAlias: 'challenger',
    });
    const served = serve({ model: gate.get('artifact'), golden: scored.get('golden') });
    const monitored = monitor({ reference: split.get('train'), current: data.get('dataset') });
    d.chain(served, monitored);
  },
);
