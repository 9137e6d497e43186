/// <reference types="mocha" />
/**
 * The model gate's transaction (db/model-gate.repository.ts) on Postgres and PGlite: six gates
 * racing with equal metrics promote exactly one candidate; a candidate already champion is
 * `unchanged`; the same artifact gated again in the same run reuses its version; bad candidates
 * and baselines are errors naming the field with nothing written; a pinned champion (the one the
 * evaluation scored) that moved or appeared before the gate makes the promotion a lost race.
 */
import { expect } from 'chai';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import { InvalidRecordFieldError, VersionOfAnotherModelError } from '../../db/ml-errors.js';
import { runModelGate, type ModelGateInput } from '../../db/model-gate.repository.js';
import { recordArtifact } from '../../db/artifact.repository.js';
import {
  lookupAlias,
  promotionHistory,
  registerModelVersion,
  resolveAlias,
  setAlias,
} from '../../db/model-registry.repository.js';
import { MissingCandidateMetricError } from '../../engine/promotion.js';
import { createTestDatabase, TEST_DB_KINDS } from '../helpers/servers.js';
import { art } from './ml-fixtures.js';

const THRESHOLDS = { accuracy: { threshold: 0.5, minAbsoluteChange: 0.01, greaterIsBetter: true } };

function gate(name: string, over: Partial<ModelGateInput> = {}): ModelGateInput {
  return {
    model: 'm',
    candidate: { artifact: art(name, 'model', 'onnx') },
    candidateMetrics: { accuracy: 0.9 },
    baseline: null,
    thresholds: THRESHOLDS,
    promoteTo: 'champion',
    otherwiseAlias: 'challenger',
    dag_id: 'd',
    run_id: `run-${name}`,
    task_id: 'gate',
    try_number: 1,
    actor: `d/run-${name}/gate`,
    ...over,
  };
}

async function counts(db: Kysely<Database>): Promise<number[]> {
  const out: number[] = [];
  for (const t of [
    'registered_model',
    'model_version',
    'model_evaluation',
    'model_promotion',
    'model_alias',
  ] as const) {
    out.push(
      Number(
        (
          await db
            .selectFrom(t)
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      ),
    );
  }
  return out;
}

async function expectRejected(
  db: Kysely<Database>,
  fn: () => Promise<unknown>,
  type: new (...a: never[]) => Error,
  message: string,
): Promise<void> {
  const before = await counts(db);
  const err = await fn().then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).to.be.instanceOf(type);
  expect((err as Error).message).to.equal(message);
  expect(await counts(db)).to.deep.equal(before);
}

for (const kind of TEST_DB_KINDS) {
  describe(`db: model gate transaction (${kind})`, function () {
    this.timeout(120_000);
    let h: Awaited<ReturnType<typeof createTestDatabase>>;
    let db: Kysely<Database>;

    before(async () => {
      h = await createTestDatabase(kind);
      db = h.db;
    });
    after(async () => h?.close());

    it('six gates racing with equal metrics: exactly one promotion', async () => {
      // Registered first, so the gates race on the alias itself (no registration lock orders them).
      const versions = [];
      for (const n of ['r1', 'r2', 'r3', 'r4', 'r5', 'r6']) {
        versions.push(
          await registerModelVersion(db, {
            model: 'm',
            artifactId: (await recordArtifact(db, art(`${n}.onnx`, 'model'))).id,
          }),
        );
      }
      const results = await Promise.all(
        versions.map((v) =>
          runModelGate(db, gate(`r${v.version}`, { candidate: { version: { model: 'm', version: v.version } } })),
        ),
      );
      const promoted = results.filter((r) => r.outcome === 'promoted');
      expect(promoted).to.have.length(1);
      // The others either lost the CAS or, serialized after the winner, failed against it (0.9 is not 0.9 + 0.01).
      for (const r of results.filter((x) => x.outcome !== 'promoted'))
        expect(r.outcome).to.be.oneOf(['lost', 'rejected']);
      expect((await resolveAlias(db, 'm', 'champion'))!.version).to.equal(promoted[0]!.candidate.version);
      const history = await promotionHistory(db, 'm', 'champion');
      expect(history.filter((p) => p.action === 'promote')).to.have.length(1);
      expect(history.filter((p) => p.action === 'lost')).to.have.length(
        results.filter((r) => r.outcome === 'lost').length,
      );
    });

    it('a candidate already champion is unchanged; the same artifact in the same run reuses its version', async () => {
      const champion = (await resolveAlias(db, 'm', 'champion'))!;
      const again = await runModelGate(
        db,
        gate('x', { candidate: { version: { model: 'm', version: champion.version } } }),
      );
      expect(again).to.deep.include({
        outcome: 'unchanged',
        decision: 'pass',
        evaluation: null,
        promotion: null,
        champion: champion.version,
      });

      const first = await runModelGate(db, gate('same.onnx', { candidateMetrics: { accuracy: 0.2 } }));
      expect(first).to.deep.include({ outcome: 'rejected', registered: true });
      const second = await runModelGate(db, gate('same.onnx', { candidateMetrics: { accuracy: 0.2 } }));
      expect(second).to.deep.include({ outcome: 'rejected', registered: false });
      expect(second.candidate.id).to.equal(first.candidate.id);
      expect((await resolveAlias(db, 'm', 'challenger'))!.version).to.equal(first.candidate.version);
    });

    it("without an evaluation of the champion, compares with its version's metrics", async () => {
      const a = await recordArtifact(db, art('solo.onnx', 'model'));
      await registerModelVersion(db, { model: 'solo', artifactId: a.id, metrics: { accuracy: 0.7 } });
      await setAlias(db, { model: 'solo', alias: 'champion', version: 1, actor: 'test' });
      const r = await runModelGate(db, gate('solo-2.onnx', { model: 'solo', candidateMetrics: { accuracy: 0.75 } }));
      expect(r).to.deep.include({
        outcome: 'promoted',
        baselineVersion: 1,
        baselineMetricsFrom: 'version',
        baselineMetrics: { accuracy: 0.7 },
      });
    });

    it('a pinned champion that moved since the evaluation (or appeared) is a lost race, never promoted over', async () => {
      // pinned: version 1 was champion when the evaluation ran; version 2 took the alias since.
      for (const n of ['p1', 'p2']) {
        await registerModelVersion(db, {
          model: 'pin',
          artifactId: (await recordArtifact(db, art(`${n}.onnx`, 'model'))).id,
        });
      }
      await setAlias(db, { model: 'pin', alias: 'champion', version: 1, actor: 'test' });
      expect(await lookupAlias(db, 'pin', 'champion')).to.deep.include({
        version: await resolveAlias(db, 'pin', 'champion'),
      });
      expect((await lookupAlias(db, 'pin', 'champion'))!.artifact.name).to.equal('p1.onnx');
      await setAlias(db, { model: 'pin', alias: 'champion', version: 2, expectedVersion: 1, actor: 'other run' });
      const moved = await runModelGate(
        db,
        gate('p3.onnx', {
          model: 'pin',
          candidateMetrics: { accuracy: 0.9 },
          baseline: { version: 1, metrics: { accuracy: 0.8 } },
          expectedChampion: 1,
        }),
      );
      expect(moved).to.deep.include({
        outcome: 'lost',
        decision: 'pass',
        baselineVersion: 1,
        baselineMetricsFrom: 'input',
        champion: 2,
      });
      expect(moved.promotion).to.deep.include({ action: 'lost', alias: 'champion' });
      expect(moved.promotion!.reason).to.match(
        /^lost the race to promote version 3: "champion" was expected version id \d+ but is at version 2; passed against version 1$/,
      );

      // pinned null: no champion when the evaluation ran, but one appeared since: the thresholds alone
      // decided (no baseline looked up from the new champion's run), and the promotion is lost.
      const appeared = await runModelGate(
        db,
        gate('p4.onnx', { model: 'pin', candidateMetrics: { accuracy: 0.95 }, expectedChampion: null }),
      );
      expect(appeared).to.deep.include({
        outcome: 'lost',
        decision: 'pass',
        baselineVersion: null,
        baselineMetrics: null,
        baselineMetricsFrom: null,
        champion: 2,
      });
      expect((await resolveAlias(db, 'pin', 'champion'))!.version).to.equal(2);
      expect((await promotionHistory(db, 'pin', 'champion')).map((p) => [p.action, p.to_version])).to.deep.equal([
        ['promote', 1],
        ['promote', 2],
        ['lost', 3],
        ['lost', 4],
      ]);
      // Not registered, or an alias not set: nothing behind it (not an error).
      expect(await lookupAlias(db, 'never-registered', 'champion')).to.equal(undefined);
      expect(await lookupAlias(db, 'pin', 'staging')).to.equal(undefined);
    });

    it('refuses a pinned champion that the baseline does not match, and bad alias names in lookups', async () => {
      await expectRejected(
        db,
        () => runModelGate(db, gate('q.onnx', { model: 'pin', expectedChampion: 2 })),
        InvalidRecordFieldError,
        'baseline: the champion was version 2 when the evaluation ran, but the evaluation returned no baseline: ' +
          'score the champion on the same rows and return {version: 2, metrics} (evaluate.py takes it as input.champion)',
      );
      await expectRejected(
        db,
        () =>
          runModelGate(
            db,
            gate('q.onnx', { model: 'pin', expectedChampion: 2, baseline: { version: 1, metrics: { accuracy: 0.8 } } }),
          ),
        InvalidRecordFieldError,
        'baseline.version: the baseline is version 1, but the champion the evaluation was given is version 2',
      );
      await expectRejected(
        db,
        () =>
          runModelGate(
            db,
            gate('q.onnx', {
              model: 'pin',
              expectedChampion: null,
              baseline: { version: 1, metrics: { accuracy: 0.8 } },
            }),
          ),
        InvalidRecordFieldError,
        'baseline.version: the baseline is version 1, but there was no champion when the evaluation ran',
      );
      const err = await lookupAlias(db, 'pin', 'v2').then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err).to.be.instanceOf(InvalidRecordFieldError);
      expect(err!.message).to.match(/^alias: expected an alias such as champion/);
    });

    it('refuses bad candidates, baselines and metrics, naming the field, with nothing written', async () => {
      await expectRejected(
        db,
        () => runModelGate(db, gate('y', { candidate: { version: { model: 'other', version: 1 } } })),
        VersionOfAnotherModelError,
        'candidate: other@1 is a version of "other", not of "m"; promote and evaluate versions of "m" only',
      );
      await expectRejected(
        db,
        () => runModelGate(db, gate('y', { candidate: { version: { model: 'm', version: 99 } } })),
        InvalidRecordFieldError,
        'candidate: model "m" has no version 99',
      );
      await expectRejected(
        db,
        () =>
          runModelGate(db, gate('y', { candidate: { version: { model: 'm', version: 1, sha256: 'f'.repeat(64) } } })),
        InvalidRecordFieldError,
        `candidate: m@1 is recorded with sha256 ${(await db.selectFrom('model_version as v').innerJoin('registered_model as r', 'r.id', 'v.model_id').select('v.sha256').where('r.name', '=', 'm').where('v.version', '=', 1).executeTakeFirstOrThrow()).sha256}, the ref says ${'f'.repeat(64)}`,
      );
      await expectRejected(
        db,
        () => runModelGate(db, gate('data.csv', { candidate: { artifact: art('data.csv', 'dataset', 'csv') } })),
        InvalidRecordFieldError,
        'candidate: the artifact "data.csv" is a dataset, not a model',
      );
      await expectRejected(
        db,
        () => runModelGate(db, gate('new.onnx', { baseline: { version: 42, metrics: { accuracy: 0.1 } } })),
        InvalidRecordFieldError,
        'baseline.version: model "m" has no version 42',
      );
      await expectRejected(
        db,
        () => runModelGate(db, gate('new.onnx', { candidateMetrics: { recall: 0.9 } })),
        MissingCandidateMetricError,
        'thresholds.accuracy: the candidate\'s evaluation has no metric "accuracy" (it has: recall); log that metric in the evaluation step or remove the threshold',
      );
      await expectRejected(
        db,
        () => runModelGate(db, gate('new.onnx', { promoteTo: 'latest' })),
        InvalidRecordFieldError,
        'promoteTo: expected an alias such as champion or challenger (a letter or _ first; not "latest", not a version like v3), got "latest"',
      );
    });
  });
}
