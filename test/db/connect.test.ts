import { expect } from 'chai';
import { sql } from 'kysely';
import { DatabaseConfigError, openDatabase } from '../../db/connect.js';
import { inTransaction } from '../../db/transaction.js';
import { parseInt8, parseTimestamp } from '../../db/type-parsers.js';
import { DIALECTS, openMigratedDatabase, rejectionOf, seedRun, type TestDatabase } from './test-database.js';

describe('db/connect: options', function () {
  it('needs a url or a PGlite path', async function () {
    const err = await rejectionOf(openDatabase({}));
    expect(err).to.be.instanceOf(DatabaseConfigError);
    expect(err.message).to.equal(
      'openDatabase: give either url (postgres://...) or pglitePath (a directory, or memory://)',
    );
  });

  it('rejects a url that is not postgres://, without echoing the password', async function () {
    const err = await rejectionOf(openDatabase({ url: 'mysql://root:secret@localhost/db' }));
    expect(err.message).to.equal(
      'openDatabase: url must start with postgres:// or postgresql://, got "mysql://root:***@localhost/db"',
    );
  });
});

describe('db/type-parsers', function () {
  it('parses Postgres ISO timestamps to the same instant', function () {
    const cases: Array<[string, string]> = [
      ['2026-11-23 10:00:00+00', '2026-11-23T10:00:00.000Z'],
      ['2026-11-23 10:00:00.5+00', '2026-11-23T10:00:00.500Z'],
      ['2026-11-23 10:00:00.123456+00', '2026-11-23T10:00:00.123Z'],
      ['2026-11-23 15:30:00.999999+05:30', '2026-11-23T10:00:00.999Z'],
      ['2026-11-23 09:00:00-01', '2026-11-23T10:00:00.000Z'],
      ['1883-11-18 12:00:00-00:53:28', '1883-11-18T12:53:28.000Z'],
      ['2026-11-23 10:00:00', '2026-11-23T10:00:00.000Z'],
      ['0001-01-01 00:00:00+00', '0001-01-01T00:00:00.000Z'],
    ];
    for (const [text, iso] of cases) expect(parseTimestamp(text).toISOString(), text).to.equal(iso);
    expect(parseTimestamp('0044-03-15 12:00:00+00 BC').getUTCFullYear()).to.equal(-43);
    expect(Number.isNaN(parseTimestamp('infinity').getTime())).to.equal(true);
  });

  it('parses int8 to a number when it is safe, else keeps the exact digits', function () {
    expect(parseInt8('42')).to.equal(42);
    expect(parseInt8('-9007199254740991')).to.equal(-9007199254740991);
    expect(parseInt8('9007199254740993')).to.equal('9007199254740993');
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialect}: connection and value types`, function () {
    let t: TestDatabase;
    before(async function () {
      t = await openMigratedDatabase(dialect);
      await seedRun(t.db, 'd', 'r');
    });
    after(async function () {
      await t?.cleanup();
    });

    it('reports its kind', function () {
      expect(t.handle.kind).to.equal(dialect);
    });

    it('returns int8, jsonb, timestamps, dates and numerics the same way on both drivers', async function () {
      const { rows } = await sql<Record<string, unknown>>`
        select count(*) as count,
               9007199254740991::int8 as max_safe,
               9007199254740993::int8 as unsafe,
               2147483647::int4 as int4,
               1.25::float8 as float8,
               1.50::numeric as numeric,
               true as bool,
               '{"a": [1, {"b": null}], "c": "ü"}'::jsonb as jsonb,
               '[1, 2]'::json as json,
               '2026-11-23 10:00:00.123456+00'::timestamptz as tstz,
               '2026-11-23 10:00:00.5'::timestamp as ts,
               '2026-11-23'::date as date,
               null::timestamptz as null_ts
          from dag_run`.execute(t.db);
      expect(rows).to.deep.equal([
        {
          count: 1,
          max_safe: 9007199254740991,
          unsafe: '9007199254740993',
          int4: 2147483647,
          float8: 1.25,
          numeric: '1.50',
          bool: true,
          jsonb: { a: [1, { b: null }], c: 'ü' },
          json: [1, 2],
          tstz: new Date('2026-11-23T10:00:00.123Z'),
          ts: new Date('2026-11-23T10:00:00.500Z'),
          date: '2026-11-23',
          null_ts: null,
        },
      ]);
    });

    it('round-trips Date parameters through timestamptz columns to the millisecond', async function () {
      const when = new Date('2026-11-23T23:59:59.999Z');
      await t.db
        .updateTable('dag_run')
        .set({ logical_date: when, start_date: '2026-01-01T00:00:00.001+02:00' })
        .execute();
      const row = await t.db.selectFrom('dag_run').select(['logical_date', 'start_date']).executeTakeFirstOrThrow();
      expect(row.logical_date).to.deep.equal(when);
      expect(row.start_date?.toISOString()).to.equal('2025-12-31T22:00:00.001Z');
    });

    it('rolls a failed transaction back and commits a good one', async function () {
      const err = await rejectionOf(
        t.db.transaction().execute(async (trx) => {
          await trx.insertInto('import_error').values({ filename: 'x.ts', stacktrace: 's' }).execute();
          throw new Error('abort');
        }),
      );
      expect(err.message).to.equal('abort');
      expect(await t.db.selectFrom('import_error').selectAll().execute()).to.deep.equal([]);

      await inTransaction(t.db, async (trx) => {
        await trx.insertInto('import_error').values({ filename: 'y.ts', stacktrace: 's' }).execute();
      });
      expect((await t.db.selectFrom('import_error').select('filename').execute()).map((r) => r.filename)).to.deep.equal(
        ['y.ts'],
      );
    });

    it('inTransaction joins an outer transaction, so the outer rollback undoes it', async function () {
      await rejectionOf(
        t.db.transaction().execute(async (trx) => {
          await inTransaction(trx, async (inner) => {
            await inner.insertInto('import_error').values({ filename: 'z.ts', stacktrace: 's' }).execute();
          });
          throw new Error('outer abort');
        }),
      );
      expect((await t.db.selectFrom('import_error').select('filename').execute()).map((r) => r.filename)).to.deep.equal(
        ['y.ts'],
      );
    });

    it('runs concurrent transactions without interleaving their statements', async function () {
      const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));
      const writer = (name: string) =>
        t.db.transaction().execute(async (trx) => {
          for (let i = 0; i < 5; i++) {
            await trx
              .insertInto('import_error')
              .values({ filename: `${name}-${i}`, stacktrace: name })
              .execute();
            await tick();
          }
          const own = await trx.selectFrom('import_error').select('filename').where('stacktrace', '=', name).execute();
          return own.length;
        });
      const failing = t.db.transaction().execute(async (trx) => {
        for (let i = 0; i < 3; i++) {
          await trx
            .insertInto('import_error')
            .values({ filename: `f-${i}`, stacktrace: 'f' })
            .execute();
          await tick();
        }
        throw new Error('roll me back');
      });
      const results = await Promise.allSettled([writer('p'), failing, writer('q'), writer('r')]);
      expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).to.deep.equal([
        5,
        'roll me back',
        5,
        5,
      ]);
      // The rollback undid only its own transaction's rows.
      const stacktraces = await t.db.selectFrom('import_error').select('stacktrace').orderBy('filename').execute();
      expect(stacktraces.filter((r) => r.stacktrace === 'f')).to.deep.equal([]);
      const plain = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          t.db
            .selectFrom('import_error')
            .select(sql<number>`${i}::int`.as('i'))
            .limit(1)
            .execute(),
        ),
      );
      expect(plain.map((r) => r[0]?.i)).to.deep.equal(Array.from({ length: 20 }, (_, i) => i));
      const count = await t.db
        .selectFrom('import_error')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      expect(count.n).to.equal(16);
    });

    it('supports savepoints', async function () {
      const trx = await t.db.startTransaction().execute();
      try {
        await trx.insertInto('import_error').values({ filename: 'sp-kept.ts', stacktrace: 's' }).execute();
        const sp = await trx.savepoint('before_bad').execute();
        await sp.insertInto('import_error').values({ filename: 'sp-undone.ts', stacktrace: 's' }).execute();
        const back = await sp.rollbackToSavepoint('before_bad').execute();
        await back.commit().execute();
      } catch (err) {
        await trx.rollback().execute();
        throw err;
      }
      const names = (
        await t.db.selectFrom('import_error').select('filename').where('filename', 'like', 'sp-%').execute()
      ).map((r) => r.filename);
      expect(names).to.deep.equal(['sp-kept.ts']);
    });

    it('surfaces SQL errors with Postgres messages and stays usable', async function () {
      const err = await rejectionOf(sql`select * from no_such_table`.execute(t.db));
      expect(err.message).to.equal('relation "no_such_table" does not exist');
      expect((await sql<{ one: number }>`select 1 as one`.execute(t.db)).rows).to.deep.equal([{ one: 1 }]);
    });

    it('close is idempotent', async function () {
      const other = await openMigratedDatabase(dialect);
      await other.handle.close();
      await other.handle.close();
      await other.cleanup();
    });
  });
}
