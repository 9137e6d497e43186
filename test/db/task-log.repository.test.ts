import { expect } from 'chai';
import type { LogStream } from '../../db/database.js';
import { appendTaskLogs, listLogTries, readTaskLog, type TaskLogLine } from '../../db/task-log.repository.js';
import { DIALECTS, openMigratedDatabase, rejectionOf, seedRun, type TestDatabase } from './test-database.js';

const TI = { dag_id: 'train', run_id: 'manual__1', task_id: 'fit', map_index: -1 };
const T0 = Date.parse('2026-11-23T10:00:00.000Z');

function line(try_number: number, i: number, stream: LogStream = 'stdout', ts?: Date): TaskLogLine {
  return { ...TI, try_number, stream, line: `try ${try_number} line ${i}`, ...(ts === undefined ? {} : { ts }) };
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: task_log repository`, function () {
    let t: TestDatabase;
    before(async function () {
      t = await openMigratedDatabase(dialect);
      await seedRun(t.db, TI.dag_id, TI.run_id);
    });
    after(async function () {
      await t?.cleanup();
    });

    it('reads one try back in append order, with streams and timestamps', async function () {
      // Timestamps deliberately out of order: order is the append order, not ts.
      await appendTaskLogs(t.db, [
        line(1, 0, 'system', new Date(T0 + 5)),
        line(1, 1, 'stdout', new Date(T0 + 1)),
        line(2, 0, 'stdout', new Date(T0 + 2)),
        line(1, 2, 'stderr', new Date(T0 + 3)),
      ]);
      await appendTaskLogs(t.db, [line(1, 3, 'stdout')]);
      const log = await readTaskLog(t.db, { ...TI, try_number: 1 });
      expect(log.map((l) => [l.stream, l.line])).to.deep.equal([
        ['system', 'try 1 line 0'],
        ['stdout', 'try 1 line 1'],
        ['stderr', 'try 1 line 2'],
        ['stdout', 'try 1 line 3'],
      ]);
      expect(log[0]?.ts).to.deep.equal(new Date(T0 + 5));
      expect(log[3]?.ts).to.be.instanceOf(Date);
      expect(Math.abs(log[3]!.ts.getTime() - Date.now())).to.be.below(60_000);
      expect(log.every((l) => typeof l.id === 'number')).to.equal(true);
      expect((await readTaskLog(t.db, { ...TI, try_number: 2 })).map((l) => l.line)).to.deep.equal(['try 2 line 0']);
    });

    it('pages with after_id and limit', async function () {
      const log = await readTaskLog(t.db, { ...TI, try_number: 1 });
      const page1 = await readTaskLog(t.db, { ...TI, try_number: 1 }, { limit: 2 });
      expect(page1.map((l) => l.line)).to.deep.equal(['try 1 line 0', 'try 1 line 1']);
      const page2 = await readTaskLog(t.db, { ...TI, try_number: 1 }, { after_id: page1[1]!.id });
      expect(page2).to.deep.equal(log.slice(2));
    });

    it('keeps order across batches larger than one statement', async function () {
      const lines = Array.from({ length: 9000 }, (_, i) => line(3, i, i % 3 === 0 ? 'stderr' : 'stdout'));
      expect(await appendTaskLogs(t.db, lines)).to.equal(9000);
      const log = await readTaskLog(t.db, { ...TI, try_number: 3 });
      expect(log.map((l) => l.line)).to.deep.equal(lines.map((l) => l.line));
      expect(log.map((l) => l.stream)).to.deep.equal(lines.map((l) => l.stream));
    });

    it('replaces NUL characters, which Postgres text cannot hold', async function () {
      await appendTaskLogs(t.db, [{ ...TI, try_number: 4, stream: 'stdout', line: 'a\u0000b\u0000' }]);
      expect((await readTaskLog(t.db, { ...TI, try_number: 4 })).map((l) => l.line)).to.deep.equal(['a\uFFFDb\uFFFD']);
    });

    it('rejects an unknown stream', async function () {
      const bad = { ...TI, try_number: 5, stream: 'stdin' as LogStream, line: 'x' };
      const err = await rejectionOf(appendTaskLogs(t.db, [bad]));
      expect(err.message).to.match(/violates check constraint "task_log_stream_check"/);
    });

    it('listLogTries lists tries with logs in order', async function () {
      expect(await listLogTries(t.db, TI)).to.deep.equal([1, 2, 3, 4]);
      expect(await listLogTries(t.db, { ...TI, map_index: 0 })).to.deep.equal([]);
      expect(await readTaskLog(t.db, { ...TI, try_number: 9 })).to.deep.equal([]);
      expect(await appendTaskLogs(t.db, [])).to.equal(0);
    });
  });
}
