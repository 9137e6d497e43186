/**
 * DAG files edited while the worker runs (real Temporal dev server, Postgres): the DAG processor
 * notices new, changed and removed files by itself; a run in flight when its file changes finishes
 * with the code and the graph of the version it was created with, a new run uses the new ones; a
 * removed DAG is refused at trigger time; a run whose version's code cannot be had fails at once,
 * without retries, naming the version.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { TriggerError } from '../../client/trigger.js';
import { getDag, getLatestDagVersion, listDagVersions } from '../../db/dag.repository.js';
import { getXCom } from '../../db/xcom.repository.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { tempDir } from '../helpers/servers.js';
import { finishRun, startRun, statesOf, waitFor } from './helpers.js';

/** A DAG whose first task waits for the file named by conf.gate; `label` is in its code only. */
function gatedDag(dagId: string, label: string, opts: { extraTask?: boolean; retries?: number } = {}): string {
  return `import fs from 'node:fs';
import { dag } from 'updraft';

export default dag({ dagId: '${dagId}', defaultArgs: { retries: ${opts.retries ?? 0}, retryDelay: '1s' } }, (d) => {
  const wait = d.task({ taskId: 'wait' }, async (_: void, ctx) => {
    while (!fs.existsSync(String(ctx.conf.gate))) await new Promise((r) => setTimeout(r, 100));
    return 'waited';
  });
  const report = d.task({ taskId: 'report', onSuccess: (ctx) => ctx.log.info('callback of ${label}') }, (w: string) => ({ w, code: '${label}' }));
  ${opts.extraTask ? "d.chain(report(wait()), d.task({ taskId: 'extra' }, () => 'only in the new version')());" : 'report(wait());'}
});
`;
}

describe('DAG files edited while the worker runs', function () {
  this.timeout(180_000);
  let stack: TestStack;
  let folder: string;
  let gates: string;

  before(async () => {
    folder = tempDir('live-dags');
    gates = tempDir('gates');
    fs.writeFileSync(path.join(folder, 'edited.ts'), gatedDag('edited', 'v1'));
    // Watching finds changes at once; the intervals are the slow default (so they do not help).
    stack = await startTestStack({ dagsFolder: folder, db: 'postgres' });
    expect(stack.bag.importErrors).to.deep.equal([]);
  });
  after(async () => {
    await stack?.stop();
    fs.rmSync(folder, { recursive: true, force: true });
    fs.rmSync(gates, { recursive: true, force: true });
  });

  const latestVersion = async (dagId: string): Promise<number | undefined> =>
    (await getLatestDagVersion(stack.database.db, dagId))?.version_number;

  it('a new DAG file is picked up by the running worker and runs', async () => {
    fs.writeFileSync(
      path.join(folder, 'brand_new.ts'),
      "import { dag } from 'updraft';\nexport default dag({ dagId: 'brand_new' }, (d) => { d.task({ taskId: 'hi' }, () => 'new here')(); });\n",
    );
    await waitFor(
      'brand_new in the stored parse result',
      async () => (await getDag(stack.database.db, 'brand_new'))?.is_active,
      20_000,
    );
    const run = await finishRun(stack, await startRun(stack, 'brand_new'));
    expect(run.result.state).to.equal('success');
    expect(
      await getXCom(stack.database.db, {
        dag_id: 'brand_new',
        run_id: run.triggered.runId,
        task_id: 'hi',
        map_index: -1,
        key: 'return_value',
      }),
    ).to.equal('new here');
  });

  it('a run in flight when its file changes finishes with its own code and graph; a new run uses the new ones', async () => {
    const gate = path.join(gates, 'edited');
    const old = await startRun(stack, 'edited', { conf: { gate } });
    await waitFor('the old run to be waiting', async () => {
      const row = await stack.database.db
        .selectFrom('task_instance')
        .select('state')
        .where('dag_id', '=', 'edited')
        .where('run_id', '=', old.runId)
        .where('task_id', '=', 'wait')
        .executeTakeFirst();
      return row?.state === 'running';
    });

    // Only a task body changes, and a task is added.
    fs.writeFileSync(path.join(folder, 'edited.ts'), gatedDag('edited', 'v2', { extraTask: true }));
    await waitFor('version 2 of "edited"', async () => (await latestVersion('edited')) === 2, 20_000);
    const fresh = await startRun(stack, 'edited', { conf: { gate } });
    fs.writeFileSync(gate, '');

    const oldRun = await finishRun(stack, old);
    const newRun = await finishRun(stack, fresh);
    expect(statesOf(oldRun.tis)).to.deep.equal({ wait: ['success', 1], report: ['success', 1] });
    expect(statesOf(newRun.tis)).to.deep.equal({ wait: ['success', 1], report: ['success', 1], extra: ['success', 1] });
    const report = (runId: string): Promise<unknown> =>
      getXCom(stack.database.db, {
        dag_id: 'edited',
        run_id: runId,
        task_id: 'report',
        map_index: -1,
        key: 'return_value',
      });
    expect(await report(old.runId)).to.deep.equal({ w: 'waited', code: 'v1' });
    expect(await report(fresh.runId)).to.deep.equal({ w: 'waited', code: 'v2' });
    const log = (
      await readTaskLog(stack.database.db, {
        dag_id: 'edited',
        run_id: old.runId,
        task_id: 'report',
        map_index: -1,
        try_number: 1,
      })
    )
      .map((l) => l.line)
      .join('\n');
    expect(log).to.contain('running the code of DAG "edited" version 1, the version this run was created with');
    // Callbacks run the run's version's code too.
    await waitFor(
      "the old run's on_success callback",
      async () => {
        const lines = await readTaskLog(stack.database.db, {
          dag_id: 'edited',
          run_id: old.runId,
          task_id: 'report',
          map_index: -1,
          try_number: 1,
        });
        return lines.some((l) => l.line.includes('on_success callback: callback of v1'));
      },
      10_000,
    );
    const versions = await listDagVersions(stack.database.db, 'edited');
    expect(versions.map((v) => v.version_number)).to.deep.equal([1, 2]);
    expect(versions[0]!.spec_hash).to.not.equal(versions[1]!.spec_hash);
  });

  it('a task failure names the .ts line of the DAG file (source maps), also for a stored version', async () => {
    const source = (label: string): string =>
      [
        "import { dag } from 'updraft';",
        '',
        `// ${label}`,
        "export default dag({ dagId: 'traced' }, (d) => {",
        "  d.task({ taskId: 'fails' }, () => {",
        `    throw new Error('failed in ${label}');`,
        '  })();',
        '});',
      ].join('\n');
    fs.writeFileSync(path.join(folder, 'traced.ts'), source('v1'));
    await waitFor('traced version 1', async () => (await latestVersion('traced')) === 1, 20_000);
    const current = await finishRun(stack, await startRun(stack, 'traced'));
    expect(current.tis.get('fails')!.error)
      .to.contain('Error: failed in v1')
      .and.contain(`${path.join(folder, 'traced.ts')}:6:`);

    // The stored version 1, evaluated after the file moved its lines down by two.
    const gate = path.join(gates, 'traced');
    fs.writeFileSync(
      path.join(folder, 'traced.ts'),
      source('v1')
        .replace("import { dag } from 'updraft';", "import fs from 'node:fs';\nimport { dag } from 'updraft';\n\n")
        .replace(
          "  d.task({ taskId: 'fails' }, () => {",
          "  d.chain(d.task({ taskId: 'wait' }, async (_: void, ctx) => { while (!fs.existsSync(String(ctx.conf.gate))) await new Promise((r) => setTimeout(r, 100)); })(), d.task({ taskId: 'fails' }, () => {",
        )
        .replace('  })();', '  })());'),
    );
    await waitFor('traced version 2', async () => (await latestVersion('traced')) === 2, 20_000);
    const waiting = await startRun(stack, 'traced', { conf: { gate } });
    fs.writeFileSync(path.join(folder, 'traced.ts'), source('v3'));
    await waitFor('traced version 3', async () => (await latestVersion('traced')) === 3, 20_000);
    fs.writeFileSync(gate, '');
    const stored = await finishRun(stack, waiting);
    expect(stored.tis.get('fails')!.error)
      .to.contain('Error: failed in v1')
      .and.contain(`${path.join(folder, 'traced.ts')}:9:`);
  });

  it('a change to a task body alone makes a new version', async () => {
    const before = (await getLatestDagVersion(stack.database.db, 'edited'))!;
    fs.writeFileSync(path.join(folder, 'edited.ts'), gatedDag('edited', 'v3', { extraTask: true }));
    await waitFor('version 3 of "edited"', async () => (await latestVersion('edited')) === 3, 20_000);
    const after = (await getLatestDagVersion(stack.database.db, 'edited'))!;
    expect(after.spec_hash).to.equal(before.spec_hash);
    expect(after.code_hash).to.not.equal(before.code_hash);
  });

  it("fails a task at once, without retries, when the code of its run's version cannot be had", async () => {
    const gate = path.join(gates, 'lost');
    fs.writeFileSync(path.join(folder, 'lost_code.ts'), gatedDag('lost_code', 'v1', { retries: 3 }));
    await waitFor('lost_code version 1', async () => (await latestVersion('lost_code')) === 1, 20_000);
    const run = await startRun(stack, 'lost_code', { conf: { gate } });
    fs.writeFileSync(path.join(folder, 'lost_code.ts'), gatedDag('lost_code', 'v2', { retries: 3 }));
    await waitFor('lost_code version 2', async () => (await latestVersion('lost_code')) === 2, 20_000);
    // Version 1's stored bundle no longer loads (as if the SDK it was written for were gone).
    const v1 = (await listDagVersions(stack.database.db, 'lost_code'))[0]!;
    await stack.database.db
      .updateTable('dag_code')
      .set({ bundle: "throw new Error('this bundle is unusable');" })
      .where('code_hash', '=', v1.code_hash!)
      .execute();
    fs.writeFileSync(gate, '');
    const done = await finishRun(stack, run);
    expect(done.result.state).to.equal('failed');
    expect(statesOf(done.tis).report).to.deep.equal(['failed', 1]);
    expect(done.tis.get('report')!.max_tries).to.equal(4);
    expect(done.tis.get('report')!.error, done.tis.get('report')!.error ?? '').to.match(
      /^the stored code of DAG "lost_code" version 1 \(lost_code\.ts\) no longer loads: Error: this bundle is unusable/,
    );
  });

  it('a removed file deactivates its DAG, and a trigger is refused', async () => {
    fs.rmSync(path.join(folder, 'brand_new.ts'));
    await waitFor(
      'brand_new inactive',
      async () => (await getDag(stack.database.db, 'brand_new'))?.is_active === false,
      20_000,
    );
    const err = await startRun(stack, 'brand_new').then(
      () => null,
      (e: Error) => e,
    );
    expect(err).to.be.instanceOf(TriggerError);
    expect(err!.message).to.equal(
      'DAG "brand_new" is no longer in the DAGs folder (inactive since the last parse: brand_new.ts is gone or no longer defines it)',
    );
    const unknown = await startRun(stack, 'never_existed').then(
      () => null,
      (e: Error) => e,
    );
    expect(unknown!.message).to.match(/^DAG "never_existed" not found in the last parse of the DAGs folder/);
  });
});

describe('DAG processor without watching: the intervals find changes', function () {
  this.timeout(120_000);
  let stack: TestStack;
  let folder: string;
  before(async () => {
    folder = tempDir('interval-dags');
    fs.writeFileSync(
      path.join(folder, 'first.ts'),
      "import { dag } from 'updraft';\nexport default dag({ dagId: 'first' }, (d) => { d.empty({ taskId: 'x' }); });\n",
    );
    stack = await startTestStack({
      dagsFolder: folder,
      db: 'postgres',
      config: { dagsFolderWatch: false, minFileProcessIntervalSeconds: 1, dagDirListIntervalSeconds: 2 },
    });
  });
  after(async () => {
    await stack?.stop();
    fs.rmSync(folder, { recursive: true, force: true });
  });

  it('lists new files every dag_dir_list_interval and re-parses changed ones every min_file_process_interval', async () => {
    fs.writeFileSync(
      path.join(folder, 'second.ts'),
      "import { dag } from 'updraft';\nexport default dag({ dagId: 'second' }, (d) => { d.empty({ taskId: 'x' }); });\n",
    );
    await waitFor(
      'second in the stored parse result',
      async () => (await getDag(stack.database.db, 'second'))?.is_active,
      15_000,
    );
    fs.writeFileSync(
      path.join(folder, 'first.ts'),
      "import { dag } from 'updraft';\nexport default dag({ dagId: 'first' }, (d) => { d.empty({ taskId: 'y' }); });\n",
    );
    await waitFor(
      'first version 2',
      async () => (await getLatestDagVersion(stack.database.db, 'first'))?.version_number === 2,
      15_000,
    );
    fs.writeFileSync(
      path.join(folder, 'first.ts'),
      "import { dag } from 'updraft';\nexport default dag({ dagId: 'first' }, (d) => { d.empty({ taskId: 'y' });\n",
    );
    await waitFor(
      'first.ts as a stored import error',
      async () => {
        const stored = await stack.database.db.selectFrom('import_error').select('filename').execute();
        return stored.map((r) => r.filename).join() === 'first.ts';
      },
      15_000,
    );
    expect((await getDag(stack.database.db, 'first'))?.is_active).to.equal(false);
    expect((await getDag(stack.database.db, 'second'))?.is_active).to.equal(true);
  });
});
