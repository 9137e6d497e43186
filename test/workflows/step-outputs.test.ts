/// <reference types="mocha" />
/**
 * Step output protocol v1 end to end on the real stack (Temporal dev server, Postgres, dockerd):
 * metrics, params and artifacts from a process, a Docker container and an in-process task; input
 * artifacts materialized (read-only in the container); the same bytes stored once; the try recorded
 * in the ML record (execution, metrics, lineage events) and a model version registered from the
 * container step, with its reproducibility on a second run; OpenLineage events of the real runs
 * validated against the vendored schema; and each malformed output failing its try without retries.
 */
import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { listXComs } from '../../db/xcom.repository.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import { getExecution, listMetrics, lineageOfRun } from '../../db/lineage.repository.js';
import { listModelVersions } from '../../db/model-registry.repository.js';
import { dagRunUuid, taskTryUuid, type RunEvent } from '../../activities/lineage/openlineage.js';
import { LocalArtifactStore } from '../../artifacts/index.js';
import { s3TestEnv, s3TestStore } from '../helpers/s3.js';
import type { Json } from '../../spec/dag-spec.js';
import { loadValidator } from '../helpers/openlineage-schema.js';
import { tempDir } from '../helpers/servers.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { BAD_CASES } from './dags/ml/wf_bad_outputs.js';
import { DATA, MODEL_NAME } from './dags/ml/wf_step_outputs.js';
import { runDag, statesOf } from './helpers.js';
import { hashBytes } from '../../artifacts/hash.js';

const ML_DAGS = path.resolve(__dirname, '../../../test/workflows/dags/ml');

type Ref = {
  $artifact: {
    sha256: string;
    uri: string;
    name: string;
    type: string;
    format?: string;
    size: number;
    model_version?: { model: string; version: number };
  };
};

describe('step outputs: metrics, params and artifacts from every local executor kind (postgres, docker)', function () {
  this.timeout(180_000);
  let stack: TestStack;
  let olFile: string;
  let storeRoot: string;

  before(async function () {
    if (!process.env['DOCKER_HOST'])
      throw new Error(
        'DOCKER_HOST is not set: `source /work/svc/docker.env` or `eval "$(scripts/services/dockerd.sh start)"`',
      );
    const dir = tempDir('ml-out');
    olFile = path.join(dir, 'openlineage.jsonl');
    storeRoot = path.join(dir, 'store');
    const base = (await import('../../worker/config.js')).loadConfig(
      { UPDRAFT_ARTIFACT_STORE: `file://${storeRoot}`, UPDRAFT_OPENLINEAGE_FILE: olFile },
      dir,
    );
    stack = await startTestStack({ dagsFolder: ML_DAGS, db: 'postgres', config: { ml: base.ml } });
    expect(stack.bag.importErrors).to.deep.equal([]);
  });

  after(async function () {
    await stack?.stop();
  });

  const key = (runId: string, task: string) => ({
    dag_id: 'wf_step_outputs',
    run_id: runId,
    task_id: task,
    map_index: -1,
    try_number: 1,
  });

  it('records, stores, registers and emits lineage for a run; a second run reproduces the model', async function () {
    const db = stack.database.db;
    const first = await runDag(stack, 'wf_step_outputs');
    expect(first.result.state, JSON.stringify(first.result)).to.equal('success');
    expect(statesOf(first.tis)).to.deep.equal({
      make_data: ['success', 1],
      same_data: ['success', 1],
      train: ['success', 1],
      evaluate: ['success', 1],
    });
    const runId = first.triggered.runId;
    const xcoms = new Map(
      (await listXComs(db, 'wf_step_outputs', runId)).map((x) => [`${x.task_id}:${x.key}`, x.value as Json]),
    );

    // The dataset: stored once, content-addressed, its placeholder replaced in the XCom.
    const dataSha = hashBytes(Buffer.from(DATA));
    const store = new LocalArtifactStore(storeRoot);
    const made = xcoms.get('make_data:return_value') as { data: Ref; rows: number };
    expect(made).to.deep.equal({
      data: {
        $artifact: {
          sha256: dataSha,
          uri: store.uriFor(dataSha),
          name: 'dataset',
          type: 'dataset',
          format: 'csv',
          size: DATA.length,
        },
      },
      rows: 3,
    });
    expect(readFileSync(store.pathFor(dataSha), 'utf8')).to.equal(DATA);
    expect(readdirSync(path.join(storeRoot, 'sha256', dataSha.slice(0, 2)))).to.deep.equal([dataSha]);
    const logs = async (task: string) => (await readTaskLog(db, { ...key(runId, task) })).map((l) => l.line);
    const dupLines = [...(await logs('make_data')), ...(await logs('same_data'))].filter((l) =>
      l.startsWith('output artifact "dataset"'),
    );
    expect(dupLines).to.have.length(2);
    expect(dupLines.filter((l) => l.includes('(already in the store: stored once)'))).to.have.length(1);

    // The process's metrics and params.
    const makeExec = await getExecution(db, key(runId, 'make_data'));
    expect(makeExec).to.include({ state: 'success', dag_version_id: first.run.dag_version_id });
    expect(makeExec!.code_version).to.match(/^[0-9a-f]{16,}$/);
    expect(makeExec!.params).to.deep.equal({ seed: 7, source: 'inline', shuffle: false });
    expect((await listMetrics(db, makeExec!.id)).map((m) => [m.name, m.value, m.step])).to.deep.equal([
      ['loss', 0.5, 1],
      ['loss', 0.25, 2],
      ['rows', 3, 0],
    ]);

    // The container: it read the materialized input through the read-only mount and registered a model.
    const trained = xcoms.get('train:return_value') as { model: Ref; ro: boolean };
    expect(trained.ro, 'the input artifacts mount is read-only').to.equal(true);
    const modelText = `${dataSha}\n`;
    const modelSha = hashBytes(Buffer.from(modelText));
    expect(trained.model.$artifact).to.deep.equal({
      sha256: modelSha,
      uri: store.uriFor(modelSha),
      name: 'model',
      type: 'model',
      format: 'txt',
      size: modelText.length,
      model_version: { model: MODEL_NAME, version: 1 },
    });
    expect(xcoms.get('train:model_version')).to.deep.equal({
      $model_version: { model: MODEL_NAME, version: 1, sha256: modelSha, uri: store.uriFor(modelSha) },
    });
    const [v1] = await listModelVersions(db, MODEL_NAME);
    const trainExec = await getExecution(db, key(runId, 'train'));
    expect(v1).to.include({
      version: 1,
      sha256: modelSha,
      format: 'txt',
      source_dag_id: 'wf_step_outputs',
      source_run_id: runId,
      source_task_id: 'train',
      source_try_number: 1,
      source_execution_id: trainExec!.id,
    });
    expect(v1!.metrics).to.deep.equal({ train_accuracy: 0.75 });
    expect(v1!.signature).to.deep.equal({ inputs: [{ name: 'x' }], outputs: [{ name: 'y' }] });
    const lineage = await lineageOfRun(db, 'wf_step_outputs', runId);
    const dataArtifact = lineage.artifacts.find((a) => a.sha256 === dataSha && a.name === 'dataset')!;
    expect(v1!.training_data_artifact_ids).to.deep.equal([dataArtifact.id]);
    expect(v1!.reproducibility).to.deep.include({
      previous_version: null,
      same_as_previous: null,
      reproducible: true,
      reason: null,
    });

    // The in-process task: ctx.artifactPath, logMetric, logParam(s), logArtifact.
    const evaluated = xcoms.get('evaluate:return_value') as { report: Ref; modelText: string; dataRows: number };
    expect(evaluated.modelText).to.equal(dataSha);
    expect(evaluated.dataRows).to.equal(3);
    const reportBytes = JSON.stringify({ accuracy: 0.875 });
    expect(evaluated.report.$artifact).to.deep.include({
      sha256: hashBytes(Buffer.from(reportBytes)),
      name: 'report',
      type: 'report',
      format: 'json',
      size: reportBytes.length,
    });
    const evalExec = await getExecution(db, key(runId, 'evaluate'));
    expect(evalExec!.params).to.deep.equal({ threshold: 0.5, metric: 'accuracy', strict: true });
    expect((await listMetrics(db, evalExec!.id)).map((m) => [m.name, m.value, m.step])).to.deep.equal([
      ['accuracy', 0.5, 0],
      ['accuracy', 0.875, 1],
    ]);

    // Lineage of the run: who consumed and produced what.
    const byId = new Map(lineage.executions.map((e) => [e.id, e.task_id]));
    const artifactName = new Map(lineage.artifacts.map((a) => [a.id, a.name]));
    const edges = lineage.events
      .map((e) => `${byId.get(e.execution_id)} ${e.kind} ${artifactName.get(e.artifact_id)}`)
      .sort();
    expect(edges).to.deep.equal([
      'evaluate input dataset',
      'evaluate input model',
      'evaluate output report',
      'make_data output dataset',
      'same_data output dataset',
      'train input dataset',
      'train output model',
    ]);

    // Second run, same data and params: version 2 with the same bytes as version 1.
    const second = await runDag(stack, 'wf_step_outputs');
    expect(second.result.state).to.equal('success');
    const versions = await listModelVersions(db, MODEL_NAME);
    expect(versions.map((v) => [v.version, v.sha256])).to.deep.equal([
      [2, modelSha],
      [1, modelSha],
    ]);
    expect(versions[0]!.reproducibility).to.deep.include({
      previous_version: 1,
      same_as_previous: true,
      reproducible: true,
      reason: null,
    });
    expect(versions[0]!.reproducibility!.fingerprint).to.equal(v1!.reproducibility!.fingerprint);
    expect(await logs('train')).to.satisfy((ls: string[]) =>
      ls.some((l) => l.includes(`registered ${MODEL_NAME} version 1`)),
    );

    // OpenLineage: every event of both runs validates; the streams are complete and linked.
    const validate = await loadValidator();
    const events = readFileSync(olFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RunEvent);
    for (const e of events) expect(validate(e), `${e.eventType} ${e.job.name}`).to.deep.equal([]);
    const ofRun = (id: string) =>
      events.filter(
        (e) =>
          e.run.runId === dagRunUuid('wf_step_outputs', id) ||
          e.run.facets?.parent?.run.runId === dagRunUuid('wf_step_outputs', id),
      );
    const summary = ofRun(runId)
      .map((e) => `${e.job.name} ${e.eventType}`)
      .sort();
    expect(summary).to.deep.equal([
      'wf_step_outputs COMPLETE',
      'wf_step_outputs START',
      ...['evaluate', 'make_data', 'same_data', 'train'].flatMap((t) => [
        `wf_step_outputs.${t} COMPLETE`,
        `wf_step_outputs.${t} START`,
      ]),
    ]);
    const trainDone = events.find(
      (e) => e.run.runId === taskTryUuid('wf_step_outputs', runId, 'train', -1, 1) && e.eventType === 'COMPLETE',
    )!;
    expect(trainDone.inputs).to.deep.equal([{ namespace: 'file', name: store.pathFor(dataSha) }]);
    expect(trainDone.outputs).to.deep.equal([{ namespace: 'file', name: store.pathFor(modelSha) }]);
  });

  it('fails each malformed output on its first try, without retries, naming the file, line and field', async function () {
    const db = stack.database.db;
    const run = await runDag(stack, 'wf_bad_outputs');
    expect(run.result.state).to.equal('failed');
    const errors = Object.fromEntries(BAD_CASES.map((t) => [t, run.tis.get(t)!]));
    for (const [t, ti] of Object.entries(errors)) expect([t, ti.state, ti.try_number]).to.deep.equal([t, 'failed', 1]);
    const messages = Object.fromEntries(Object.entries(errors).map(([t, ti]) => [t, ti.error]));
    expect(messages).to.deep.equal({
      bad_metric_json: 'step output protocol: metrics.jsonl: line 2: not valid JSON (unexpected end of input)',
      bad_metric_value:
        'step output protocol: metrics.jsonl: line 3 field \'value\': metric "loss" needs a finite number, got a string',
      bad_metric_name:
        "step output protocol: metrics.jsonl: line 1 field 'name': expected a name of 1-250 letters, digits, '_', '-', '.', '/' (MLflow's rule), got a string of 9 characters that breaks it",
      bad_params:
        "step output protocol: params.json: param 'nested': expected a string, a finite number or a boolean (params are flat), got an object",
      missing_file:
        'step output protocol: artifacts.json: outputs[0].path: "model.onnx" does not exist in the output folder (write the file before declaring it)',
      escaping_path:
        "step output protocol: artifacts.json: outputs[0].path: contains '..'; paths must stay inside the output folder",
      folder_output:
        'step output protocol: artifacts.json: outputs[0].path: "m" is a directory; protocol v1 stores files only (archive it, e.g. as .tar)',
      register_dataset:
        "step output protocol: artifacts.json: outputs[0].register: only an artifact of type 'model' registers a model version",
      unknown_placeholder:
        'step output protocol: return.json: return.m.$artifact_out: "nope" is not an output in artifacts.json (declared: none)',
    });
    // The secret-looking value never reaches the record.
    expect(JSON.stringify(messages)).to.not.include('hunter2');
    // A failed try is still an execution in the lineage record, with nothing registered.
    const exec = await getExecution(db, {
      dag_id: 'wf_bad_outputs',
      run_id: run.triggered.runId,
      task_id: 'bad_params',
      map_index: -1,
      try_number: 1,
    });
    expect(exec?.state).to.equal('failed');
    // OpenLineage: FAIL events for the tries (the masked error in errorMessage) and for the run, all valid.
    const validate = await loadValidator();
    const events = readFileSync(olFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as RunEvent)
      .filter((e) => e.job.name.startsWith('wf_bad_outputs'));
    for (const e of events) expect(validate(e), `${e.eventType} ${e.job.name}`).to.deep.equal([]);
    const badParams = events.find((e) => e.job.name === 'wf_bad_outputs.bad_params' && e.eventType === 'FAIL');
    expect(badParams?.run.facets?.errorMessage?.message).to.equal(messages['bad_params']);
    const runEnd = events
      .filter(
        (e) => e.job.name === 'wf_bad_outputs' && e.run.runId === dagRunUuid('wf_bad_outputs', run.triggered.runId),
      )
      .map((e) => e.eventType);
    expect(runEnd).to.deep.equal(['START', 'FAIL']);
  });
});

describe('step outputs: a worker on the S3-compatible store (versitygw, postgres, docker)', function () {
  this.timeout(180_000);
  let stack: TestStack;
  let prefix: string;
  const saved: Record<string, string | undefined> = {};

  before(async function () {
    const s3 = s3TestEnv();
    prefix = `step-outputs-${Date.now().toString(36)}`;
    // The worker takes its S3 credentials from the environment, as a deployed one would.
    for (const [k, v] of Object.entries({
      AWS_ACCESS_KEY_ID: s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
    })) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    const dir = tempDir('ml-s3');
    const base = (await import('../../worker/config.js')).loadConfig(
      {
        UPDRAFT_ARTIFACT_STORE: `s3://${s3.bucket}/${prefix}`,
        UPDRAFT_S3_ENDPOINT: s3.endpoint,
        AWS_REGION: s3.region,
      },
      dir,
    );
    stack = await startTestStack({ dagsFolder: ML_DAGS, db: 'postgres', config: { ml: base.ml } });
  });

  after(async function () {
    await stack?.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('stores every output in the bucket, and process, container and in-process steps read their inputs from it', async function () {
    const s3 = s3TestEnv();
    const run = await runDag(stack, 'wf_step_outputs');
    expect(run.result.state, JSON.stringify(run.result)).to.equal('success');
    const xcoms = new Map(
      (await listXComs(stack.database.db, 'wf_step_outputs', run.triggered.runId)).map((x) => [
        `${x.task_id}:${x.key}`,
        x.value as Json,
      ]),
    );
    const dataSha = hashBytes(Buffer.from(DATA));
    const model = (xcoms.get('train:return_value') as { model: Ref }).model.$artifact;
    expect((xcoms.get('make_data:return_value') as { data: Ref }).data.$artifact.uri).to.equal(
      `s3://${s3.bucket}/${prefix}/sha256/${dataSha.slice(0, 2)}/${dataSha}`,
    );
    expect(model.uri).to.equal(`s3://${s3.bucket}/${prefix}/sha256/${model.sha256.slice(0, 2)}/${model.sha256}`);
    // Read back from the bucket with a client of our own.
    const store = s3TestStore(prefix);
    const back = path.join(tempDir('ml-s3-back'), 'model');
    await store.get(model.sha256, back);
    expect(readFileSync(back, 'utf8')).to.equal(`${dataSha}\n`);
    expect((xcoms.get('evaluate:return_value') as { modelText: string }).modelText).to.equal(dataSha);
    const [v] = await listModelVersions(stack.database.db, MODEL_NAME);
    expect(v).to.include({ uri: model.uri, sha256: model.sha256 });
  });
});
