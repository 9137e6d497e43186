import { expect } from 'chai';
import {
  findDagVersionWithCode,
  getDag,
  getDagCode,
  getDagVersion,
  getDagVersionByNumber,
  getDagVersionWithCode,
  getLatestDagVersion,
  listDagVersions,
  listDags,
  markDagsInactiveExcept,
  setDagPaused,
  upsertDag,
  upsertDagVersion,
  type DagUpsert,
} from '../../db/dag.repository.js';
import { DagNotFoundError } from '../../db/errors.js';
import { DIALECTS, openMigratedDatabase, rejectionOf, specBlob, type TestDatabase } from './test-database.js';

function dag(dag_id: string, over: Partial<DagUpsert> = {}): DagUpsert {
  return {
    dag_id,
    fileloc: `dags/${dag_id}.ts`,
    owners: 'ml-team',
    description: `the ${dag_id} pipeline`,
    tags: ['ml', 'daily'],
    schedule: '@daily',
    ...over,
  };
}

const SPEC = specBlob({
  dag_id: 'train',
  tasks: [
    { task_id: 'extract', upstream: [], retries: 2, params: { limit: null, ratio: 0.25 } },
    { task_id: 'train', upstream: ['extract'], resources: { gpu: 1 }, note: 'größe ✓' },
  ],
});

for (const dialect of DIALECTS) {
  describe(`${dialect}: dag repository`, function () {
    let t: TestDatabase;
    before(async function () {
      t = await openMigratedDatabase(dialect);
    });
    after(async function () {
      await t?.cleanup();
    });

    it('upsertDag inserts a DAG with defaults and returns the row', async function () {
      const before = Date.now();
      const row = await upsertDag(t.db, dag('a'));
      expect(row).to.deep.include({
        dag_id: 'a',
        fileloc: 'dags/a.ts',
        owners: 'ml-team',
        description: 'the a pipeline',
        tags: ['ml', 'daily'],
        schedule: '@daily',
        is_paused: false,
        is_active: true,
        latest_version_id: null,
      });
      expect(row.last_parsed_at).to.be.instanceOf(Date);
      expect(row.last_parsed_at.getTime()).to.be.within(before - 5000, Date.now() + 5000);
      expect(await getDag(t.db, 'a')).to.deep.equal(row);
    });

    it('upsertDag updates what the file says, reactivates, and keeps is_paused', async function () {
      await upsertDag(t.db, dag('b'));
      await setDagPaused(t.db, 'b', true);
      await markDagsInactiveExcept(t.db, ['a']);
      expect((await getDag(t.db, 'b'))?.is_active).to.equal(false);
      const row = await upsertDag(
        t.db,
        dag('b', { fileloc: 'dags/moved.ts', description: null, tags: [], schedule: null }),
      );
      expect(row).to.deep.include({
        fileloc: 'dags/moved.ts',
        description: null,
        tags: [],
        schedule: null,
        is_paused: true,
        is_active: true,
      });
    });

    it('getDag returns undefined for an unknown DAG', async function () {
      expect(await getDag(t.db, 'nope')).to.equal(undefined);
    });

    it('upsertDagVersion numbers new hashes, is idempotent per hash, and tracks the latest', async function () {
      await upsertDag(t.db, dag('v'));
      const v1 = await upsertDagVersion(t.db, 'v', 'hash-1', SPEC);
      expect(v1).to.deep.include({ version_number: 1, created: true });
      expect(await upsertDagVersion(t.db, 'v', 'hash-1', SPEC)).to.deep.equal({ ...v1, created: false });
      const v2 = await upsertDagVersion(t.db, 'v', 'hash-2', { ...SPEC, tasks: [] });
      expect(v2).to.deep.include({ version_number: 2, created: true });
      expect(v2.id).to.not.equal(v1.id);
      expect((await getDag(t.db, 'v'))?.latest_version_id).to.equal(v2.id);

      // Reverting the file to an earlier spec points the DAG back at that version.
      expect(await upsertDagVersion(t.db, 'v', 'hash-1', SPEC)).to.deep.equal({ ...v1, created: false });
      expect((await getLatestDagVersion(t.db, 'v'))?.id).to.equal(v1.id);

      const stored = await getDagVersion(t.db, v1.id);
      expect(stored).to.deep.include({ id: v1.id, dag_id: 'v', version_number: 1, spec_hash: 'hash-1' });
      expect(stored?.spec).to.deep.equal(SPEC);
      expect(stored?.created_at).to.be.instanceOf(Date);
      expect((await listDagVersions(t.db, 'v')).map((r) => r.version_number)).to.deep.equal([1, 2]);
    });

    it('upsertDagVersion numbers per DAG', async function () {
      await upsertDag(t.db, dag('w'));
      expect(await upsertDagVersion(t.db, 'w', 'hash-1', SPEC)).to.deep.include({ version_number: 1 });
    });

    it('concurrent upsertDagVersion calls get distinct consecutive numbers', async function () {
      await upsertDag(t.db, dag('race'));
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => upsertDagVersion(t.db, 'race', `h${i}`, specBlob({ i }))),
      );
      expect(results.map((r) => r.version_number).sort()).to.deep.equal([1, 2, 3, 4, 5, 6]);
      const again = await Promise.all([
        upsertDagVersion(t.db, 'race', 'h0', specBlob({})),
        upsertDagVersion(t.db, 'race', 'h0', specBlob({})),
      ]);
      expect(again.map((r) => r.created)).to.deep.equal([false, false]);
    });

    it('upsertDagVersion for an unrecorded DAG throws DagNotFoundError', async function () {
      const err = await rejectionOf(upsertDagVersion(t.db, 'ghost', 'h', specBlob({})));
      expect(err).to.be.instanceOf(DagNotFoundError);
      expect(err.message).to.equal('dag not found: dag_id "ghost" (upsertDag must record the DAG before its versions)');
    });

    it('getDagVersion and getLatestDagVersion return undefined when absent', async function () {
      expect(await getDagVersion(t.db, 999999)).to.equal(undefined);
      expect(await getLatestDagVersion(t.db, 'a')).to.equal(undefined);
      expect(await getLatestDagVersion(t.db, 'nope')).to.equal(undefined);
    });

    it('listDags orders by dag_id and filters', async function () {
      await markDagsInactiveExcept(t.db, ['a', 'b', 'v', 'w', 'race']);
      expect((await listDags(t.db)).map((d) => d.dag_id)).to.deep.equal(['a', 'b', 'race', 'v', 'w']);
      expect((await listDags(t.db, { is_paused: true })).map((d) => d.dag_id)).to.deep.equal(['b']);
      expect((await listDags(t.db, { is_active: true, is_paused: false })).map((d) => d.dag_id)).to.deep.equal([
        'a',
        'race',
        'v',
        'w',
      ]);
    });

    it('a version is its spec and its code: a code change alone makes a new version, the bundle is stored once', async function () {
      await upsertDag(t.db, dag('coded'));
      const code1 = { code_hash: 'c1-coded', fileloc: 'coded.ts', bundle: 'module.exports = 1;' };
      const code2 = { code_hash: 'c2-coded', fileloc: 'coded.ts', bundle: 'module.exports = 2;' };
      const legacy = await upsertDagVersion(t.db, 'coded', 'spec-1', SPEC);
      const v1 = await upsertDagVersion(t.db, 'coded', 'spec-1', SPEC, code1);
      expect(v1).to.deep.include({ version_number: 2, created: true });
      expect(await upsertDagVersion(t.db, 'coded', 'spec-1', SPEC, code1)).to.deep.equal({ ...v1, created: false });
      const v2 = await upsertDagVersion(t.db, 'coded', 'spec-1', SPEC, code2);
      expect(v2).to.deep.include({ version_number: 3, created: true });
      // Another DAG of the same file shares the bundle row.
      await upsertDag(t.db, dag('coded_twin'));
      await upsertDagVersion(t.db, 'coded_twin', 'spec-9', SPEC, code2);
      const rows = await t.db
        .selectFrom('dag_code')
        .selectAll()
        .where('code_hash', 'in', ['c1-coded', 'c2-coded'])
        .orderBy('code_hash')
        .execute();
      expect(rows.map((r) => [r.code_hash, r.bundle])).to.deep.equal([
        ['c1-coded', 'module.exports = 1;'],
        ['c2-coded', 'module.exports = 2;'],
      ]);

      expect(await getDagVersionWithCode(t.db, v1.id)).to.deep.equal({
        id: v1.id,
        dag_id: 'coded',
        version_number: 2,
        spec_hash: 'spec-1',
        code_hash: 'c1-coded',
        fileloc: 'coded.ts',
      });
      expect(await getDagVersionWithCode(t.db, legacy.id)).to.deep.include({ code_hash: null, fileloc: null });
      expect((await getDagCode(t.db, 'c2-coded'))?.bundle).to.equal('module.exports = 2;');
      // By spec hash only (callbacks of older workflows): the newest version with it.
      expect((await findDagVersionWithCode(t.db, 'coded', 'spec-1'))?.id).to.equal(v2.id);
      expect((await getDagVersionByNumber(t.db, 'coded', 2))?.id).to.equal(v1.id);
      // A concurrent parse of the same (spec, code) never makes two versions.
      const again = await Promise.all([
        upsertDagVersion(t.db, 'coded', 'spec-1', SPEC, code2),
        upsertDagVersion(t.db, 'coded', 'spec-1', SPEC, code2),
      ]);
      expect(again.map((r) => [r.id, r.created])).to.deep.equal([
        [v2.id, false],
        [v2.id, false],
      ]);
      // The suite's later tests count every DAG.
      await t.db.deleteFrom('dag').where('dag_id', 'in', ['coded', 'coded_twin']).execute();
    });

    it('markDagsInactiveExcept deactivates the rest and reports how many changed', async function () {
      expect(await markDagsInactiveExcept(t.db, ['a', 'v'])).to.equal(3);
      expect(await markDagsInactiveExcept(t.db, ['a', 'v'])).to.equal(0);
      expect((await listDags(t.db, { is_active: true })).map((d) => d.dag_id)).to.deep.equal(['a', 'v']);
      expect(await markDagsInactiveExcept(t.db, [])).to.equal(2);
      expect(await listDags(t.db, { is_active: true })).to.deep.equal([]);
    });

    it('setDagPaused toggles and rejects unknown DAGs', async function () {
      expect((await setDagPaused(t.db, 'a', true)).is_paused).to.equal(true);
      expect((await setDagPaused(t.db, 'a', false)).is_paused).to.equal(false);
      const err = await rejectionOf(setDagPaused(t.db, 'nope', true));
      expect(err).to.be.instanceOf(DagNotFoundError);
      expect(err.message).to.equal('dag not found: dag_id "nope"');
    });
  });
}
