/// <reference types="mocha" />
/**
 * Scale on the real stack: a generated DAG of 2,000 in-process tasks (20 parallel chains of 100)
 * runs to success with every task instance recorded, and the workflow continues-as-new on the way
 * (Temporal suggests it once the history grows past its threshold) without losing state.
 * PGlite by default; UPDRAFT_LARGE_DAG_DB=postgres runs it on the test Postgres instead.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { tempDir } from '../helpers/servers.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { readRun, startRun } from './helpers.js';
import { dagRunResult } from '../../client/run-result.js';

const CHAINS = 20;
const LENGTH = 100;

/** The DAG file, written as text: it is what a user would generate, loaded by the DAG bag. */
function largeDagSource(): string {
  return `import { dag } from 'updraft';

export default dag({ dagId: 'wf_large', maxActiveTasks: 200, tags: ['test', 'scale'] }, (d) => {
  for (let c = 0; c < ${CHAINS}; c++) {
    let previous = null;
    for (let i = 0; i < ${LENGTH}; i++) {
      const task = d.task({ taskId: \`chain\${c}_step\${i}\` }, () => undefined);
      if (previous !== null) d.chain(previous, task);
      previous = task;
    }
  }
});
`;
}

describe('engine: a 2,000-task DAG', function () {
  let stack: TestStack;
  let folder: string;

  before(async () => {
    folder = tempDir('large-dag');
    fs.writeFileSync(path.join(folder, 'wf_large.ts'), largeDagSource());
    stack = await startTestStack({
      dagsFolder: folder,
      db: (process.env.UPDRAFT_LARGE_DAG_DB as 'pglite' | 'postgres' | undefined) ?? 'pglite',
      run: { maxInFlight: 200 },
    });
    expect(stack.bag.importErrors).to.deep.equal([]);
    expect(stack.bag.get('wf_large')?.spec.tasks).to.have.length(CHAINS * LENGTH);
  });
  after(async () => {
    await stack?.stop();
    if (stack) fs.rmSync(stack.home, { recursive: true, force: true });
    fs.rmSync(folder, { recursive: true, force: true });
  });

  it('runs 2,000 tasks to success, continuing-as-new along the way', async function () {
    this.timeout(300_000);
    const started = Date.now();
    const triggered = await startRun(stack, 'wf_large');
    const result = await dagRunResult(triggered.handle);
    const seconds = (Date.now() - started) / 1000;
    console.log(`      2,000 tasks in ${seconds.toFixed(1)} s`);

    expect(result).to.deep.equal({ state: 'success', tasks: { success: CHAINS * LENGTH } });
    const { run, tis, history } = await readRun(stack, 'wf_large', triggered.runId);
    expect(run.state).to.equal('success');
    expect(tis.size).to.equal(CHAINS * LENGTH);
    const notSuccess = [...tis.values()].filter((t) => t.state !== 'success' || t.try_number !== 1);
    expect(notSuccess.map((t) => `${t.task_id}: ${t.state} try ${t.try_number}`)).to.deep.equal([]);
    expect(history).to.have.length(CHAINS * LENGTH);

    // Chains ran in order: every step started after its predecessor ended.
    for (let c = 0; c < CHAINS; c++) {
      for (let i = 1; i < LENGTH; i++) {
        const prev = tis.get(`chain${c}_step${i - 1}`)!;
        const cur = tis.get(`chain${c}_step${i}`)!;
        if (cur.start_date!.getTime() < prev.end_date!.getTime()) {
          throw new Error(`chain${c}_step${i} started before chain${c}_step${i - 1} ended`);
        }
      }
    }

    // Continue-as-new happened: the latest run is not the first, and the first ended by continuing.
    const firstRunId = (triggered.handle as WorkflowHandleWithFirstExecutionRunId).firstExecutionRunId;
    const latest = await triggered.handle.describe();
    expect(latest.status.name).to.equal('COMPLETED');
    expect(latest.runId, 'the workflow never continued-as-new').not.to.equal(firstRunId);
    const first = await stack.client.workflow.getHandle(triggered.workflowId, firstRunId).describe();
    expect(first.status.name).to.equal('CONTINUED_AS_NEW');
    const runs: string[] = [];
    for await (const execution of stack.client.workflow.list({ query: `WorkflowId = '${triggered.workflowId}'` }))
      runs.push(execution.runId);
    expect(runs).to.include.members([firstRunId, latest.runId]);
    console.log(`      ${runs.length} workflow runs (continue-as-new ${runs.length - 1} time(s))`);
  });
});
