/**
 * The reference retraining pipeline (dags/ml_retraining.ts) end to end: real Python and R step
 * programs, the real Temporal server, the registry, evaluations, promotions and lineage read back
 * from the database and checked exactly.
 *
 * - Docker (real dockerd, DOCKER_HOST; the step images built locally with deploy/images/build.sh):
 *   run 1 on 60% of the rows → version 1 becomes the champion on the thresholds alone; run 2 on all
 *   rows → version 2, evaluated against version 1 scored on run 2's own test rows, beats it and is
 *   promoted.
 * - Processes (the setup's venv, steps/setup-venv.sh, and Rscript): run 1 on all rows → champion;
 *   run 2 on 60% → evaluated against version 1 on run 2's test rows, refused: it stays a
 *   challenger, serve and monitor are skipped with the gate's reason. The 60% model's bytes equal
 *   the Docker run's (reproducible across runtimes).
 * In every second run the baseline is the champion's file scored by evaluate on the same rows as
 * the candidate (not the metrics recorded when it was promoted, on another split): checked against
 * a separate scoring of that file on that test table, and in the lineage (evaluate read its file, the gate its ref).
 * - Kubernetes on the test cluster's real node (only with UPDRAFT_TEST_K8S_REAL_NODE; skipped saying
 *   why otherwise): run 1 on 60% → version 1, champion, lineage exact, the Docker run's model bytes;
 *   once through the worker's local store (a folder the pods share) and once through the S3 store
 *   (the real S3-compatible test server, UPDRAFT_TEST_S3_*: the step helpers read and write the
 *   bucket themselves, with the worker's keys from the Secret the executor makes).
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { expect } from 'chai';
import type { Kysely } from 'kysely';
import { triggerDagRun } from '../../client/trigger.js';
import { dagRunResult } from '../../client/run-result.js';
import type { Database } from '../../db/database.js';
import { listTaskInstances } from '../../db/task-instance.repository.js';
import { getXCom } from '../../db/xcom.repository.js';
import { downstreamOfArtifacts, lineageOfRun } from '../../db/lineage.repository.js';
import {
  listModelVersions,
  promotionHistory,
  resolveAlias,
  upstreamOfModelVersion,
} from '../../db/model-registry.repository.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { tempDir } from '../helpers/servers.js';
import { s3TestEnv, s3TestStore } from '../helpers/s3.js';
import { loadConfig } from '../../worker/config.js';

const REPO = path.resolve(__dirname, '..', '..', '..');
// The step images the DAG runs (UPDRAFT_ML_*_IMAGE pick other tags, as for the DAG itself).
const STEP_IMAGES = [
  process.env.UPDRAFT_ML_PYTHON_IMAGE || 'updraft/step-python:latest',
  process.env.UPDRAFT_ML_R_IMAGE || 'updraft/step-r:latest',
];
const DAG_ID = 'ml_retraining';
const MODEL = 'breast_cancer_classifier';
// As the DAG authors them; the evaluation row keeps them so.
const THRESHOLDS = {
  accuracy: { threshold: 0.9, minAbsoluteChange: 0.005, greaterIsBetter: true },
  roc_auc: { threshold: 0.95, minAbsoluteChange: 0, greaterIsBetter: true },
  log_loss: { threshold: 0.3, minAbsoluteChange: 0, greaterIsBetter: false },
};
// What every task of one run reads and writes (artifact names), as lineage must record it.
const RUN_LINEAGE = {
  extract: { input: [], output: ['dataset'] },
  validate_data: { input: ['dataset'], output: ['validation_report'] },
  prepare: { input: ['dataset'], output: ['reference_stats', 'test', 'train'] },
  train: { input: ['train'], output: ['model'] },
  champion: { input: [], output: [] },
  evaluate: { input: ['model', 'test'], output: ['evaluation', 'golden'] },
  validate_model: { input: ['model'], output: [] },
  serve: { input: ['golden', 'model'], output: ['deployment'] },
  monitor: { input: ['dataset', 'train'], output: ['drift_report'] },
};

// A second run's evaluate also reads the champion's model file (another artifact named "model"),
// and the gate its ref (the champion pin); serve and monitor run only when the gate promoted.
const SECOND_RUN_LINEAGE = {
  ...RUN_LINEAGE,
  evaluate: { input: ['model', 'model', 'test'], output: ['evaluation', 'golden'] },
  validate_model: { input: ['model', 'model'], output: [] },
};
const { serve: _serve, monitor: _monitor, ...SECOND_RUN_REJECTED_LINEAGE } = SECOND_RUN_LINEAGE;

type Metrics = Record<string, number>;

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

interface RunOutcome {
  runId: string;
  state: string;
  tasks: Record<string, string>;
  metrics: Metrics;
  /** evaluate's `baseline`: the champion's metrics on this run's test rows (null without one). */
  baseline: { version: number; metrics: Metrics } | null;
  /** What the champion task resolved (null: no champion yet). */
  champion: { version: number; sha256: string; artifact: { $artifact: { sha256: string; uri: string } } } | null;
  /** The gate's XCom fields about the comparison. */
  gate: { outcome: string; baseline_version: number | null; baseline_metrics_from: string | null };
  /** prepare's test table of this run. */
  test: { $artifact: { sha256: string; uri: string } };
  modelSha256: string;
}

async function runPipeline(stack: TestStack, conf: Record<string, unknown>): Promise<RunOutcome> {
  const run = await triggerDagRun(stack.database.db, stack.client, {
    dagId: DAG_ID,
    conf,
    runOptions: stack.config.run,
  });
  const result = await dagRunResult(run.handle);
  const tis = await listTaskInstances(stack.database.db, DAG_ID, run.runId);
  const tasks = Object.fromEntries(tis.map((t) => [t.task_id, t.state ?? 'none']));
  const xcom = (task_id: string) =>
    getXCom(stack.database.db, { dag_id: DAG_ID, run_id: run.runId, task_id, map_index: -1, key: 'return_value' });
  const evaluated = (await xcom('evaluate')) as Pick<RunOutcome, 'metrics' | 'baseline'> | undefined;
  const trained = (await xcom('train')) as { model_sha256: string } | undefined;
  expect(evaluated, `evaluate's XCom (run ${run.runId}, tasks ${JSON.stringify(tasks)})`).to.be.an('object');
  return {
    runId: run.runId,
    state: result.state,
    tasks,
    metrics: evaluated!.metrics,
    baseline: evaluated!.baseline,
    champion: (await xcom('champion')) as RunOutcome['champion'],
    gate: (await xcom('validate_model')) as RunOutcome['gate'],
    test: ((await xcom('prepare')) as { test: RunOutcome['test'] }).test,
    modelSha256: trained!.model_sha256,
  };
}

/** Per task of the run: the names of the artifacts it consumed and produced. */
async function lineageByTask(
  db: Kysely<Database>,
  runId: string,
): Promise<Record<string, { input: string[]; output: string[] }>> {
  const graph = await lineageOfRun(db, DAG_ID, runId);
  const names = new Map(graph.artifacts.map((a) => [a.id, a.name]));
  const out: Record<string, { input: string[]; output: string[] }> = {};
  for (const x of graph.executions) {
    const events = graph.events.filter((e) => e.execution_id === x.id);
    out[x.task_id] = {
      input: events
        .filter((e) => e.kind === 'input')
        .map((e) => names.get(e.artifact_id)!)
        .sort(),
      output: events
        .filter((e) => e.kind === 'output')
        .map((e) => names.get(e.artifact_id)!)
        .sort(),
    };
  }
  return out;
}

/** What the registry says about the model: versions with their source run, aliases, promotions, evaluations. */
async function registry(db: Kysely<Database>) {
  const versions = (await listModelVersions(db, MODEL))
    .map((v) => ({ version: v.version, run: v.source_run_id, task: v.source_task_id, sha256: v.sha256 }))
    .sort((a, b) => a.version - b.version);
  const champion = (await resolveAlias(db, MODEL, 'champion'))?.version ?? null;
  const challenger = (await resolveAlias(db, MODEL, 'challenger'))?.version ?? null;
  const promotions = (await promotionHistory(db, MODEL)).map((p) => ({
    alias: p.alias,
    action: p.action,
    from: p.from_version,
    to: p.to_version,
    evaluation: p.evaluation_id,
  }));
  const evaluations = await db
    .selectFrom('model_evaluation as e')
    .innerJoin('model_version as c', 'c.id', 'e.candidate_version_id')
    .leftJoin('model_version as b', 'b.id', 'e.baseline_version_id')
    .select([
      'e.id',
      'c.version as candidate',
      'b.version as baseline',
      'e.candidate_metrics',
      'e.baseline_metrics',
      'e.thresholds',
      'e.decision',
      'e.failures',
      'e.run_id',
      'e.task_id',
    ])
    .orderBy('e.id')
    .execute();
  return { versions, champion, challenger, promotions, evaluations };
}

/**
 * The champion's model file scored on a test table by a separate run of evaluate.py (as the
 * candidate, outside the pipeline): what the second run's baseline must be. The venv runs it; without
 * one (a Docker-only machine), the step image does, with the artifact store mounted.
 */
function scoreSeparately(model: { $artifact: { uri: string } }, test: { $artifact: { uri: string } }): Metrics {
  const dir = tempDir('score-champion');
  const input = { model, test };
  const python = path.join(REPO, '.updraft', 'venv', 'bin', 'python');
  const files = [model, test].map((r) => new URL(r.$artifact.uri).pathname);
  if (fs.existsSync(python)) {
    fs.writeFileSync(path.join(dir, 'input.json'), JSON.stringify(input));
    execFileSync(python, [path.join(REPO, 'steps', 'python', 'evaluate.py')], {
      env: { PATH: process.env.PATH, UPDRAFT_INPUT_FILE: path.join(dir, 'input.json'), UPDRAFT_XCOM_DIR: dir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } else {
    execFileSync(
      'docker',
      [
        'run',
        '--rm',
        '--user',
        `${process.getuid?.() ?? 0}`,
        ...files.flatMap((f) => ['-v', `${f}:${f}:ro`]),
        '-v',
        `${dir}:/out`,
        '-e',
        `UPDRAFT_INPUT=${JSON.stringify(input)}`,
        '-e',
        'UPDRAFT_XCOM_DIR=/out',
        'updraft/step-python:latest',
        'python',
        '/steps/python/evaluate.py',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  }
  return (JSON.parse(fs.readFileSync(path.join(dir, 'return.json'), 'utf8')) as { metrics: Metrics }).metrics;
}

/**
 * A second run's comparison: evaluate scored the champion (version 1, as the champion task
 * resolved it) on this run's test rows, exactly as a separate scoring of its file gives; the gate
 * took those metrics ("input") and the evaluation row stores them; they are not the metrics
 * recorded when version 1 was promoted (another split); lineage shows evaluate reading its file.
 */
async function expectSameRowsBaseline(
  db: Kysely<Database>,
  first: { metrics: Metrics; sha256: string },
  second: RunOutcome,
  evaluation: { baseline: number | null; baseline_metrics: Metrics | null },
): Promise<void> {
  expect(second.champion?.version).to.equal(1);
  expect(second.champion!.sha256).to.equal(first.sha256);
  const scored = scoreSeparately(second.champion!.artifact, second.test);
  expect(second.baseline).to.deep.equal({ version: 1, metrics: scored });
  expect(evaluation.baseline).to.equal(1);
  expect(evaluation.baseline_metrics).to.deep.equal(scored);
  expect(evaluation.baseline_metrics).to.not.deep.equal(first.metrics);
  expect(second.gate).to.deep.include({ baseline_version: 1, baseline_metrics_from: 'input' });
  expect(await lineageByTask(db, second.runId)).to.deep.equal(
    second.gate.outcome === 'promoted' ? SECOND_RUN_LINEAGE : SECOND_RUN_REJECTED_LINEAGE,
  );
  const v1 = await db.selectFrom('artifact').selectAll().where('sha256', '=', first.sha256).executeTakeFirstOrThrow();
  // `updraft lineage <v1 sha256> --downstream`: the tries of run 2 that read version 1's file itself
  // (the graph goes on transitively: serve reads what evaluate wrote).
  const down = await downstreamOfArtifacts(db, [v1.id]);
  const readers = down.events
    .filter((e) => e.kind === 'input' && e.artifact_id === v1.id)
    .map((e) => down.executions.find((x) => x.id === e.execution_id)!)
    .filter((x) => x.run_id === second.runId)
    .map((x) => x.task_id)
    .sort();
  expect(readers).to.deep.equal(['evaluate', 'validate_model']);
}

function expectAllSucceeded(r: RunOutcome): void {
  expect(r.state, JSON.stringify(r.tasks)).to.equal('success');
  expect(r.tasks).to.deep.equal(Object.fromEntries(Object.keys(RUN_LINEAGE).map((t) => [t, 'success'])));
}

/** The checks after a first run on an empty registry: version 1 is the champion on the thresholds alone. */
async function expectFirstChampion(db: Kysely<Database>, first: RunOutcome): Promise<void> {
  expectAllSucceeded(first);
  const reg = await registry(db);
  expect(reg.versions).to.deep.equal([{ version: 1, run: first.runId, task: 'train', sha256: first.modelSha256 }]);
  expect(reg.champion).to.equal(1);
  expect(reg.promotions).to.deep.equal([
    { alias: 'champion', action: 'promote', from: null, to: 1, evaluation: reg.evaluations[0]!.id },
  ]);
  expect(reg.evaluations).to.have.length(1);
  const e = reg.evaluations[0]!;
  expect({
    candidate: e.candidate,
    baseline: e.baseline,
    decision: e.decision,
    failures: e.failures,
    run: e.run_id,
    task: e.task_id,
  }).to.deep.equal({
    candidate: 1,
    baseline: null,
    decision: 'pass',
    failures: [],
    run: first.runId,
    task: 'validate_model',
  });
  expect(e.candidate_metrics).to.deep.equal(first.metrics);
  expect(e.baseline_metrics).to.equal(null);
  expect(e.thresholds).to.deep.equal(THRESHOLDS);
  expect(await lineageByTask(db, first.runId)).to.deep.equal(RUN_LINEAGE);
  // No champion yet: nothing to score beside the candidate, and the promotion expected the alias unset.
  expect([first.champion, first.baseline]).to.deep.equal([null, null]);
  expect(first.gate).to.deep.include({ outcome: 'promoted', baseline_version: null, baseline_metrics_from: null });

  // Everything upstream of the champion: the data it was built from and the tries that made it.
  const up = await upstreamOfModelVersion(db, MODEL, 1);
  expect(up.runs).to.deep.equal([{ dag_id: DAG_ID, run_id: first.runId }]);
  expect(up.executions.map((x) => x.task_id).sort()).to.deep.equal(['extract', 'prepare', 'train']);
  expect(up.artifacts.map((a) => `${a.type}:${a.name}`).sort()).to.deep.equal([
    'dataset:dataset',
    'dataset:train',
    'model:model',
  ]);
  expect(up.trainingData.map((a) => a.name)).to.include('train');
}

describe('ml_retraining, the reference pipeline', function () {
  this.timeout(1_800_000);
  let reference06: string | null = null; // the 60% model's sha256 from the Docker run

  function withRuntime(
    runtime: 'process' | 'docker' | 'kubernetes',
    extra: () => Partial<Parameters<typeof startTestStack>[0]>,
  ) {
    let stack: TestStack;
    let saved: Record<string, string | undefined> = {};
    before(async function () {
      saved = {
        UPDRAFT_ML_RUNTIME: process.env.UPDRAFT_ML_RUNTIME,
        UPDRAFT_SERVING_DIR: process.env.UPDRAFT_SERVING_DIR,
      };
      // The DAG file reads these when it is parsed: set them before the stack parses the folder.
      process.env.UPDRAFT_ML_RUNTIME = runtime;
      process.env.UPDRAFT_SERVING_DIR = tempDir(`serving-${runtime}`);
      stack = await startTestStack({ dagsFolder: path.join(REPO, 'dags'), ...extra() });
      expect(
        stack.bag.get(DAG_ID),
        `ml_retraining did not load: ${JSON.stringify(stack.bag.importErrors)}`,
      ).to.not.equal(undefined);
    });
    after(async () => {
      await stack?.stop();
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    });
    return () => stack;
  }

  describe('on Docker: a champion, then a challenger on more data that beats it', function () {
    const stack = withRuntime('docker', () => {
      if (!process.env.DOCKER_HOST)
        throw new Error('DOCKER_HOST is not set: run `eval "$(scripts/services/dockerd.sh start)"` (or `make test`)');
      for (const image of STEP_IMAGES) {
        try {
          execFileSync('docker', ['image', 'inspect', image], { stdio: 'ignore' });
        } catch {
          throw new Error(
            `${image} is not on the Docker engine at ${process.env.DOCKER_HOST}: build it with deploy/images/build.sh (cached after the first build)`,
          );
        }
      }
      return { containers: { dockerSocket: process.env.DOCKER_HOST!.replace(/^unix:\/\//, '') } };
    });

    it('run 1 (60% of the rows): version 1, champion on the thresholds alone, lineage exact', async () => {
      const first = await runPipeline(stack(), { fraction: 0.6 });
      await expectFirstChampion(stack().database.db, first);
      reference06 = first.modelSha256;
      // serve published that model where the worker's serving folder says.
      const deployment = JSON.parse(
        fs.readFileSync(path.join(process.env.UPDRAFT_SERVING_DIR!, MODEL, 'deployment.json'), 'utf8'),
      ) as { sha256: string };
      expect(deployment.sha256).to.equal(first.modelSha256);
    });

    it('run 2 (all rows): version 2, evaluated against version 1, promoted', async () => {
      const db = stack().database.db;
      const second = await runPipeline(stack(), { fraction: 1.0 });
      expectAllSucceeded(second);
      const reg = await registry(db);
      expect(reg.versions.map((v) => [v.version, v.run])).to.deep.equal([
        [1, reg.versions[0]!.run],
        [2, second.runId],
      ]);
      expect(reg.champion).to.equal(2);
      const e = reg.evaluations[1]!;
      expect({
        candidate: e.candidate,
        baseline: e.baseline,
        decision: e.decision,
        failures: e.failures,
      }).to.deep.equal({
        candidate: 2,
        baseline: 1,
        decision: 'pass',
        failures: [],
      });
      expect(e.candidate_metrics).to.deep.equal(second.metrics);
      await expectSameRowsBaseline(
        db,
        { metrics: reg.evaluations[0]!.candidate_metrics, sha256: reg.versions[0]!.sha256 },
        second,
        e,
      );
      // The thresholds say why: on the same rows 0.982 >= 0.974 + 0.005 accuracy, and no loss on
      // ROC AUC or log loss (version 1 had scored 0.957 on its own run's test rows).
      expect(second.metrics.accuracy).to.be.at.least(e.baseline_metrics!.accuracy! + 0.005);
      expect(reg.promotions).to.deep.equal([
        { alias: 'champion', action: 'promote', from: null, to: 1, evaluation: reg.evaluations[0]!.id },
        { alias: 'champion', action: 'promote', from: 1, to: 2, evaluation: e.id },
      ]);
      const up = await upstreamOfModelVersion(db, MODEL, 2);
      expect(up.runs).to.deep.equal([{ dag_id: DAG_ID, run_id: second.runId }]);
    });
  });

  describe('as processes: a champion, then a challenger on less data that is refused', function () {
    const stack = withRuntime('process', () => {
      const python = path.join(REPO, '.updraft', 'venv', 'bin', 'python');
      if (!fs.existsSync(python))
        throw new Error(`${python} is missing: run steps/setup-venv.sh (it builds the venv from PyPI and installs R)`);
      return {};
    });

    it('run 1 (all rows): version 1, champion', async () => {
      await expectFirstChampion(stack().database.db, await runPipeline(stack(), { fraction: 1.0 }));
    });

    it('run 2 (60% of the rows): evaluated against version 1, refused; serve and monitor skipped', async () => {
      const db = stack().database.db;
      const second = await runPipeline(stack(), { fraction: 0.6 });
      expect(second.tasks).to.deep.equal({
        extract: 'success',
        validate_data: 'success',
        prepare: 'success',
        train: 'success',
        champion: 'success',
        evaluate: 'success',
        validate_model: 'success',
        serve: 'skipped',
        monitor: 'skipped',
      });
      const reg = await registry(db);
      expect(reg.champion).to.equal(1);
      expect(reg.challenger).to.equal(2);
      const e = reg.evaluations[1]!;
      expect({ candidate: e.candidate, baseline: e.baseline, decision: e.decision }).to.deep.equal({
        candidate: 2,
        baseline: 1,
        decision: 'fail',
      });
      expect((e.failures as Array<{ metric: string }>).map((f) => f.metric).sort()).to.deep.equal([
        'accuracy',
        'log_loss',
        'roc_auc',
      ]);
      // Version 1 on run 2's 69 test rows (0.986 accuracy), not on its own run's 114 (0.982).
      await expectSameRowsBaseline(
        db,
        { metrics: reg.evaluations[0]!.candidate_metrics, sha256: reg.versions[0]!.sha256 },
        second,
        e,
      );
      expect(second.gate.outcome).to.equal('rejected');
      expect(reg.promotions.filter((p) => p.alias === 'champion')).to.have.length(1);
      // The same data and params give the same model bytes on another runtime.
      if (reference06 !== null) expect(second.modelSha256).to.equal(reference06);
    });
  });

  /** The stack options for the test cluster's real node (the images must be in its engine). */
  function realNodeStackOptions(): Partial<Parameters<typeof startTestStack>[0]> {
    for (const image of STEP_IMAGES) {
      try {
        execFileSync('docker', ['image', 'inspect', image], { stdio: 'ignore' });
      } catch {
        throw new Error(
          `${image} is not on the Docker engine of the real node (${process.env.DOCKER_HOST}): build it with deploy/images/build.sh`,
        );
      }
    }
    process.env.UPDRAFT_ML_K8S_REAL_NODE = '1';
    return {
      containers: {
        kubeconfig: process.env.KUBECONFIG ?? null,
        kubeNamespace: process.env.UPDRAFT_TEST_K8S_NAMESPACE ?? 'default',
        kubePendingTimeoutSeconds: 120,
      },
    };
  }

  /** Run 1 (60%) on the real node: version 1 the champion, the Docker run's bytes, published by serve. */
  async function realNodeFirstRun(stack: TestStack): Promise<RunOutcome> {
    const first = await runPipeline(stack, { fraction: 0.6 });
    await expectFirstChampion(stack.database.db, first);
    if (reference06 !== null) expect(first.modelSha256).to.equal(reference06);
    const deployment = JSON.parse(
      fs.readFileSync(path.join(process.env.UPDRAFT_SERVING_DIR!, MODEL, 'deployment.json'), 'utf8'),
    ) as { sha256: string };
    expect(deployment.sha256).to.equal(first.modelSha256);
    return first;
  }

  function skipWithoutRealNode(this: Mocha.Context): void {
    if (!process.env.UPDRAFT_TEST_K8S_REAL_NODE) {
      console.log(
        '      skipped: UPDRAFT_TEST_K8S_REAL_NODE is not set (start scripts/services/k8s.sh with its real node; the kwok nodes run no containers)',
      );
      this.skip();
    }
  }

  describe("on Kubernetes (the test cluster's real node)", function () {
    // The real node is this machine: the pods mount the worker's local artifact store (the executor
    // does) and the serving folder (the DAG does), and run the locally built images.
    before(skipWithoutRealNode);
    const stack = withRuntime('kubernetes', realNodeStackOptions);
    after(() => {
      delete process.env.UPDRAFT_ML_K8S_REAL_NODE;
    });

    it('run 1 (60% of the rows): version 1, champion, lineage exact, the same model bytes as on Docker', async () => {
      await realNodeFirstRun(stack());
    });
  });

  describe("on Kubernetes with the S3 artifact store (the test cluster's real node)", function () {
    // As a cluster whose nodes share no disk with the worker: no store folder is mounted; the Python
    // and R helpers read their inputs from the bucket and put their outputs there (SigV4 clients),
    // reaching the S3 server on 127.0.0.1 through the host network.
    let s3: ReturnType<typeof s3TestEnv>;
    const prefix = `ml-k8s-${process.pid}-${Date.now()}`;
    const saved: Record<string, string | undefined> = {};
    before(skipWithoutRealNode);
    before(() => {
      s3 = s3TestEnv();
      // The worker's keys come from its environment (artifacts/config.ts), as in a deployment.
      for (const [k, v] of Object.entries({
        AWS_ACCESS_KEY_ID: s3.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
      })) {
        saved[k] = process.env[k];
        process.env[k] = v;
      }
    });
    const stack = withRuntime('kubernetes', () => ({
      ...realNodeStackOptions(),
      config: {
        ml: loadConfig({
          UPDRAFT_ARTIFACT_STORE: `s3://${s3.bucket}/${prefix}`,
          UPDRAFT_S3_ENDPOINT: s3.endpoint,
          AWS_REGION: s3.region,
        }).ml,
      },
    }));
    after(() => {
      delete process.env.UPDRAFT_ML_K8S_REAL_NODE;
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    });

    it('run 1 (60% of the rows): version 1, champion, lineage exact, every artifact in the bucket, no key in a log', async () => {
      const first = await realNodeFirstRun(stack());

      // Every artifact of the run is an object of the worker's bucket and prefix, with its size.
      const store = s3TestStore(prefix);
      const graph = await lineageOfRun(stack().database.db, DAG_ID, first.runId);
      expect(graph.artifacts.map((a) => a.name).sort()).to.deep.equal(
        [...new Set(Object.values(RUN_LINEAGE).flatMap((t) => [...t.input, ...t.output]))].sort(),
      );
      for (const a of graph.artifacts) {
        expect(a.uri, a.name).to.equal(store.uriFor(a.sha256));
        expect(await store.stat(a.sha256), a.name).to.deep.equal({ size: Number(a.size) });
      }
      // The keys reached the pods through the Secret only: no task log holds the secret key, and the
      // step logs show the helpers wrote to the bucket themselves.
      const logs = filesUnder(stack().config.logsFolder).map((f) => fs.readFileSync(f, 'utf8'));
      expect(logs.join('\n')).to.include(`at s3://${s3.bucket}/${prefix}/sha256/`);
      expect(logs.filter((text) => text.includes(s3.secretAccessKey))).to.deep.equal([]);
    });
  });
});
