/// <reference types="mocha" />
/**
 * Engine end to end, happy path, on the real Temporal dev server and both databases: in-process and
 * process tasks with XCom between them; every fact the run leaves in Postgres is checked.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import { taskLogPath } from '../../activities/task-log.js';
import { getLatestDagVersion } from '../../db/dag.repository.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import { listXComs } from '../../db/xcom.repository.js';
import { TEST_DB_KINDS } from '../helpers/servers.js';
import type { TestStack } from '../helpers/stack.js';
import { historyOf, runDag, statesOf, ti } from './helpers.js';
import { sharedStack } from './shared-stack.js';

for (const kind of TEST_DB_KINDS) {
  describe(`engine: a successful run (${kind})`, function () {
    let stack: TestStack;

    before(async () => {
      stack = await sharedStack(kind);
    });

    it('runs every task once, passes XComs, and records states, tries, history, logs and the run', async function () {
      const started = Date.now();
      const { triggered, result, run, tis, history } = await runDag(stack, 'wf_success', {
        conf: { source: 'unit-test' },
      });
      const db = stack.database.db;

      expect(result).to.deep.equal({ state: 'success', tasks: { success: 4 } });
      expect(statesOf(tis)).to.deep.equal({
        extract: ['success', 1],
        count: ['success', 1],
        report: ['success', 1],
        done: ['success', 1],
      });
      for (const row of tis.values()) {
        expect(row.max_tries, row.task_id).to.equal(1);
        expect(row.start_date, row.task_id).to.be.instanceOf(Date);
        expect(row.end_date!.getTime(), row.task_id).to.be.at.least(row.start_date!.getTime());
        expect(row.error, row.task_id).to.equal(null);
      }
      expect(ti(tis, 'count').executor).to.equal('process');
      expect(ti(tis, 'count').exit_code).to.equal(0);
      expect(ti(tis, 'count').external_id).to.match(/^\d+$/);
      expect(ti(tis, 'extract').executor).to.equal('in_process');
      expect(ti(tis, 'done').operator).to.equal('EmptyOperator');

      // One history row per try, each success.
      expect(history.map((h) => [h.task_id, h.try_number, h.state])).to.deep.equal([
        ['count', 1, 'success'],
        ['done', 1, 'success'],
        ['extract', 1, 'success'],
        ['report', 1, 'success'],
      ]);
      for (const h of history) expect(h.duration, h.task_id).to.be.a('number').and.at.least(0);

      // XCom: the process read its input and returned through return.json; report combined both.
      const xcoms = new Map((await listXComs(db, 'wf_success', triggered.runId)).map((x) => [x.task_id, x]));
      expect([...xcoms.keys()].sort()).to.deep.equal(['count', 'extract', 'report']);
      expect(xcoms.get('extract')!.value).to.deep.equal({ rows: [1, 2, 3, 4], source: 'unit-test' });
      expect(xcoms.get('count')!.value).to.deep.equal({ count: 4, sum: 10 });
      expect(xcoms.get('report')!.value).to.deep.equal({ count: 4, sum: 10, source: 'unit-test' });
      for (const x of xcoms.values()) {
        expect(x.key).to.equal('return_value');
        expect(x.size_bytes).to.equal(Buffer.byteLength(JSON.stringify(x.value)));
      }

      // Logs in Postgres: process stdout and stderr, the function's logger, the system lines.
      const key = { dag_id: 'wf_success', run_id: triggered.runId, map_index: -1, try_number: 1 };
      const countLog = await readTaskLog(db, { ...key, task_id: 'count' });
      expect(countLog.filter((l) => l.stream === 'stdout').map((l) => l.line)).to.deep.equal([
        'hello from process count try 1',
      ]);
      expect(countLog.filter((l) => l.stream === 'stderr').map((l) => l.line)).to.deep.equal(['to stderr']);
      expect(countLog.filter((l) => l.stream === 'system').map((l) => l.line)).to.include('count try 1: success');
      const extractLog = await readTaskLog(db, { ...key, task_id: 'extract' });
      expect(extractLog.filter((l) => l.stream === 'stdout').map((l) => l.line)).to.deep.equal([
        `extracting rows for ${triggered.runId} (try 1)`,
      ]);
      const reportLog = await readTaskLog(db, { ...key, task_id: 'report' });
      expect(reportLog.map((l) => l.line)).to.include('report: 4 rows summing to 10 from unit-test');
      // ...and in the Airflow-layout log file.
      const file = taskLogPath(stack.config.logsFolder, { ...key, task_id: 'count' });
      expect(fs.readFileSync(file, 'utf8')).to.contain('hello from process count try 1');

      // The run: success, dates, the DAG version it ran.
      const version = await getLatestDagVersion(db, 'wf_success');
      expect(run.state).to.equal('success');
      expect(run.last_error).to.equal(null);
      expect(run.dag_version_id).to.be.a('number').and.equal(version!.id);
      expect(run.workflow_id).to.equal(triggered.workflowId);
      expect(run.start_date).to.be.instanceOf(Date);
      expect(run.end_date).to.be.instanceOf(Date);
      expect(run.start_date!.getTime()).to.be.at.least(run.queued_at!.getTime());
      expect(run.end_date!.getTime()).to.be.at.least(ti(tis, 'done').end_date!.getTime());
      expect(run.end_date!.getTime()).to.be.at.most(Date.now());
      expect(run.start_date!.getTime()).to.be.at.least(started - 1000);
      expect(historyOf(history, 'extract')[0]!.start_date!.getTime()).to.be.at.least(run.start_date!.getTime());

      // Temporal agrees.
      const description = await triggered.handle.describe();
      expect(description.status.name).to.equal('COMPLETED');
    });
  });
}
