import { expect } from 'chai';
import { listImportErrors, replaceImportErrors } from '../../db/import-error.repository.js';
import { DIALECTS, openMigratedDatabase, type TestDatabase } from './test-database.js';

for (const dialect of DIALECTS) {
  describe(`${dialect}: import_error repository`, function () {
    let t: TestDatabase;
    before(async function () {
      t = await openMigratedDatabase(dialect);
    });
    after(async function () {
      await t?.cleanup();
    });

    it('replaceImportErrors stores the current set, ordered by filename', async function () {
      const rows = await replaceImportErrors(t.db, [
        { filename: 'dags/b.ts', stacktrace: 'SyntaxError: b' },
        { filename: 'dags/a.ts', stacktrace: 'TypeError: a' },
      ]);
      expect(rows.map((r) => [r.filename, r.stacktrace])).to.deep.equal([
        ['dags/a.ts', 'TypeError: a'],
        ['dags/b.ts', 'SyntaxError: b'],
      ]);
      expect(rows[0]?.timestamp).to.be.instanceOf(Date);
      expect(rows[0]?.id).to.be.a('number');
      expect(await listImportErrors(t.db)).to.deep.equal(rows);
    });

    it('drops files that parse again, updates changed ones, adds new ones', async function () {
      const before = await listImportErrors(t.db);
      const rows = await replaceImportErrors(t.db, [
        { filename: 'dags/b.ts', stacktrace: 'SyntaxError: b, line 2' },
        { filename: 'dags/c.ts', stacktrace: 'first' },
        { filename: 'dags/c.ts', stacktrace: 'Error: c' },
      ]);
      expect(rows.map((r) => [r.filename, r.stacktrace])).to.deep.equal([
        ['dags/b.ts', 'SyntaxError: b, line 2'],
        ['dags/c.ts', 'Error: c'],
      ]);
      // b keeps its row identity.
      expect(rows[0]?.id).to.equal(before.find((r) => r.filename === 'dags/b.ts')?.id);
    });

    it('an empty set clears every import error', async function () {
      expect(await replaceImportErrors(t.db, [])).to.deep.equal([]);
      expect(await listImportErrors(t.db)).to.deep.equal([]);
    });
  });
}
