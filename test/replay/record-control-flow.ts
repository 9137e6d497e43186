/**
 * Records test/replay/histories/control-flow.json: one run of the control-flow fixture `cf_replay`
 * (branch, task group, setup/teardown, short-circuit, latest-only, callbacks), so replay.test.ts
 * guards those commands too. Re-record only for a change meant to break runs in flight.
 *
 *   npx tsc -p tsconfig.json
 *   PATH=$HOME/.cache/updraft-tools/bin:$PATH node dist/test/replay/record-control-flow.js
 */
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { stopTestTemporal } from '../helpers/servers.js';
import { startTestStack } from '../helpers/stack.js';
import { readRun, startRun } from '../workflows/helpers.js';
import { historyToJson, runRecorder } from './history-json.js';
import { HISTORIES_DIR } from './record-histories.js';
import { dagRunResult } from '../../client/run-result.js';

const CONTROL_FLOW_DAGS = path.resolve(__dirname, '../../../test/workflows/dags/control_flow');

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const stack = await startTestStack({ dagsFolder: CONTROL_FLOW_DAGS, db: 'pglite' });
  try {
    if (stack.bag.importErrors.length > 0)
      throw new Error(`fixture DAG import errors: ${JSON.stringify(stack.bag.importErrors)}`);
    const triggered = await startRun(stack, 'cf_replay', { runId: 'replay_control_flow' });
    const result = await dagRunResult(triggered.handle);
    const { tis } = await readRun(stack, 'cf_replay', triggered.runId);
    const history = await triggered.handle.fetchHistory();
    const file = path.join(HISTORIES_DIR, 'control-flow.json');
    fs.writeFileSync(file, `${historyToJson(history)}\n`);
    const states = [...tis].map(([id, ti]) => `${id}=${ti.state}`).join(' ');
    process.stdout.write(
      `control-flow: ${result.state}, ${history.events?.length ?? 0} events -> ${path.relative(process.cwd(), file)}\n${states}\n`,
    );
  } finally {
    await stack.stop();
    await stopTestTemporal();
  }
}

runRecorder(module, main);
