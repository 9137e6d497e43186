/**
 * Records test/replay/histories/failed-run*.json: runs that fail since a failed run fails its
 * workflow (patch `failed-run-fails-workflow`): one whose tasks fail (the main loop completes it)
 * and one stopped by dagrun_timeout (the stop path completes it). replay.test.ts then guards those
 * commands, the patch marker and the failedTasks local activity included. Re-record only for a
 * change meant to break runs in flight.
 *
 *   npx tsc -p tsconfig.json
 *   PATH=$HOME/.cache/updraft-tools/bin:$PATH node dist/test/replay/record-failed-runs.js
 */
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { failedRun } from '../../client/run-result.js';
import { stopTestTemporal } from '../helpers/servers.js';
import { startTestStack } from '../helpers/stack.js';
import { ENGINE_DAGS, startRun } from '../workflows/helpers.js';
import { historyToJson, runRecorder } from './history-json.js';
import { HISTORIES_DIR } from './record-histories.js';

const CASES = [
  { name: 'failed-run', dagId: 'wf_failure', runId: 'replay_failed_run' },
  { name: 'failed-run-timeout', dagId: 'wf_dagrun_timeout', runId: 'replay_failed_run_timeout' },
];

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const stack = await startTestStack({ dagsFolder: ENGINE_DAGS, db: 'pglite' });
  try {
    if (stack.bag.importErrors.length > 0)
      throw new Error(`fixture DAG import errors: ${JSON.stringify(stack.bag.importErrors)}`);
    for (const c of CASES) {
      const triggered = await startRun(stack, c.dagId, { runId: c.runId });
      const error = await triggered.handle.result().then(
        () => null,
        (err: unknown) => err,
      );
      const failed = failedRun(error);
      if (failed === null)
        throw new Error(
          `${c.dagId} was expected to fail its workflow, got ${error === null ? 'a completed workflow' : String(error)}`,
        );
      const history = await triggered.handle.fetchHistory();
      const file = path.join(HISTORIES_DIR, `${c.name}.json`);
      fs.writeFileSync(file, `${historyToJson(history)}\n`);
      process.stdout.write(
        `${c.name}: ${history.events?.length ?? 0} events, "${failed.message}" -> ${path.relative(process.cwd(), file)}\n`,
      );
    }
  } finally {
    await stack.stop();
    await stopTestTemporal();
  }
}

runRecorder(module, main);
