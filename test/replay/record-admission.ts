/**
 * Records test/replay/histories/admission-*.json: two runs of a DAG with max_active_runs=1 (patch
 * `run-admission`). The first is admitted at once and, when it ends, wakes the second
 * (admission-wakes: the queuedRunsToWake local activity and the external signal); the second waits
 * in queued, is woken by that signal and then runs (admission-queued: admitRun refused, the timer
 * of its periodic check, the signal, admitRun granted). replay.test.ts then guards those commands.
 * Re-record only for a change meant to break runs in flight.
 *
 *   npx tsc -p tsconfig.json
 *   PATH=$HOME/.cache/updraft-tools/bin:$PATH node dist/test/replay/record-admission.js
 */
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { dagRunResult } from '../../client/run-result.js';
import { triggerDagRun } from '../../client/trigger.js';
import { stopTestTemporal, tempDir } from '../helpers/servers.js';
import { startTestStack } from '../helpers/stack.js';
import { historyToJson, runRecorder } from './history-json.js';
import { HISTORIES_DIR } from './record-histories.js';

const DAG = `import { dag } from 'updraft';
export default dag({ dagId: 'wf_admission', maxActiveRuns: 1 }, (d) => {
  d.task({ taskId: 'slow' }, () => new Promise((r) => setTimeout(r, 2500)))();
});
`;

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const folder = tempDir('replay-admission');
  fs.writeFileSync(path.join(folder, 'admission.ts'), DAG);
  const stack = await startTestStack({ dagsFolder: folder, db: 'pglite' });
  try {
    if (stack.bag.importErrors.length > 0)
      throw new Error(`fixture DAG import errors: ${JSON.stringify(stack.bag.importErrors)}`);
    const first = await triggerDagRun(stack.database.db, stack.client, {
      dagId: 'wf_admission',
      runId: 'replay_admission_first',
      runOptions: stack.config.run,
    });
    const second = await triggerDagRun(stack.database.db, stack.client, {
      dagId: 'wf_admission',
      runId: 'replay_admission_second',
      runOptions: stack.config.run,
    });
    for (const [name, run] of [
      ['admission-wakes', first],
      ['admission-queued', second],
    ] as const) {
      const result = await dagRunResult(run.handle);
      if (result.state !== 'success') throw new Error(`${run.runId} ended ${result.state}`);
      const history = await run.handle.fetchHistory();
      const file = path.join(HISTORIES_DIR, `${name}.json`);
      fs.writeFileSync(file, `${historyToJson(history)}\n`);
      process.stdout.write(`${name}: ${history.events?.length ?? 0} events -> ${path.relative(process.cwd(), file)}\n`);
    }
  } finally {
    await stack.stop();
    await stopTestTemporal();
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

runRecorder(module, main);
