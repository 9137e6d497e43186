/**
 * Regenerates the workflow histories that test/replay/replay.test.ts replays against the current
 * workflow code. Re-record them only when a workflow change is *meant* to be incompatible with
 * runs already in flight (and say so in the change); otherwise a failing replay is the bug.
 *
 *   npx tsc -p tsconfig.json
 *   PATH=$HOME/.cache/updraft-tools/bin:$PATH node dist/test/replay/record-histories.js
 *
 * It starts the test stack (the `temporal` dev server, PGlite, a worker on the fixture DAGs of
 * test/workflows/dags/engine), runs one representative run per case, and writes each history as
 * test/replay/histories/<case>.json (the JSON format of `temporal workflow show --output json`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { stopTestTemporal, tempDir } from '../helpers/servers.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { ENGINE_DAGS, readRun, runProcesses, startRun, waitFor } from '../workflows/helpers.js';
import type { TriggeredRun } from '../../client/trigger.js';
import { historyToJson, runRecorder } from './history-json.js';
import { dagRunResult } from '../../client/run-result.js';

export const HISTORIES_DIR = path.resolve(__dirname, '../../../test/replay/histories');

interface Case {
  name: string;
  /** What the run exercises, stored next to the history. */
  about: string;
  run(stack: TestStack): Promise<TriggeredRun>;
}

const scratchDirs: string[] = [];
function scratch(name: string): string {
  const dir = tempDir(`replay-${name}`);
  scratchDirs.push(dir);
  return dir;
}

const CASES: Case[] = [
  {
    name: 'success',
    about: 'in-process and process tasks with XCom, all success',
    run: (stack) => startRun(stack, 'wf_success', { runId: 'replay_success', conf: { source: 'replay' } }),
  },
  {
    name: 'failure',
    about: 'a throwing function and a failing process; upstream_failed and all_done downstreams',
    run: (stack) => startRun(stack, 'wf_failure', { runId: 'replay_failure' }),
  },
  {
    name: 'retry',
    about: 'retries with exponential backoff (timers), a task exhausting its retries',
    run: (stack) => startRun(stack, 'wf_retry', { runId: 'replay_retry', conf: { dir: scratch('retry') } }),
  },
  {
    name: 'skip',
    about: 'SkipTask, skip exit code, skip cascades and none_failed_min_one_success joins',
    run: (stack) => startRun(stack, 'wf_skip', { runId: 'replay_skip' }),
  },
  {
    name: 'xcom-by-reference',
    about: 'an XCom over the inline limit passed by reference',
    run: (stack) => startRun(stack, 'wf_xcom', { runId: 'replay_xcom' }),
  },
  {
    name: 'cancel',
    about: 'the workflow cancelled while a process task runs',
    run: async (stack) => {
      const triggered = await startRun(stack, 'wf_cancel', { runId: 'replay_cancel' });
      await waitFor('task "long" to run', async () => {
        const { tis } = await readRun(stack, 'wf_cancel', triggered.runId);
        return tis.get('long')?.state === 'running' && runProcesses(triggered.runId).length > 0;
      });
      await triggered.handle.cancel();
      return triggered;
    },
  },
  {
    name: 'dagrun-timeout',
    about: 'dagrun_timeout stopping a run with a running process task',
    run: (stack) => startRun(stack, 'wf_dagrun_timeout', { runId: 'replay_dagrun_timeout' }),
  },
];

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const stack = await startTestStack({ dagsFolder: ENGINE_DAGS, db: 'pglite' });
  try {
    if (stack.bag.importErrors.length > 0)
      throw new Error(`fixture DAG import errors: ${JSON.stringify(stack.bag.importErrors)}`);
    fs.mkdirSync(HISTORIES_DIR, { recursive: true });
    for (const c of CASES) {
      const triggered = await c.run(stack);
      const result = await dagRunResult(triggered.handle);
      const history = await triggered.handle.fetchHistory();
      const file = path.join(HISTORIES_DIR, `${c.name}.json`);
      fs.writeFileSync(file, `${historyToJson(history)}\n`);
      process.stdout.write(
        `${c.name}: ${result.state}, ${history.events?.length ?? 0} events -> ${path.relative(process.cwd(), file)} (${c.about})\n`,
      );
    }
  } finally {
    await stack.stop();
    await stopTestTemporal();
    for (const dir of scratchDirs) fs.rmSync(dir, { recursive: true, force: true });
  }
}

runRecorder(module, main);
