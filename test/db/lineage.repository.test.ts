/**
 * The lineage record (artifacts, executions, events, metrics, params) and its recursive queries,
 * on Postgres and PGlite: a two-run retraining pipeline recorded try by try, then the upstream of
 * each model version and the downstream of a data set checked exactly.
 */
import { expect } from 'chai';
import { sql } from 'kysely';
import { findArtifactsBySha256, listArtifacts, recordArtifacts } from '../../db/artifact.repository.js';
import { migrateDown, migrateToLatest } from '../../db/migrate.js';
import {
  downstreamOfArtifacts,
  getExecution,
  lineageOfRun,
  listMetrics,
  listRunMetrics,
  recordExecution,
  startExecution,
  upstreamOfArtifacts,
} from '../../db/lineage.repository.js';
import { ArtifactConflictError, InvalidRecordFieldError } from '../../db/ml-errors.js';
import { registerModelVersion, upstreamOfModelVersion } from '../../db/model-registry.repository.js';
import { art, tryKey } from './ml-fixtures.js';
import { DIALECTS, openMigratedDatabase, rejectionOf, type TestDatabase } from './test-database.js';

const RAW1 = art('raw-1.csv', 'dataset', 'csv');
const TRAIN1 = art('train-1.csv', 'dataset', 'csv');
const TEST1 = art('test-1.csv', 'dataset', 'csv');
const MODEL1 = art('model-1.onnx', 'model', 'onnx');
const REPORT1 = art('train-report-1.json', 'report', 'json');
const EVAL1 = art('eval-1.json', 'report', 'json');
const RAW2 = art('raw-2.csv', 'dataset', 'csv');
const TRAIN2 = art('train-2.csv', 'dataset', 'csv');
const MODEL2 = art('model-2.onnx', 'model', 'onnx');

for (const dialect of DIALECTS) {
  describe(`${dialect}: lineage repository`, function () {
    let t: TestDatabase;
    const ids: Record<string, number> = {};

    before(async function () {
      t = await openMigratedDatabase(dialect);
      const db = t.db;
      // Run 1: extract -> prepare -> train -> evaluate.
      await recordExecution(db, {
        key: tryKey('r1', 'extract'),
        state: 'success',
        outputs: [RAW1],
        code_version: 'spec-h1',
      });
      await recordExecution(db, {
        key: tryKey('r1', 'prepare'),
        state: 'success',
        inputs: [RAW1],
        outputs: [TRAIN1, TEST1],
      });
      // train's first try failed (no outputs); the second produced the model.
      await recordExecution(db, {
        key: tryKey('r1', 'train', 1),
        state: 'failed',
        inputs: [TRAIN1],
        params: { n_estimators: 200 },
      });
      const train = await recordExecution(db, {
        key: tryKey('r1', 'train', 2),
        state: 'success',
        code_version: 'spec-h1',
        params: { n_estimators: 200, solver: 'lbfgs', scale: true },
        inputs: [{ ...TRAIN1, path: 'inputs/train.csv' }],
        outputs: [{ ...MODEL1, path: 'model.onnx' }, REPORT1],
        metrics: [
          { name: 'loss', value: 0.9, step: 0 },
          { name: 'loss', value: 0.4, step: 1 },
          { name: 'train/accuracy', value: 0.95 },
        ],
        started_at: '2026-12-06T10:00:00Z',
        ended_at: '2026-12-06T10:01:00Z',
      });
      ids['train1'] = train.execution.id;
      ids['model1'] = train.outputs[0]!.id;
      await recordExecution(db, {
        key: tryKey('r1', 'evaluate'),
        state: 'success',
        inputs: [MODEL1, TEST1],
        outputs: [EVAL1],
        metrics: [{ name: 'accuracy', value: 0.9561 }],
      });
      // Run 2 reuses run 1's test split (same bytes, same artifact) with new training data.
      await recordExecution(db, { key: tryKey('r2', 'extract'), state: 'success', outputs: [RAW2] });
      await recordExecution(db, {
        key: tryKey('r2', 'prepare'),
        state: 'success',
        inputs: [RAW2],
        outputs: [TRAIN2, TEST1],
      });
      const train2 = await recordExecution(db, {
        key: tryKey('r2', 'train'),
        state: 'success',
        inputs: [TRAIN2],
        outputs: [MODEL2],
        params: { n_estimators: 300 },
      });
      ids['model2'] = train2.outputs[0]!.id;
      ids['train2'] = train2.execution.id;
      await registerModelVersion(db, {
        model: 'iris',
        artifactId: ids['model1']!,
        source: tryKey('r1', 'train', 2),
        metrics: { accuracy: 0.9561 },
      });
      await registerModelVersion(db, { model: 'iris', artifactId: ids['model2']!, source: tryKey('r2', 'train') });
    });
    after(async function () {
      await t?.cleanup();
    });

    const names = (rows: Array<{ name: string }>) => rows.map((r) => r.name).sort();
    const tasks = (rows: Array<{ run_id: string; task_id: string; try_number: number }>) =>
      rows.map((r) => `${r.run_id}.${r.task_id}.${r.try_number}`).sort();

    it('upstream of a model version: its data, the tries that made it, their params, code version and runs', async function () {
      const up = await upstreamOfModelVersion(t.db, 'iris', 1);
      expect(names(up.artifacts)).to.deep.equal(['model-1.onnx', 'raw-1.csv', 'train-1.csv']);
      // The failed first try of train produced nothing, so it is not upstream; test-1.csv is a sibling output, not an input.
      expect(tasks(up.executions)).to.deep.equal(['r1.extract.1', 'r1.prepare.1', 'r1.train.2']);
      expect(names(up.trainingData)).to.deep.equal(['raw-1.csv', 'train-1.csv']);
      expect(up.runs).to.deep.equal([{ dag_id: 'iris', run_id: 'r1' }]);
      const train = up.executions.find((x) => x.task_id === 'train')!;
      expect(train.params).to.deep.equal({ n_estimators: 200, solver: 'lbfgs', scale: true });
      expect(train.code_version).to.equal('spec-h1');
      expect(up.modelVersion).to.include({
        version: 1,
        model_name: 'iris',
        source_execution_id: ids['train1'],
        source_try_number: 2,
      });
      // Edges: prepare consumed raw and produced train; train consumed train-1.csv and produced the model.
      const byId = new Map(up.artifacts.map((a) => [a.id, a.name]));
      const byX = new Map(up.executions.map((x) => [x.id, x.task_id]));
      expect(
        up.events.map((e) => `${byX.get(e.execution_id)} ${e.kind} ${byId.get(e.artifact_id)}`).sort(),
      ).to.deep.equal([
        'extract output raw-1.csv',
        'prepare input raw-1.csv',
        'prepare output train-1.csv',
        'train input train-1.csv',
        'train output model-1.onnx',
      ]);
      expect(up.events.find((e) => e.kind === 'input' && byX.get(e.execution_id) === 'train')?.path).to.equal(
        'inputs/train.csv',
      );
      expect(up.modelVersions.map((v) => `${v.model_name}@${v.version}`)).to.deep.equal(['iris@1']);
    });

    it('upstream of version 2 stays within run 2 except the shared test split it never consumed', async function () {
      const up = await upstreamOfModelVersion(t.db, 'iris', 2);
      expect(names(up.artifacts)).to.deep.equal(['model-2.onnx', 'raw-2.csv', 'train-2.csv']);
      expect(tasks(up.executions)).to.deep.equal(['r2.extract.1', 'r2.prepare.1', 'r2.train.1']);
      expect(up.runs).to.deep.equal([{ dag_id: 'iris', run_id: 'r2' }]);
    });

    it('downstream of a data set: every try and artifact built from it, and the model versions', async function () {
      const [raw] = await findArtifactsBySha256(t.db, RAW1.sha256);
      const down = await downstreamOfArtifacts(t.db, [raw!.id]);
      expect(names(down.artifacts)).to.deep.equal([
        'eval-1.json',
        'model-1.onnx',
        'raw-1.csv',
        'test-1.csv',
        'train-1.csv',
        'train-report-1.json',
      ]);
      expect(tasks(down.executions)).to.deep.equal(['r1.evaluate.1', 'r1.prepare.1', 'r1.train.1', 'r1.train.2']);
      expect(down.modelVersions.map((v) => `${v.model_name}@${v.version}`)).to.deep.equal(['iris@1']);
      // Both runs' prepare produced the same test split (same bytes, same name): one artifact, two producers.
      const [test1] = await findArtifactsBySha256(t.db, TEST1.sha256);
      const fromTest = await downstreamOfArtifacts(t.db, [test1!.id]);
      expect(tasks(fromTest.executions)).to.deep.equal(['r1.evaluate.1']);
      const upTest = await upstreamOfArtifacts(t.db, [test1!.id]);
      expect(tasks(upTest.executions)).to.deep.equal(['r1.extract.1', 'r1.prepare.1', 'r2.extract.1', 'r2.prepare.1']);
    });

    it('a try that passes an artifact through (input = output) does not loop the walk', async function () {
      const loop = art('loop.bin', 'other');
      await recordExecution(t.db, {
        key: tryKey('r3', 'passthrough'),
        state: 'success',
        inputs: [loop],
        outputs: [loop],
      });
      const [row] = await findArtifactsBySha256(t.db, loop.sha256);
      const up = await upstreamOfArtifacts(t.db, [row!.id]);
      expect(names(up.artifacts)).to.deep.equal(['loop.bin']);
      expect(up.events).to.have.length(2);
      const down = await downstreamOfArtifacts(t.db, [row!.id]);
      expect(tasks(down.executions)).to.deep.equal(['r3.passthrough.1']);
    });

    it('a run lineage lists its tries and their artifacts', async function () {
      const run = await lineageOfRun(t.db, 'iris', 'r2');
      expect(tasks(run.executions)).to.deep.equal(['r2.extract.1', 'r2.prepare.1', 'r2.train.1']);
      expect(names(run.artifacts)).to.deep.equal(['model-2.onnx', 'raw-2.csv', 'test-1.csv', 'train-2.csv']);
    });

    it('metrics keep name/value/step per try; run metrics list them by task and try', async function () {
      const m = await listMetrics(t.db, ids['train1']!);
      expect(m.map((r) => [r.name, r.value, r.step])).to.deep.equal([
        ['loss', 0.9, 0],
        ['loss', 0.4, 1],
        ['train/accuracy', 0.95, 0],
      ]);
      expect(m[0]!.timestamp).to.be.instanceOf(Date);
      const run = await listRunMetrics(t.db, 'iris', 'r1');
      expect(run.map((r) => `${r.task_id}.${r.try_number} ${r.name}=${r.value}`)).to.deep.equal([
        'evaluate.1 accuracy=0.9561',
        'train.2 loss=0.9',
        'train.2 loss=0.4',
        'train.2 train/accuracy=0.95',
      ]);
    });

    it('recording a try again (an activity retry) is idempotent; metrics and params are replaced', async function () {
      const key = tryKey('r4', 'train');
      const start = await startExecution(t.db, key, {
        dag_version_id: null,
        code_version: 'spec-h9',
        started_at: '2026-12-06T11:00:00Z',
      });
      expect(start.state).to.equal('running');
      const rec = {
        key,
        state: 'success' as const,
        inputs: [TRAIN1],
        outputs: [art('model-4.onnx', 'model')],
        metrics: [{ name: 'acc', value: 0.5 }],
        params: { a: 1 },
      };
      const first = await recordExecution(t.db, rec);
      const second = await recordExecution(t.db, { ...rec, metrics: [{ name: 'acc', value: 0.7 }], params: { a: 2 } });
      expect(second.execution.id).to.equal(start.id);
      expect(second.outputs[0]!.id).to.equal(first.outputs[0]!.id);
      const x = await getExecution(t.db, key);
      expect(x).to.include({ state: 'success', code_version: 'spec-h9' });
      expect(x!.params).to.deep.equal({ a: 2 });
      expect(x!.started_at?.toISOString()).to.equal('2026-12-06T11:00:00.000Z');
      const events = await t.db.selectFrom('lineage_event').select('id').where('execution_id', '=', start.id).execute();
      expect(events).to.have.length(2);
      expect((await listMetrics(t.db, start.id)).map((m) => m.value)).to.deep.equal([0.7]);
    });

    it('the same bytes under the same name and type are one artifact; under another name, another row', async function () {
      const [a, b, c] = await recordArtifacts(t.db, [RAW1, RAW1, { ...RAW1, name: 'raw-copy.csv' }]);
      expect(a!.id).to.equal(b!.id);
      expect(c!.id).to.not.equal(a!.id);
      expect((await findArtifactsBySha256(t.db, RAW1.sha256)).map((r) => r.name)).to.deep.equal([
        'raw-1.csv',
        'raw-copy.csv',
      ]);
      expect((await listArtifacts(t.db, { type: 'model', limit: 2 })).every((r) => r.type === 'model')).to.equal(true);
    });

    describe('bad input names the field and writes nothing', function () {
      const cases: ReadonlyArray<[string, Parameters<typeof recordExecution>[1], string]> = [
        [
          'metric name',
          {
            key: tryKey('bad', 't'),
            state: 'success',
            metrics: [
              { name: 'ok', value: 1 },
              { name: 'bad name!', value: 1 },
            ],
          },
          'metrics[1].name',
        ],
        [
          'metric value',
          { key: tryKey('bad', 't'), state: 'success', metrics: [{ name: 'acc', value: Number.NaN }] },
          'metrics[0].value',
        ],
        [
          'metric step',
          { key: tryKey('bad', 't'), state: 'success', metrics: [{ name: 'acc', value: 1, step: -1 }] },
          'metrics[0].step',
        ],
        [
          'param value',
          { key: tryKey('bad', 't'), state: 'success', params: { nested: { a: 1 } as unknown as string } },
          'params.nested',
        ],
        [
          'artifact sha256',
          { key: tryKey('bad', 't'), state: 'success', outputs: [{ ...MODEL1, sha256: 'abc' }] },
          'outputs[0].sha256',
        ],
        [
          'artifact type',
          { key: tryKey('bad', 't'), state: 'success', inputs: [{ ...MODEL1, type: 'weights' as 'model' }] },
          'inputs[0].type',
        ],
        ['try number', { key: { ...tryKey('bad', 't'), try_number: 0 }, state: 'success' }, 'key.try_number'],
        ['state', { key: tryKey('bad', 't'), state: 'done' as 'success' }, 'state'],
      ];
      for (const [what, rec, field] of cases) {
        it(`${what}: ${field}`, async function () {
          const err = await rejectionOf(recordExecution(t.db, rec));
          expect(err).to.be.instanceOf(InvalidRecordFieldError);
          expect((err as InvalidRecordFieldError).field).to.equal(field);
          expect(err.message).to.match(new RegExp(`^${field.replace(/[[\].]/g, '\\$&')}: `));
          expect(await getExecution(t.db, rec.key)).to.equal(undefined);
        });
      }

      it('a size that contradicts the recorded bytes rolls the whole try back', async function () {
        const key = tryKey('bad', 'conflict');
        const err = await rejectionOf(
          recordExecution(t.db, {
            key,
            state: 'success',
            outputs: [art('fresh.bin', 'other'), { ...RAW1, size: RAW1.size + 1 }],
          }),
        );
        expect(err).to.be.instanceOf(ArtifactConflictError);
        expect((err as ArtifactConflictError).field).to.equal('outputs[1]');
        expect(await getExecution(t.db, key)).to.equal(undefined);
        expect(await findArtifactsBySha256(t.db, art('fresh.bin', 'other').sha256)).to.deep.equal([]);
      });

      it('the database refuses what the repository would (a NaN metric, a bad hash)', async function () {
        const x = await startExecution(t.db, tryKey('bad', 'direct'));
        const e1 = await rejectionOf(
          t.db.insertInto('metric').values({ execution_id: x.id, name: 'acc', value: Number.NaN }).execute(),
        );
        expect(e1.message).to.contain('metric_value_check');
        const e2 = await rejectionOf(
          t.db.insertInto('artifact').values({ sha256: 'XYZ', uri: 'u', name: 'n', type: 'model', size: 1 }).execute(),
        );
        expect(e2.message).to.contain('artifact_sha256_check');
      });
    });
  });

  describe(`${dialect}: ML record migrations up and down`, function () {
    let t: TestDatabase;
    before(async function () {
      t = await openMigratedDatabase(dialect);
    });
    after(async function () {
      await t?.cleanup();
    });

    async function tables(): Promise<string[]> {
      const r = await sql<{ table_name: string }>`
        select table_name from information_schema.tables where table_schema = 'public'
        and table_name in ('artifact', 'execution', 'lineage_event', 'metric', 'registered_model', 'model_version',
                           'model_alias', 'model_evaluation', 'model_promotion') order by table_name`.execute(t.db);
      return r.rows.map((x) => x.table_name);
    }

    it('down removes the registry, then lineage; up restores both', async function () {
      expect(await tables()).to.have.length(9);
      // Migrations after the ML ones (if any) come off first and touch none of these tables.
      const undone: string[] = [];
      while (!undone.includes('2026_12_06_000006_ml_registry')) {
        const names = await migrateDown(t.db);
        expect(names, 'a migration to undo').to.have.length(1);
        undone.push(...names);
        if (!undone.includes('2026_12_06_000006_ml_registry')) expect(await tables()).to.have.length(9);
      }
      expect(await tables()).to.deep.equal(['artifact', 'execution', 'lineage_event', 'metric']);
      expect(await migrateDown(t.db)).to.deep.equal(['2026_12_06_000005_ml_lineage']);
      expect(await tables()).to.deep.equal([]);
      expect(await migrateToLatest(t.db)).to.deep.equal(['2026_12_06_000005_ml_lineage', ...undone.reverse()]);
      expect(await tables()).to.have.length(9);
    });
  });
}
