/**
 * Happy path: in-process and process tasks with XCom flowing between them (by value), process
 * stdout in the task log, and an empty task at the end.
 */
import { dag } from '../../../../sdk/index.js';

export interface Extracted {
  rows: number[];
  source: string;
}

export default dag({ dagId: 'wf_success', tags: ['test'] }, (d) => {
  const extract = d.task({ taskId: 'extract' }, (_: void, ctx): Extracted => {
    ctx.log.info(`extracting rows for ${ctx.runId} (try ${ctx.tryNumber})`);
    return { rows: [1, 2, 3, 4], source: String(ctx.conf.source ?? 'memory') };
  });
  const count = d.process<Extracted, { count: number; sum: number }>({
    taskId: 'count',
    argv: [
      'sh',
      '-c',
      'echo "hello from process $UPDRAFT_TASK_ID try $UPDRAFT_TRY_NUMBER"; echo "to stderr" >&2; ' +
        "exec node -e 'const i = JSON.parse(process.env.UPDRAFT_INPUT); " +
        'require("fs").writeFileSync(process.env.UPDRAFT_XCOM_DIR + "/return.json", ' +
        "JSON.stringify({ count: i.rows.length, sum: i.rows.reduce((a, b) => a + b, 0) }))'",
    ],
  });
  const report = d.task(
    { taskId: 'report' },
    (i: { counted: { count: number; sum: number }; extracted: Extracted }, ctx) => {
      ctx.log.info(`report: ${i.counted.count} rows summing to ${i.counted.sum} from ${i.extracted.source}`);
      return { count: i.counted.count, sum: i.counted.sum, source: i.extracted.source };
    },
  );
  const done = d.empty({ taskId: 'done' });

  const extracted = extract();
  const reported = report({ counted: count(extracted), extracted });
  d.chain(reported, done);
});
