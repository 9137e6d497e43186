/// <reference types="mocha" />
/**
 * XCom by value and by reference on the real stack and both databases: a small value travels
 * inline through Temporal, a value over the inline limit (64 KiB) is stored in Postgres and only a
 * reference travels; consumers (a function and a process) must receive both intact.
 */
import { expect } from 'chai';
import { temporal } from '@temporalio/proto';
import { readTaskLog } from '../../db/task-log.repository.js';
import { listXComs } from '../../db/xcom.repository.js';
import { DEFAULT_RUN_OPTIONS, type RunTaskRequest } from '../../workflows/types.js';
import { TEST_DB_KINDS } from '../helpers/servers.js';
import type { TestStack } from '../helpers/stack.js';
import { SMALL, bigBlob, sha256 } from './dags/engine/wf_xcom.js';
import { runDag, statesOf } from './helpers.js';
import { sharedStack } from './shared-stack.js';

for (const kind of TEST_DB_KINDS) {
  describe(`engine: XCom by value and by reference (${kind})`, function () {
    let stack: TestStack;

    before(async () => {
      stack = await sharedStack(kind);
    });

    it('delivers a small inline value and a large stored value intact to a function and a process', async function () {
      expect(stack.config.run.xcomInlineLimitBytes)
        .to.equal(DEFAULT_RUN_OPTIONS.xcomInlineLimitBytes)
        .and.equal(64 * 1024);
      const { triggered, result, tis } = await runDag(stack, 'wf_xcom');
      const db = stack.database.db;
      expect(result.state).to.equal('success');
      expect(statesOf(tis)).to.deep.equal({
        small: ['success', 1],
        big: ['success', 1],
        check: ['success', 1],
        check_file: ['success', 1],
      });

      const blob = bigBlob();
      const bigJson = JSON.stringify({ blob });
      expect(Buffer.byteLength(bigJson)).to.be.above(64 * 1024);
      const xcoms = new Map((await listXComs(db, 'wf_xcom', triggered.runId)).map((x) => [x.task_id, x]));
      expect([...xcoms.keys()].sort()).to.deep.equal(['big', 'check', 'check_file', 'small']);
      expect(xcoms.get('small')!.value).to.deep.equal(SMALL);
      expect(xcoms.get('small')!.size_bytes).to.equal(Buffer.byteLength(JSON.stringify(SMALL)));
      expect(xcoms.get('big')!.size_bytes).to.equal(Buffer.byteLength(bigJson));
      expect((xcoms.get('big')!.value as { blob: string }).blob === blob, 'stored big value differs').to.equal(true);

      // What the consumers saw, as they reported it.
      expect(xcoms.get('check')!.value).to.deep.equal({
        small: SMALL,
        bigLength: blob.length,
        bigDigest: sha256(blob),
      });
      expect(xcoms.get('check_file')!.value).to.deep.equal({ digest: sha256(bigJson), inlineEnv: false });

      // The big value went by reference: the producer says so, and it never entered Temporal's history.
      const bigLog = await readTaskLog(db, {
        dag_id: 'wf_xcom',
        run_id: triggered.runId,
        task_id: 'big',
        map_index: -1,
        try_number: 1,
      });
      expect(bigLog.map((l) => l.line)).to.include(
        `XCom return_value is ${Buffer.byteLength(bigJson)} bytes: stored in Postgres and passed by reference`,
      );
      const fetched = await triggered.handle.fetchHistory();
      const encoded = Buffer.from(temporal.api.history.v1.History.encode(fetched).finish());
      expect(encoded.includes('$xcom_ref'), 'history holds the reference').to.equal(true);
      expect(encoded.length, 'workflow history size').to.be.below(blob.length);
      expect(encoded.includes(blob.slice(0, 200)), 'the big value leaked into the history').to.equal(false);
      // The request Temporal carried to `check`: the small value inline, the big one as a reference.
      const events = fetched.events ?? [];
      const requests = events
        .map((e) => e.activityTaskScheduledEventAttributes)
        .filter((a) => a?.activityType?.name === 'runTask')
        .map((a) => JSON.parse(Buffer.from(a!.input!.payloads![0]!.data!).toString('utf8')) as RunTaskRequest);
      const checkRequest = requests.find((r) => r.task.task_id === 'check');
      expect(checkRequest?.input).to.deep.equal({
        small: SMALL,
        big: {
          $xcom_ref: {
            dag_id: 'wf_xcom',
            run_id: triggered.runId,
            task_id: 'big',
            map_index: -1,
            key: 'return_value',
            path: [],
          },
        },
      });
    });
  });
}
