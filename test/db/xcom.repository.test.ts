import { expect } from 'chai';
import { InvalidJsonValueError } from '../../db/errors.js';
import { clearXComs, getXCom, getXComRow, listXComs, setXCom, type XComKey } from '../../db/xcom.repository.js';
import { DIALECTS, openMigratedDatabase, rejectionOf, seedRun, type TestDatabase } from './test-database.js';

const RUN = { dag_id: 'train', run_id: 'manual__1' };

function xkey(task_id: string, key = 'return_value', map_index = -1): XComKey {
  return { ...RUN, task_id, map_index, key };
}

const NESTED = {
  metrics: {
    auc: 0.9312,
    f1: [0.5, 0.75, 1],
    confusion: [
      [10, 2],
      [3, 85],
    ],
  },
  model: { uri: 's3://models/xgb/42', tags: ['candidate'], parent: null },
  ok: true,
  count: 12345678901,
  negative: -0.5,
  text: 'naïve ☃ 日本 "quoted" \\ back\nslash',
  empty: { obj: {}, arr: [] },
};

for (const dialect of DIALECTS) {
  describe(`${dialect}: xcom repository`, function () {
    let t: TestDatabase;
    before(async function () {
      t = await openMigratedDatabase(dialect);
      await seedRun(t.db, RUN.dag_id, RUN.run_id);
    });
    after(async function () {
      await t?.cleanup();
    });

    it('setXCom stores a nested value that reads back identical, with its JSON byte size', async function () {
      const size = await setXCom(t.db, xkey('evaluate'), NESTED);
      expect(size).to.equal(Buffer.byteLength(JSON.stringify(NESTED), 'utf8'));
      expect(await getXCom(t.db, xkey('evaluate'))).to.deep.equal(NESTED);
      const row = await getXComRow(t.db, xkey('evaluate'));
      expect(row).to.deep.include({ ...xkey('evaluate'), size_bytes: size });
      expect(row?.created_at).to.be.instanceOf(Date);
    });

    it('counts bytes, not characters', async function () {
      expect(await setXCom(t.db, xkey('bytes'), 'é')).to.equal(4); // "é" is 2 bytes plus 2 quotes
      expect(await setXCom(t.db, xkey('bytes', 'emoji'), '😀')).to.equal(6);
    });

    it('stores top-level arrays, scalars and null as JSON (not Postgres arrays)', async function () {
      await setXCom(t.db, xkey('scalars', 'array'), [1, 'two', [3], { four: 4 }]);
      await setXCom(t.db, xkey('scalars', 'string'), 'hello');
      await setXCom(t.db, xkey('scalars', 'number'), 42.5);
      await setXCom(t.db, xkey('scalars', 'bool'), false);
      await setXCom(t.db, xkey('scalars', 'null'), null);
      expect(await getXCom(t.db, xkey('scalars', 'array'))).to.deep.equal([1, 'two', [3], { four: 4 }]);
      expect(await getXCom(t.db, xkey('scalars', 'string'))).to.equal('hello');
      expect(await getXCom(t.db, xkey('scalars', 'number'))).to.equal(42.5);
      expect(await getXCom(t.db, xkey('scalars', 'bool'))).to.equal(false);
      expect(await getXCom(t.db, xkey('scalars', 'null'))).to.equal(null);
      expect(await getXCom(t.db, xkey('scalars', 'absent'))).to.equal(undefined);
      expect(await getXComRow(t.db, xkey('scalars', 'absent'))).to.equal(undefined);
    });

    it('setXCom replaces an existing value', async function () {
      await setXCom(t.db, xkey('replace'), { v: 1 });
      const size = await setXCom(t.db, xkey('replace'), { v: 'two' });
      expect(await getXCom(t.db, xkey('replace'))).to.deep.equal({ v: 'two' });
      expect((await getXComRow(t.db, xkey('replace')))?.size_bytes).to.equal(size);
    });

    it('rejects values JSON cannot carry, naming the XCom', async function () {
      const cases: Array<[unknown, string]> = [
        [undefined, 'xcom "return_value" of task "bad" must be a JSON-serializable value: got undefined'],
        [
          10n,
          'xcom "return_value" of task "bad" must be a JSON-serializable value: Do not know how to serialize a BigInt',
        ],
        [
          { s: 'a\u0000b' },
          'xcom "return_value" of task "bad" must be a JSON-serializable value: strings must not contain the NUL character (\\u0000)',
        ],
      ];
      for (const [value, message] of cases) {
        const err = await rejectionOf(setXCom(t.db, xkey('bad'), value));
        expect(err).to.be.instanceOf(InvalidJsonValueError);
        expect(err.message).to.equal(message);
      }
      // A literal backslash-u sequence is ordinary text.
      await setXCom(t.db, xkey('bad'), { s: 'C:\\u0000' });
      expect(await getXCom(t.db, xkey('bad'))).to.deep.equal({ s: 'C:\\u0000' });
    });

    it('listXComs and clearXComs work per task and per map index', async function () {
      await setXCom(t.db, xkey('mapped', 'return_value', 0), 'a');
      await setXCom(t.db, xkey('mapped', 'return_value', 1), 'b');
      await setXCom(t.db, xkey('mapped', 'extra', 1), 'c');
      expect(
        (await listXComs(t.db, RUN.dag_id, RUN.run_id, 'mapped')).map((r) => [r.map_index, r.key, r.value]),
      ).to.deep.equal([
        [0, 'return_value', 'a'],
        [1, 'extra', 'c'],
        [1, 'return_value', 'b'],
      ]);
      expect(await clearXComs(t.db, RUN.dag_id, RUN.run_id, 'mapped', 1)).to.equal(2);
      expect((await listXComs(t.db, RUN.dag_id, RUN.run_id, 'mapped')).map((r) => r.map_index)).to.deep.equal([0]);
      expect(await clearXComs(t.db, RUN.dag_id, RUN.run_id, 'mapped')).to.equal(1);
      expect(await clearXComs(t.db, RUN.dag_id, RUN.run_id, 'mapped')).to.equal(0);
      expect(await getXCom(t.db, xkey('evaluate'))).to.deep.equal(NESTED);
      const tasks = new Set((await listXComs(t.db, RUN.dag_id, RUN.run_id)).map((r) => r.task_id));
      expect([...tasks]).to.deep.equal(['bad', 'bytes', 'evaluate', 'replace', 'scalars']);
    });
  });
}
