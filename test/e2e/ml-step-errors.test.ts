/**
 * Bad step outputs and inputs through the real worker (process executor, real Temporal, PGlite):
 * a malformed metrics file, an artifact declared but not written, an input artifact missing from
 * the store. Each fails its try without a retry, with a message naming the file and field.
 */
import path from 'node:path';
import { expect } from 'chai';
import { triggerDagRun } from '../../client/trigger.js';
import { dagRunResult } from '../../client/run-result.js';
import { listTaskInstanceHistory } from '../../db/task-instance.repository.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

describe('step output protocol errors, end to end', function () {
  this.timeout(120_000);
  let stack: TestStack;
  before(async () => {
    stack = await startTestStack({
      dagsFolder: path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'ml-bad-steps'),
    });
  });
  after(async () => stack?.stop());

  it('fails each bad step once, naming the file, the line and the field', async () => {
    const run = await triggerDagRun(stack.database.db, stack.client, {
      dagId: 'ml_bad_steps',
      runOptions: stack.config.run,
    });
    const result = await dagRunResult(run.handle);
    expect(result.state).to.equal('failed');
    const tries = await listTaskInstanceHistory(stack.database.db, 'ml_bad_steps', run.runId);
    // One try each: a malformed output is a bug in the step, not worth a retry.
    expect(tries.map((t) => [t.task_id, t.try_number, t.state]).sort()).to.deep.equal([
      ['malformed_metrics', 1, 'failed'],
      ['missing_artifact', 1, 'failed'],
      ['missing_input', 1, 'failed'],
    ]);
    const lastLine = async (task_id: string) => {
      const lines = (
        await readTaskLog(stack.database.db, {
          dag_id: 'ml_bad_steps',
          run_id: run.runId,
          task_id,
          map_index: -1,
          try_number: 1,
        })
      ).map((l) => l.line);
      return lines.filter((l) => /fail/i.test(l)).join('\n');
    };
    expect(await lastLine('malformed_metrics')).to.include("metrics.jsonl: line 2 field 'value'");
    expect(await lastLine('missing_artifact')).to.include(
      'artifacts.json: outputs[0].path: "model.onnx" does not exist',
    );
    expect(await lastLine('missing_input'))
      .to.include('input.data')
      .and.to.include(`artifact ${'ab'.repeat(32)} is not in the store`);
  });
});
