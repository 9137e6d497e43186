/// <reference types="mocha" />
/**
 * The champion/challenger gate on the real Temporal dev server, on Postgres and PGlite: the first
 * candidate (no champion) passes the thresholds alone and becomes champion v1; a better one is
 * promoted over it; a worse one becomes the challenger and serve/monitor are skipped with the
 * failures as the reason; two gates racing against the same champion promote exactly one (the
 * other is recorded as lost and its serve skipped); a threshold on a metric the evaluation lacks
 * fails the gate without retries, naming the metric, with nothing written.
 */
import path from 'node:path';
import { expect } from 'chai';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { recordExecution } from '../../db/lineage.repository.js';
import { listModelVersions, promotionHistory, resolveAlias } from '../../db/model-registry.repository.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import { getXCom } from '../../db/xcom.repository.js';
import type { Json } from '../../spec/dag-spec.js';
import { art, tryKey } from '../db/ml-fixtures.js';
import { TEST_DB_KINDS } from '../helpers/servers.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { finishRun, runDag, startRun, statesOf, uniqueRunId } from './helpers.js';

const DAGS = path.resolve(__dirname, '../../../test/workflows/dags/ml_gate');

function artifactRef(name: string): Json {
  const a = art(name, 'model', 'onnx');
  return {
    $artifact: {
      sha256: a.sha256,
      uri: a.uri,
      name: a.name,
      type: a.type,
      format: a.format ?? null,
      size: a.size,
      path: `/tmp/${name}`,
    },
  };
}

async function counts(db: Kysely<Database>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of [
    'registered_model',
    'model_version',
    'model_evaluation',
    'model_promotion',
    'model_alias',
  ] as const) {
    const row = await db
      .selectFrom(table)
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    out[table] = Number(row.n);
  }
  return out;
}

for (const kind of TEST_DB_KINDS) {
  describe(`model gate: champion/challenger on the real stack (${kind})`, function () {
    this.timeout(240_000);
    let stack: TestStack;
    let db: Kysely<Database>;

    before(async function () {
      stack = await startTestStack({ dagsFolder: DAGS, db: kind });
      expect(stack.bag.importErrors).to.deep.equal([]);
      db = stack.database.db;
    });

    after(async () => {
      await stack?.stop();
    });

    it('promotes v1 on thresholds alone, promotes a better v2, and rejects a worse v3 with serve skipped', async function () {
      // Run 1: the training try's lineage is recorded (as the runtime records it), so the gate's
      // registration names that try as the source and its data set as the training data.
      const run1 = uniqueRunId('ml_gate');
      const recorded = await recordExecution(db, {
        key: tryKey(run1, 'train', 1, 'ml_gate'),
        state: 'success',
        inputs: [art('train-1.csv', 'dataset', 'csv')],
        outputs: [art('model-1.onnx', 'model', 'onnx')],
      });
      const first = await runDag(stack, 'ml_gate', {
        runId: run1,
        conf: { candidate: artifactRef('model-1.onnx'), metrics: { accuracy: 0.9, log_loss: 0.3 } },
      });
      expect(first.result.state).to.equal('success');
      expect(statesOf(first.tis)).to.deep.equal({
        train: ['success', 1],
        evaluate: ['success', 1],
        validate_model: ['success', 1],
        serve: ['success', 1],
        monitor: ['success', 1],
      });
      const v1 = (await listModelVersions(db, 'iris_classifier'))[0]!;
      expect(v1).to.include({
        version: 1,
        sha256: art('model-1.onnx', 'model').sha256,
        status: 'validated',
        source_dag_id: 'ml_gate',
        source_run_id: run1,
        source_task_id: 'train',
        source_try_number: 1,
      });
      expect(v1.source_execution_id).to.equal(recorded.execution.id);
      expect(v1.training_data_artifact_ids).to.deep.equal([recorded.inputs[0]!.id]);
      expect(v1.metrics).to.deep.equal({ accuracy: 0.9, log_loss: 0.3 });
      const gate1 = (await getXCom(db, {
        dag_id: 'ml_gate',
        run_id: run1,
        task_id: 'validate_model',
        map_index: -1,
        key: 'return_value',
      })) as Record<string, Json>;
      expect(gate1).to.deep.include({
        outcome: 'promoted',
        decision: 'pass',
        version: 1,
        champion: 1,
        baseline_version: null,
        failures: [],
      });
      expect(gate1.reason).to.equal('iris_classifier@1 promoted to champion (the first one: thresholds alone)');
      const serve1 = await getXCom(db, {
        dag_id: 'ml_gate',
        run_id: run1,
        task_id: 'serve',
        map_index: -1,
        key: 'return_value',
      });
      expect(serve1).to.deep.equal({ served: art('model-1.onnx', 'model').sha256 });

      // Run 2: better on both metrics: promoted over v1 (v1's metrics from the evaluation that made it champion).
      const second = await runDag(stack, 'ml_gate', {
        conf: { candidate: artifactRef('model-2.onnx'), metrics: { accuracy: 0.95, log_loss: 0.2 } },
      });
      expect(second.result.state).to.equal('success');
      expect(statesOf(second.tis).serve).to.deep.equal(['success', 1]);
      expect((await resolveAlias(db, 'iris_classifier', 'champion'))!.version).to.equal(2);

      // Run 3: worse than v2: rejected, challenger, serve and monitor skipped with the failures as the reason.
      const third = await runDag(stack, 'ml_gate', {
        conf: { candidate: artifactRef('model-3.onnx'), metrics: { accuracy: 0.955, log_loss: 0.25 } },
      });
      expect(third.result.state).to.equal('success');
      expect(statesOf(third.tis)).to.deep.equal({
        train: ['success', 1],
        evaluate: ['success', 1],
        validate_model: ['success', 1],
        serve: ['skipped', 0],
        monitor: ['skipped', 0],
      });
      const reason =
        'skipped by model gate "validate_model": iris_classifier@3 not promoted to champion (stays at version 2); it is challenger now: ' +
        'Metric accuracy minimum absolute change check failed: candidate model accuracy = 0.955, baseline model accuracy = 0.95, accuracy minimum absolute change threshold = 0.01. ' +
        'Metric log_loss minimum relative change check failed: candidate model log_loss = 0.25, baseline model log_loss = 0.2, log_loss minimum relative change threshold = 0.05.';
      expect(third.tis.get('serve')!.error).to.equal(reason);
      expect(third.tis.get('monitor')!.error).to.equal(reason);
      const gateLog = (
        await readTaskLog(db, {
          dag_id: 'ml_gate',
          run_id: third.triggered.runId,
          task_id: 'validate_model',
          map_index: -1,
          try_number: 1,
        })
      ).map((l) => l.line);
      expect(gateLog).to.include(
        'baseline: iris_classifier@2 with metrics {"accuracy":0.95,"log_loss":0.2} (from promotion_evaluation)',
      );
      expect(
        gateLog.some((l) => l.startsWith('failed: Metric accuracy minimum absolute change check failed')),
      ).to.equal(true);

      expect((await resolveAlias(db, 'iris_classifier', 'champion'))!.version).to.equal(2);
      expect((await resolveAlias(db, 'iris_classifier', 'challenger'))!.version).to.equal(3);
      expect(
        (await listModelVersions(db, 'iris_classifier')).map((v) => [v.version, v.status, v.aliases]),
      ).to.deep.equal([
        [3, 'rejected', ['challenger']],
        [2, 'validated', ['champion']],
        [1, 'validated', []],
      ]);

      const evaluations = await db
        .selectFrom('model_evaluation as e')
        .innerJoin('model_version as c', 'c.id', 'e.candidate_version_id')
        .leftJoin('model_version as b', 'b.id', 'e.baseline_version_id')
        .select([
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
      const thresholds = {
        accuracy: { threshold: 0.8, minAbsoluteChange: 0.01, greaterIsBetter: true },
        log_loss: { minRelativeChange: 0.05, greaterIsBetter: false },
      };
      expect(
        evaluations.map((e) => ({
          ...e,
          failures: (e.failures as Array<{ metric: string; rule: string; expected: number }>).map((f) => [
            f.metric,
            f.rule,
          ]),
        })),
      ).to.deep.equal([
        {
          candidate: 1,
          baseline: null,
          candidate_metrics: { accuracy: 0.9, log_loss: 0.3 },
          baseline_metrics: null,
          thresholds,
          decision: 'pass',
          failures: [],
          run_id: run1,
          task_id: 'validate_model',
        },
        {
          candidate: 2,
          baseline: 1,
          candidate_metrics: { accuracy: 0.95, log_loss: 0.2 },
          baseline_metrics: { accuracy: 0.9, log_loss: 0.3 },
          thresholds,
          decision: 'pass',
          failures: [],
          run_id: second.triggered.runId,
          task_id: 'validate_model',
        },
        {
          candidate: 3,
          baseline: 2,
          candidate_metrics: { accuracy: 0.955, log_loss: 0.25 },
          baseline_metrics: { accuracy: 0.95, log_loss: 0.2 },
          thresholds,
          decision: 'fail',
          failures: [
            ['accuracy', 'min_absolute_change'],
            ['log_loss', 'min_relative_change'],
          ],
          run_id: third.triggered.runId,
          task_id: 'validate_model',
        },
      ]);
      const history = await promotionHistory(db, 'iris_classifier');
      expect(history.map((p) => [p.alias, p.action, p.from_version, p.to_version, p.actor])).to.deep.equal([
        ['champion', 'promote', null, 1, `ml_gate/${run1}/validate_model`],
        ['champion', 'promote', 1, 2, `ml_gate/${second.triggered.runId}/validate_model`],
        ['challenger', 'set', null, 3, `ml_gate/${third.triggered.runId}/validate_model`],
      ]);
      expect(history.every((p) => p.evaluation_id !== null)).to.equal(true);
    });

    it('two gates racing against the same champion: exactly one promotion, the other recorded as lost', async function () {
      const champion = (await resolveAlias(db, 'iris_classifier', 'champion'))!.version;
      // Both evaluations scored the same champion on the same data (a pinned baseline), so both pass.
      const baseline = { version: champion, metrics: { accuracy: 0.95, log_loss: 0.2 } };
      const before = (await promotionHistory(db, 'iris_classifier')).length;
      const started = await Promise.all(
        ['race-a.onnx', 'race-b.onnx'].map((name) =>
          startRun(stack, 'ml_gate', {
            conf: { candidate: artifactRef(name), metrics: { accuracy: 0.99, log_loss: 0.1 }, baseline },
          }),
        ),
      );
      const runs = await Promise.all(started.map((t) => finishRun(stack, t)));
      for (const r of runs) expect(r.result.state).to.equal('success');
      const outcomes = await Promise.all(
        runs.map(
          async (r) =>
            (
              (await getXCom(db, {
                dag_id: 'ml_gate',
                run_id: r.triggered.runId,
                task_id: 'validate_model',
                map_index: -1,
                key: 'return_value',
              })) as { outcome: string }
            ).outcome,
        ),
      );
      expect([...outcomes].sort()).to.deep.equal(['lost', 'promoted']);
      const winner = runs[outcomes.indexOf('promoted')]!;
      const loser = runs[outcomes.indexOf('lost')]!;
      expect(statesOf(winner.tis).serve).to.deep.equal(['success', 1]);
      expect(statesOf(loser.tis).serve).to.deep.equal(['skipped', 0]);
      expect(loser.tis.get('serve')!.error).to.match(
        /^skipped by model gate "validate_model": iris_classifier@\d+ passed but lost the race for champion: it is at version \d+ now, not \d+ as compared$/,
      );
      const rows = (await promotionHistory(db, 'iris_classifier')).slice(before);
      expect(rows.map((p) => [p.action, p.from_version])).to.have.deep.members([
        ['promote', champion],
        ['lost', champion],
      ]);
      const promoted = rows.find((p) => p.action === 'promote')!;
      expect((await resolveAlias(db, 'iris_classifier', 'champion'))!.version).to.equal(promoted.to_version);
      expect(rows.find((p) => p.action === 'lost')!.reason).to.match(
        new RegExp(
          `^lost the race to promote version \\d+: "champion" was expected version id \\d+ but is at version ${promoted.to_version}`,
        ),
      );
    });

    it('fails without retries, naming the metric, when a threshold names a metric the evaluation lacks; nothing is written', async function () {
      const before = await counts(db);
      const run = await runDag(stack, 'ml_gate', {
        conf: { candidate: artifactRef('model-bad.onnx'), metrics: { accuracy: 0.99 } },
      });
      expect(run.result.state).to.equal('failed');
      expect(statesOf(run.tis)).to.deep.include({
        validate_model: ['failed', 1],
        serve: ['upstream_failed', 0],
        monitor: ['upstream_failed', 0],
      });
      expect(run.tis.get('validate_model')!.error).to.equal(
        'model gate: thresholds.log_loss: the candidate\'s evaluation has no metric "log_loss" (it has: accuracy); log that metric in the evaluation step or remove the threshold',
      );
      expect(await counts(db)).to.deep.equal(before);
    });
  });
}
