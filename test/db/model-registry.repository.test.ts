/**
 * The model registry on Postgres and PGlite: version numbering under concurrency, aliases moved by
 * compare-and-swap (real concurrent transactions on Postgres; PGlite's mutex serializes them), the
 * append-only promotion log enforced by the database, rollback, evaluations and bad input.
 */
import { expect } from 'chai';
import { sql, type Kysely } from 'kysely';
import { openDatabase, type DatabaseHandle } from '../../db/connect.js';
import type { Database } from '../../db/database.js';
import { recordArtifacts } from '../../db/artifact.repository.js';
import {
  AliasNotFoundError,
  ArtifactNotFoundError,
  InvalidRecordFieldError,
  ModelNotFoundError,
  ModelVersionNotFoundError,
  NothingToRollBackError,
  VersionOfAnotherModelError,
} from '../../db/ml-errors.js';
import {
  getModelVersion,
  listModelVersions,
  listRegisteredModels,
  promotionHistory,
  recordEvaluation,
  registerModelVersion,
  resolveAlias,
  rollbackAlias,
  setAlias,
  setModelVersionStatus,
} from '../../db/model-registry.repository.js';
import { EvaluationInputError, MissingCandidateMetricError } from '../../engine/promotion.js';
import { art } from './ml-fixtures.js';
import { DIALECTS, openMigratedDatabase, rejectionOf, testDatabaseUrl, type TestDatabase } from './test-database.js';

async function newVersions(db: Kysely<Database>, model: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const [a] = await recordArtifacts(db, [art(`${model}-${i}-${Math.random()}.onnx`, 'model', 'onnx')]);
    out.push(
      (await registerModelVersion(db, { model, artifactId: a!.id, metrics: { accuracy: 0.9 + i / 100 } })).version,
    );
  }
  return out;
}

async function promotionCount(db: Kysely<Database>): Promise<number> {
  const r = await db
    .selectFrom('model_promotion')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return r.n;
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: model registry repository`, function () {
    let t: TestDatabase;
    before(async function () {
      t = await openMigratedDatabase(dialect);
    });
    after(async function () {
      await t?.cleanup();
    });

    it('versions count 1, 2, 3 per model; concurrent registrations never share a number', async function () {
      expect(await newVersions(t.db, 'iris', 3)).to.deep.equal([1, 2, 3]);
      const artifacts = await recordArtifacts(
        t.db,
        Array.from({ length: 6 }, (_, i) => art(`race-${i}.onnx`, 'model')),
      );
      const versions = await Promise.all(
        artifacts.map((a) => registerModelVersion(t.db, { model: 'racer', artifactId: a.id })),
      );
      expect(versions.map((v) => v.version).sort((a, b) => a - b)).to.deep.equal([1, 2, 3, 4, 5, 6]);
      const v = await getModelVersion(t.db, 'iris', 2);
      expect(v).to.include({ model_name: 'iris', version: 2, format: 'onnx', status: 'registered' });
      expect(v.metrics).to.deep.equal({ accuracy: 0.91 });
    });

    it('set, promote with CAS, and a stale promote that loses and is logged as lost', async function () {
      const set = await setAlias(t.db, {
        model: 'iris',
        alias: 'champion',
        version: 1,
        expectedVersion: null,
        action: 'set',
        actor: 'alice',
        reason: 'first model',
      });
      expect(set.outcome).to.equal('moved');
      const promote = await setAlias(t.db, {
        model: 'iris',
        alias: 'champion',
        version: 2,
        expectedVersion: 1,
        actor: 'gate:run1',
      });
      expect(promote.outcome).to.equal('moved');
      const stale = await setAlias(t.db, {
        model: 'iris',
        alias: 'champion',
        version: 3,
        expectedVersion: 1,
        actor: 'gate:run0',
        reason: 'late gate',
      });
      expect(stale.outcome).to.equal('lost');
      expect(stale.current?.version).to.equal(2);
      expect(stale.promotion?.reason).to.equal(
        'lost the race to promote version 3: "champion" was expected version id ' +
          set.current!.id +
          ' but is at version 2; late gate',
      );
      const again = await setAlias(t.db, { model: 'iris', alias: 'champion', version: 2, actor: 'bob' });
      expect(again).to.deep.include({ outcome: 'unchanged', promotion: null });
      expect((await resolveAlias(t.db, 'iris', 'champion'))?.version).to.equal(2);
      const history = await promotionHistory(t.db, 'iris', 'champion');
      expect(history.map((h) => [h.action, h.from_version, h.to_version, h.actor])).to.deep.equal([
        ['set', null, 1, 'alice'],
        ['promote', 1, 2, 'gate:run1'],
        ['lost', 1, 3, 'gate:run0'],
      ]);
    });

    it('N gates racing for the same alias with the same expectation: exactly one moves it, the rest are lost', async function () {
      await newVersions(t.db, 'race', 7);
      await setAlias(t.db, {
        model: 'race',
        alias: 'champion',
        version: 1,
        expectedVersion: null,
        action: 'set',
        actor: 'seed',
      });
      const results = await Promise.all(
        [2, 3, 4, 5, 6, 7].map((v) =>
          setAlias(t.db, { model: 'race', alias: 'champion', version: v, expectedVersion: 1, actor: `gate-${v}` }),
        ),
      );
      const moved = results.filter((r) => r.outcome === 'moved');
      expect(moved).to.have.length(1);
      expect(results.filter((r) => r.outcome === 'lost')).to.have.length(5);
      const winner = moved[0]!.current!.version;
      expect((await resolveAlias(t.db, 'race', 'champion'))?.version).to.equal(winner);
      for (const r of results.filter((x) => x.outcome === 'lost')) expect(r.current?.version).to.equal(winner);
      const log = await promotionHistory(t.db, 'race', 'champion');
      expect(log.filter((h) => h.action === 'promote').map((h) => h.to_version)).to.deep.equal([winner]);
      expect(log.filter((h) => h.action === 'lost')).to.have.length(5);
    });

    it('two first promotions of an unset alias: the primary key lets one insert win', async function () {
      await newVersions(t.db, 'fresh', 2);
      const results = await Promise.all(
        [1, 2].map((v) =>
          setAlias(t.db, {
            model: 'fresh',
            alias: 'challenger',
            version: v,
            expectedVersion: null,
            actor: `gate-${v}`,
          }),
        ),
      );
      expect(results.map((r) => r.outcome).sort()).to.deep.equal(['lost', 'moved']);
    });

    it('the promotion log refuses UPDATE, DELETE and TRUNCATE in the database itself', async function () {
      const before = await promotionCount(t.db);
      const upd = await rejectionOf(t.db.updateTable('model_promotion').set({ actor: 'mallory' }).execute());
      expect(upd.message).to.contain('model_promotion is append-only: UPDATE refused');
      const del = await rejectionOf(t.db.deleteFrom('model_promotion').execute());
      expect(del.message).to.contain('model_promotion is append-only: DELETE refused');
      const trunc = await rejectionOf(sql`truncate model_promotion`.execute(t.db));
      expect(trunc.message).to.contain('model_promotion is append-only: TRUNCATE refused');
      expect(await promotionCount(t.db)).to.equal(before);
      expect(before).to.be.greaterThan(0);
    });

    it('rollback walks back through the log; --to picks a version; each is logged', async function () {
      await newVersions(t.db, 'rb', 3);
      await setAlias(t.db, {
        model: 'rb',
        alias: 'champion',
        version: 1,
        expectedVersion: null,
        action: 'set',
        actor: 'a',
      });
      await setAlias(t.db, { model: 'rb', alias: 'champion', version: 2, expectedVersion: 1, actor: 'a' });
      await setAlias(t.db, { model: 'rb', alias: 'champion', version: 3, expectedVersion: 2, actor: 'a' });
      const r1 = await rollbackAlias(t.db, { model: 'rb', actor: 'oncall', reason: 'latency regression' });
      expect(r1).to.deep.include({ outcome: 'moved' });
      expect(r1.current?.version).to.equal(2);
      const r2 = await rollbackAlias(t.db, { model: 'rb', actor: 'oncall' });
      expect(r2.current?.version).to.equal(1);
      const none = await rejectionOf(rollbackAlias(t.db, { model: 'rb', actor: 'oncall' }));
      expect(none).to.be.instanceOf(NothingToRollBackError);
      expect(none.message).to.contain('cannot roll back "rb@champion"');
      const to = await rollbackAlias(t.db, { model: 'rb', toVersion: 3, actor: 'oncall' });
      expect(to.current?.version).to.equal(3);
      const h = await promotionHistory(t.db, 'rb');
      expect(h.map((x) => `${x.action} ${x.from_version}->${x.to_version}`)).to.deep.equal([
        'set null->1',
        'promote 1->2',
        'promote 2->3',
        'rollback 3->2',
        'rollback 2->1',
        'rollback 1->3',
      ]);
      expect(h[3]!.reason).to.equal('latency regression');
      expect(await rejectionOf(rollbackAlias(t.db, { model: 'rb', alias: 'shadow', actor: 'x' }))).to.be.instanceOf(
        NothingToRollBackError,
      );
      expect(
        await rejectionOf(rollbackAlias(t.db, { model: 'rb', alias: 'shadow', toVersion: 1, actor: 'x' })),
      ).to.be.instanceOf(AliasNotFoundError);
    });

    it('evaluations store both metric sets, the thresholds, the decision and each failure', async function () {
      await newVersions(t.db, 'ev', 3);
      const thresholds = { accuracy: { threshold: 0.9, minAbsoluteChange: 0.01, greaterIsBetter: true } };
      const first = await recordEvaluation(t.db, {
        model: 'ev',
        candidate: 1,
        baseline: null,
        candidateMetrics: { accuracy: 0.93 },
        baselineMetrics: null,
        thresholds,
        dag_id: 'iris',
        run_id: 'r1',
        task_id: 'validate_model',
      });
      expect(first.evaluation).to.include({
        decision: 'pass',
        baseline_version_id: null,
        dag_id: 'iris',
        task_id: 'validate_model',
      });
      expect(first.evaluation.failures).to.deep.equal([]);
      const second = await recordEvaluation(t.db, {
        model: 'ev',
        candidate: { model: 'ev', version: 2 },
        baseline: 1,
        candidateMetrics: { accuracy: 0.935, f1: 0.9 },
        baselineMetrics: { accuracy: 0.93 },
        thresholds,
      });
      expect(second.result.decision).to.equal('fail');
      expect(second.evaluation.decision).to.equal('fail');
      expect(second.evaluation.candidate_metrics).to.deep.equal({ accuracy: 0.935, f1: 0.9 });
      expect(second.evaluation.baseline_metrics).to.deep.equal({ accuracy: 0.93 });
      expect(second.evaluation.thresholds).to.deep.equal(thresholds);
      expect(second.evaluation.failures).to.deep.equal([
        {
          metric: 'accuracy',
          rule: 'min_absolute_change',
          candidate: 0.935,
          baseline: 0.93,
          expected: 0.93 + 0.01,
          message:
            'Metric accuracy minimum absolute change check failed: candidate model accuracy = 0.935, baseline model accuracy = 0.93, accuracy minimum absolute change threshold = 0.01.',
        },
      ]);
      // A promotion resting on the passing evaluation of version 1.
      const moved = await setAlias(t.db, {
        model: 'ev',
        alias: 'champion',
        version: 1,
        expectedVersion: null,
        evaluationId: first.evaluation.id,
        actor: 'gate',
      });
      expect(moved.promotion?.evaluation_id).to.equal(first.evaluation.id);
    });

    describe('bad input: typed errors naming the field, nothing written', function () {
      let evalOfV2 = 0;
      before(async function () {
        await newVersions(t.db, 'bad', 2);
        await newVersions(t.db, 'other', 1);
        evalOfV2 = (
          await recordEvaluation(t.db, {
            model: 'bad',
            candidate: 2,
            baseline: null,
            candidateMetrics: { a: 1 },
            baselineMetrics: null,
            thresholds: { a: { threshold: 0, greaterIsBetter: true } },
          })
        ).evaluation.id;
      });

      const cases: ReadonlyArray<[string, () => Promise<unknown>, new (...args: never[]) => Error, string]> = [
        [
          'unknown model',
          () => setAlias(t.db, { model: 'nope', alias: 'champion', version: 1, actor: 'a' }),
          ModelNotFoundError,
          'registered model not found: "nope"',
        ],
        [
          'unknown version',
          () => setAlias(t.db, { model: 'bad', alias: 'champion', version: 9, actor: 'a' }),
          ModelVersionNotFoundError,
          'model "bad" has no version 9 (its versions are 1..2',
        ],
        [
          'a version of another model',
          () =>
            setAlias(t.db, { model: 'bad', alias: 'champion', version: { model: 'other', version: 1 }, actor: 'a' }),
          VersionOfAnotherModelError,
          'version: other@1 is a version of "other", not of "bad"',
        ],
        [
          'an evaluation of another version',
          () => setAlias(t.db, { model: 'bad', alias: 'champion', version: 1, evaluationId: evalOfV2, actor: 'a' }),
          InvalidRecordFieldError,
          'evaluationId: evaluation',
        ],
        [
          'an alias that looks like a version',
          () => setAlias(t.db, { model: 'bad', alias: 'v2', version: 1, actor: 'a' }),
          InvalidRecordFieldError,
          'alias: expected an alias',
        ],
        [
          'no actor',
          () => setAlias(t.db, { model: 'bad', alias: 'champion', version: 1, actor: ' ' }),
          InvalidRecordFieldError,
          'actor:',
        ],
        [
          'a threshold on a metric the evaluation lacks',
          () =>
            recordEvaluation(t.db, {
              model: 'bad',
              candidate: 1,
              baseline: null,
              candidateMetrics: { f1: 0.8 },
              baselineMetrics: null,
              thresholds: { accuracy: { threshold: 0.9, greaterIsBetter: true } },
            }),
          MissingCandidateMetricError,
          'thresholds.accuracy: the candidate\'s evaluation has no metric "accuracy"',
        ],
        [
          'a malformed threshold',
          () =>
            recordEvaluation(t.db, {
              model: 'bad',
              candidate: 1,
              baseline: null,
              candidateMetrics: { a: 1 },
              baselineMetrics: null,
              thresholds: { a: { threshold: '0.9', greaterIsBetter: true } },
            }),
          EvaluationInputError,
          'thresholds.a.threshold: must be a number',
        ],
        [
          'a baseline from another model',
          () =>
            recordEvaluation(t.db, {
              model: 'bad',
              candidate: 1,
              baseline: { model: 'other', version: 1 },
              candidateMetrics: { a: 1 },
              baselineMetrics: { a: 1 },
              thresholds: { a: { minAbsoluteChange: 0, greaterIsBetter: true } },
            }),
          VersionOfAnotherModelError,
          'baseline: other@1',
        ],
        [
          'a baseline without its metrics',
          () =>
            recordEvaluation(t.db, {
              model: 'bad',
              candidate: 1,
              baseline: 2,
              candidateMetrics: { a: 1 },
              baselineMetrics: null,
              thresholds: { a: { threshold: 0, greaterIsBetter: true } },
            }),
          InvalidRecordFieldError,
          'baselineMetrics:',
        ],
        [
          'registering a missing artifact',
          () => registerModelVersion(t.db, { model: 'bad', artifactId: 987654 }),
          ArtifactNotFoundError,
          'artifactId: no artifact with id 987654',
        ],
        [
          'registering with missing training data',
          () => registerModelVersion(t.db, { model: 'brand_new', artifactId: 1, trainingDataArtifactIds: [987654] }),
          ArtifactNotFoundError,
          'trainingDataArtifactIds[0]',
        ],
        [
          'a non-finite registered metric',
          () => registerModelVersion(t.db, { model: 'bad', artifactId: 1, metrics: { acc: Number.POSITIVE_INFINITY } }),
          EvaluationInputError,
          'metrics.acc: must be a finite number',
        ],
        [
          'a model name with @',
          () => registerModelVersion(t.db, { model: 'a@b', artifactId: 1 }),
          InvalidRecordFieldError,
          'model: expected a model name',
        ],
        [
          'an unknown status',
          () => setModelVersionStatus(t.db, 'bad', 1, 'gold' as 'validated'),
          InvalidRecordFieldError,
          'status: expected one of',
        ],
      ];
      for (const [what, call, type, text] of cases) {
        it(what, async function () {
          const promotions = await promotionCount(t.db);
          const evaluations = await t.db.selectFrom('model_evaluation').select('id').execute();
          const models = await listRegisteredModels(t.db);
          const err = await rejectionOf(call());
          expect(err).to.be.instanceOf(type);
          expect(err.message).to.contain(text);
          expect(await promotionCount(t.db)).to.equal(promotions);
          expect(await t.db.selectFrom('model_evaluation').select('id').execute()).to.have.length(evaluations.length);
          expect(await listRegisteredModels(t.db)).to.have.length(models.length);
        });
      }
    });

    it('lists models with their latest version and aliases, and versions with theirs', async function () {
      const models = await listRegisteredModels(t.db);
      const iris = models.find((m) => m.name === 'iris');
      expect(iris).to.deep.include({ latest_version: 3, aliases: { champion: 2 } });
      const versions = await listModelVersions(t.db, 'iris');
      expect(versions.map((v) => [v.version, v.aliases])).to.deep.equal([
        [3, []],
        [2, ['champion']],
        [1, []],
      ]);
      expect((await setModelVersionStatus(t.db, 'iris', 3, 'rejected')).status).to.equal('rejected');
    });
  });
}

describe('postgres: a promotion racing an open transaction waits on its row lock, then loses', function () {
  let t: TestDatabase;
  let other: DatabaseHandle;
  before(async function () {
    t = await openMigratedDatabase('postgres');
    // A second, independent pool: the two transactions run on different server connections.
    const name = (await sql<{ db: string }>`select current_database() as db`.execute(t.db)).rows[0]!.db;
    const u = new URL(testDatabaseUrl());
    u.pathname = `/${name}`;
    other = await openDatabase({ url: u.toString(), poolSize: 2 });
    await newVersions(t.db, 'locked', 3);
    await setAlias(t.db, { model: 'locked', alias: 'champion', version: 1, expectedVersion: null, actor: 'seed' });
  });
  after(async function () {
    await other?.close();
    await t?.cleanup();
  });

  it('gate A holds the alias row; gate B blocks, and after A commits B records lost', async function () {
    let releaseA!: () => void;
    const aMayCommit = new Promise<void>((resolve) => (releaseA = resolve));
    let aMoved!: (r: Awaited<ReturnType<typeof setAlias>>) => void;
    const aResult = new Promise<Awaited<ReturnType<typeof setAlias>>>((resolve) => (aMoved = resolve));
    const a = t.db.transaction().execute(async (trx) => {
      const r = await setAlias(trx, {
        model: 'locked',
        alias: 'champion',
        version: 2,
        expectedVersion: 1,
        actor: 'gate-A',
      });
      aMoved(r);
      await aMayCommit;
      return r;
    });
    expect((await aResult).outcome).to.equal('moved');
    const b = setAlias(other.db, {
      model: 'locked',
      alias: 'champion',
      version: 3,
      expectedVersion: 1,
      actor: 'gate-B',
    });
    // B is really waiting on A's row lock (not finished, not failed) before A commits.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const waiting = await sql<{ n: number }>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and query ilike '%update "model_alias"%'`.execute(
        t.db,
      );
      if (waiting.rows[0]!.n === 1) break;
      if (Date.now() > deadline) throw new Error('gate B never blocked on the alias row lock');
      await new Promise((r) => setTimeout(r, 20));
    }
    releaseA();
    await a;
    const rb = await b;
    expect(rb.outcome).to.equal('lost');
    expect(rb.current?.version).to.equal(2);
    const h = await promotionHistory(t.db, 'locked', 'champion');
    expect(h.map((x) => `${x.action} ${x.from_version}->${x.to_version} ${x.actor}`)).to.deep.equal([
      'promote null->1 seed',
      'promote 1->2 gate-A',
      'lost 1->3 gate-B',
    ]);
  });
});
