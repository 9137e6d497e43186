/// <reference types="mocha" />
/**
 * recordTry (db/try-record.repository.ts) on Postgres and PGlite: one transaction per try,
 * idempotent per try (a repeated attempt reuses the version it registered), and the
 * reproducibility of each version against the previous one from the same inputs and params.
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { getExecution, listMetrics } from '../../db/lineage.repository.js';
import { listModelVersions } from '../../db/model-registry.repository.js';
import {
  finalMetricValues,
  productionFingerprint,
  recordTry,
  type TryRecordInput,
} from '../../db/try-record.repository.js';
import { DIALECTS, openMigratedDatabase, type TestDatabase } from './test-database.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const art = (bytes: string, name: string, type: 'model' | 'dataset') => ({
  sha256: sha(bytes),
  uri: `file:///store/${sha(bytes)}`,
  name,
  type,
  size: bytes.length,
});

function trainTry(runId: string, modelBytes: string, over: Partial<TryRecordInput> = {}): TryRecordInput {
  return {
    key: { dag_id: 'retrain', run_id: runId, task_id: 'train', map_index: -1, try_number: 1 },
    state: 'success',
    dagVersionId: null,
    codeVersion: 'spec-1',
    startedAt: new Date(),
    endedAt: new Date(),
    params: { C: 1, solver: 'lbfgs' },
    metrics: [
      { name: 'loss', value: 0.9, step: 0 },
      { name: 'loss', value: 0.3, step: 5 },
      { name: 'acc', value: 0.95 },
    ],
    inputs: [art('train rows', 'train', 'dataset'), art('schema', 'schema', 'dataset')],
    outputs: [art(modelBytes, 'model', 'model')],
    register: [{ output: 0, model: 'clf' }],
    ...over,
  };
}

describe('try record: pure parts', () => {
  it('fingerprints inputs and params regardless of order; final metric values are each name at its highest step', () => {
    expect(productionFingerprint(['b', 'a', 'a'], { y: 1, x: 'z' })).to.equal(
      productionFingerprint(['a', 'b'], { x: 'z', y: 1 }),
    );
    expect(productionFingerprint(['a'], { x: 1 })).to.not.equal(productionFingerprint(['a'], { x: 2 }));
    expect(
      finalMetricValues([
        { name: 'l', value: 3, step: 2 },
        { name: 'l', value: 5, step: 1 },
        { name: 'a', value: 1 },
      ]),
    ).to.deep.equal({ a: 1, l: 3 });
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialect}: recordTry`, function () {
    let t: TestDatabase;
    before(async function () {
      t = await openMigratedDatabase(dialect);
    });
    after(async () => t?.cleanup());

    it('registers a version with its source, training data and metrics; a repeated attempt reuses it', async () => {
      const first = await recordTry(t.db, trainTry('r1', 'model-A'));
      expect(first.registered.map((r) => [r.model, r.version.version, r.created])).to.deep.equal([['clf', 1, true]]);
      const again = await recordTry(t.db, trainTry('r1', 'model-A'));
      expect(again.registered.map((r) => [r.version.id, r.created])).to.deep.equal([
        [first.registered[0]!.version.id, false],
      ]);
      const [v1] = await listModelVersions(t.db, 'clf');
      expect(v1).to.include({
        version: 1,
        sha256: sha('model-A'),
        source_task_id: 'train',
        source_run_id: 'r1',
        source_execution_id: first.execution.execution.id,
      });
      expect(v1!.metrics).to.deep.equal({ acc: 0.95, loss: 0.3 });
      expect(v1!.training_data_artifact_ids).to.deep.equal(first.execution.inputs.map((a) => a.id));
      expect(v1!.reproducibility).to.deep.equal({
        fingerprint: productionFingerprint([sha('train rows'), sha('schema')], { C: 1, solver: 'lbfgs' }),
        previous_version: null,
        same_as_previous: null,
        reproducible: null,
        reason: null,
      });
      const exec = await getExecution(t.db, trainTry('r1', 'model-A').key);
      expect((await listMetrics(t.db, exec!.id)).length).to.equal(3);
    });

    it('same inputs and params: the same bytes say so; other bytes record why not', async () => {
      await recordTry(t.db, trainTry('r2', 'model-A', { register: [{ output: 0, model: 'clf', reproducible: true }] }));
      await recordTry(t.db, trainTry('r3', 'model-B'));
      await recordTry(
        t.db,
        trainTry('r4', 'model-C', { register: [{ output: 0, model: 'clf', reproducible: false, reason: 'threads' }] }),
      );
      await recordTry(t.db, trainTry('r5', 'model-D', { params: { C: 2, solver: 'lbfgs' } }));
      const byVersion = Object.fromEntries(
        (await listModelVersions(t.db, 'clf')).map((v) => [v.version, v.reproducibility]),
      );
      expect(byVersion[2]).to.deep.include({
        previous_version: 1,
        same_as_previous: true,
        reproducible: true,
        reason: null,
      });
      expect(byVersion[3]).to.deep.include({ previous_version: 2, same_as_previous: false, reproducible: null });
      expect(byVersion[3]!.reason).to.equal(
        `the bytes differ from version 2, which was produced from the same input artifacts and params (sha256 ${sha('model-A').slice(0, 12)}… vs ${sha('model-B').slice(0, 12)}…)`,
      );
      expect(byVersion[4]).to.deep.include({
        previous_version: 3,
        same_as_previous: false,
        reproducible: false,
        reason: 'threads',
      });
      expect(byVersion[5]).to.deep.include({ previous_version: null, same_as_previous: null, reason: null });
    });

    it('a failed try records its execution and inputs, and registers nothing', async () => {
      const failed = await recordTry(t.db, trainTry('r6', 'model-E', { state: 'failed', outputs: [], register: [] }));
      expect(failed.execution.execution.state).to.equal('failed');
      expect(failed.execution.inputs).to.have.length(2);
      expect(failed.registered).to.deep.equal([]);
    });
  });
}
