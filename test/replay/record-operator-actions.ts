/**
 * Records test/replay/histories/operator-*.json: a run in flight whose running task an operator
 * clears (a Temporal update; the try is stopped and runs again), and a finished run re-opened by a
 * clear (the new execution restores from Postgres). replay.test.ts then guards those commands.
 * Re-record only for a change meant to break runs in flight.
 *
 *   npx tsc -p tsconfig.json
 *   PATH=$HOME/.cache/updraft-tools/bin:$PATH node dist/test/replay/record-operator-actions.js
 */
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { applyOperatorAction } from '../../client/operator-actions.js';
import { listTaskInstances } from '../../db/task-instance.repository.js';
import { stopTestTemporal, tempDir } from '../helpers/servers.js';
import { startTestStack } from '../helpers/stack.js';
import { startRun, waitFor } from '../workflows/helpers.js';
import { historyToJson, runRecorder } from './history-json.js';
import { HISTORIES_DIR } from './record-histories.js';
import { dagRunResult } from '../../client/run-result.js';

const OPERATOR_DAGS = path.resolve(__dirname, '../../../test/workflows/dags/operator');

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const stack = await startTestStack({ dagsFolder: OPERATOR_DAGS, db: 'pglite' });
  const write = async (name: string, workflowId: string): Promise<void> => {
    const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
    const file = path.join(HISTORIES_DIR, `${name}.json`);
    fs.writeFileSync(file, `${historyToJson(history)}\n`);
    process.stdout.write(`${name}: ${history.events?.length ?? 0} events -> ${path.relative(process.cwd(), file)}\n`);
  };
  try {
    if (stack.bag.importErrors.length > 0)
      throw new Error(`fixture DAG import errors: ${JSON.stringify(stack.bag.importErrors)}`);
    const act = (dagId: string, runId: string, action: unknown) =>
      applyOperatorAction(stack.database.db, stack.client, { dagId, runId, action, runOptions: stack.config.run });

    // 1. Clear a running task (an update on a run in flight).
    const slowDir = tempDir('replay-op');
    const slow = await startRun(stack, 'op_slow', { runId: 'replay_operator_clear_running', conf: { dir: slowDir } });
    await waitFor(
      'slow to run',
      async () =>
        (await listTaskInstances(stack.database.db, 'op_slow', slow.runId)).find((t) => t.task_id === 'slow')?.state ===
        'running',
    );
    fs.writeFileSync(path.join(slowDir, 'slow'), '');
    await act('op_slow', slow.runId, { kind: 'clear', task_ids: ['slow'] });
    await dagRunResult(slow.handle);
    await write('operator-clear-running', slow.workflowId);

    // 2. Re-open a finished run with a clear.
    const gateDir = tempDir('replay-op');
    const gate = await startRun(stack, 'op_gate', { runId: 'replay_operator_reopen', conf: { dir: gateDir } });
    await dagRunResult(gate.handle);
    fs.writeFileSync(path.join(gateDir, 'gate'), '');
    const reopened = await act('op_gate', gate.runId, { kind: 'clear', task_ids: ['gate'], downstream: true });
    await dagRunResult(stack.client.workflow.getHandle(reopened.workflowId));
    await write('operator-reopen', reopened.workflowId);
  } finally {
    await stack.stop();
    await stopTestTemporal();
  }
}

runRecorder(module, main);
