/**
 * Concurrent runs on the embedded database, served the way `updraft dev` serves it
 * (serveEmbeddedDatabase): 16 triggers at once of a branching, mapped DAG, each from its own
 * connection pool over the loopback socket, executed by a worker that reaches the database over
 * the socket too (as `updraft worker` next to `updraft dev` does) and by one in-process on the
 * shared session (as `updraft dev`'s own). Every task state must be right and nothing may hang.
 * Before the PGlite server, this interleaved protocol messages of different clients on PGlite's
 * one session (issue 8: "bind message supplies 1 parameters, but prepared statement requires 16",
 * runs hung for minutes).
 */
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { expect } from 'chai';
import { triggerDagRun, type TriggeredRun } from '../../client/trigger.js';
import { openDatabase } from '../../db/connect.js';
import { getDagRun } from '../../db/dag-run.repository.js';
import { setPool } from '../../db/pool.repository.js';
import { listTaskInstances } from '../../db/task-instance.repository.js';
import { getXCom } from '../../db/xcom.repository.js';
import { loadConfig, type UpdraftConfig } from '../../worker/config.js';
import type { GpuInventory } from '../../worker/gpu-inventory.js';
import { serveEmbeddedDatabase, type ServedPGlite } from '../../worker/embedded-database.js';
import { startStack, type Stack } from '../../worker/stack.js';
import { ROOT } from '../helpers/cli.js';
import { tempDir, testTemporalAddress } from '../helpers/servers.js';

const DAGS = path.join(ROOT, 'test', 'fixtures', 'dags-concurrency');
const NO_GPU: GpuInventory = { devices: [], gpuType: null, source: 'none' };

interface Plan {
  runId: string;
  path: 'heavy' | 'light';
  n: number;
}

/** Every task instance of a run as "task[map_index]" -> [state, try_number], what the DAG must produce. */
function expectedRows(plan: Plan): Record<string, [string, number]> {
  const rows: Record<string, [string, number]> = {
    items: ['success', 1],
    branching: ['success', 1],
    join: ['success', 1],
  };
  if (plan.path === 'heavy') {
    for (let i = 0; i < plan.n; i++) {
      rows[`heavy.square[${i}]`] = ['success', 1];
      rows[`heavy.plus_one[${i}]`] = ['success', 1];
    }
    rows.total = ['success', 1];
    rows.light = ['skipped', 0];
  } else {
    // The branch skips the group's root unexpanded; plus_one is expanded over the items and skipped.
    rows['heavy.square'] = ['skipped', 0];
    for (let i = 0; i < plan.n; i++) rows[`heavy.plus_one[${i}]`] = ['skipped', 0];
    rows.total = ['skipped', 0];
    rows.light = ['success', 1];
  }
  return rows;
}

describe('served PGlite: 16 concurrent runs through the socket, as `updraft dev` serves it', function () {
  this.timeout(300_000);
  let home: string;
  let config: UpdraftConfig;
  let served: ServedPGlite;
  const stacks: Stack[] = [];

  before(async () => {
    home = tempDir('served-pglite');
    const base = loadConfig({}, home);
    const taskQueue = `served-pglite-${process.pid}`;
    config = {
      ...base,
      home,
      dagsFolder: DAGS,
      logsFolder: path.join(home, 'logs'),
      databaseUrl: null,
      temporalAddress: await testTemporalAddress(),
      taskQueue,
      run: { ...base.run, taskQueue, heartbeatTimeoutSeconds: 10 },
    };
    served = await serveEmbeddedDatabase(config, { holder: 'served-pglite test' });
    stacks.push(await startStack({ config: { ...config, databaseUrl: served.url }, gpu: NO_GPU }));
    stacks.push(await startStack({ config, database: served.database, gpu: NO_GPU }));
    await setPool(stacks[0]!.database.db, 'conc_pool', { slots: 2 });
  });

  after(async () => {
    for (const s of stacks.reverse()) await s.stop();
    await served?.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('every run succeeds with every task state right, and none hangs', async () => {
    const plans: Plan[] = Array.from({ length: 16 }, (_, i) => ({
      runId: `conc_${i}_${Date.now().toString(36)}`,
      path: i % 2 === 0 ? 'heavy' : 'light',
      n: 2 + (i % 4),
    }));
    const address = config.temporalAddress!;
    const started = Date.now();
    // Each trigger as its own client process would: its own pool on the socket, its own Temporal connection.
    const triggered = await Promise.all(
      plans.map(async (plan): Promise<TriggeredRun> => {
        const h = await openDatabase({ url: served.url, poolSize: 2 });
        const connection = await Connection.connect({ address });
        try {
          const client = new Client({ connection, namespace: config.namespace });
          const run = await triggerDagRun(h.db, client, {
            dagId: 'conc_branch_map',
            runId: plan.runId,
            conf: { path: plan.path, n: plan.n },
            runOptions: config.run,
          });
          return { ...run, handle: stacks[0]!.client.workflow.getHandle(run.workflowId) };
        } finally {
          await h.close();
          await connection.close();
        }
      }),
    );
    const triggeredMs = Date.now() - started;
    const deadlineMs = 150_000;
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`runs still unfinished after ${deadlineMs / 1000} s (hung)`)),
        deadlineMs,
      );
    });
    try {
      await Promise.race([Promise.all(triggered.map((t) => t.handle.result())), hung]);
    } finally {
      clearTimeout(timer);
    }
    const finishedMs = Date.now() - started;
    process.stderr.write(
      `      16 runs (${plans.reduce((n, p) => n + Object.keys(expectedRows(p)).length, 0)} task instances): triggered in ${triggeredMs} ms, all finished in ${finishedMs} ms\n`,
    );

    const reader = await openDatabase({ url: served.url, poolSize: 1 });
    try {
      for (const plan of plans) {
        const run = await getDagRun(reader.db, 'conc_branch_map', plan.runId);
        expect(run?.state, plan.runId).to.equal('success');
        const rows = await listTaskInstances(reader.db, 'conc_branch_map', plan.runId);
        const actual = Object.fromEntries(
          rows.map((r) => [r.map_index < 0 ? r.task_id : `${r.task_id}[${r.map_index}]`, [r.state, r.try_number]]),
        );
        expect(actual, `${plan.runId} (${plan.path}, n=${plan.n})`).to.deep.equal(expectedRows(plan));
        if (plan.path === 'heavy') {
          const total = await getXCom(reader.db, {
            dag_id: 'conc_branch_map',
            run_id: plan.runId,
            task_id: 'total',
            map_index: -1,
            key: 'return_value',
          });
          let want = 0;
          for (let x = 1; x <= plan.n; x++) want += x * x + 1;
          expect(total, `${plan.runId} total`).to.equal(want);
        }
      }
    } finally {
      await reader.close();
    }
    // The pool's slots were all given back.
    const grants = await stacks[1]!.database.db.selectFrom('task_slot_grant').selectAll().execute();
    expect(grants).to.deep.equal([]);
  });
});
