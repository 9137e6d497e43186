/// <reference types="mocha" />
/**
 * Issue 8 item 9, as a user meets it (separate CLI processes against a worker, the shared Temporal
 * dev server and Postgres): default run ids that do not collide within a second, conf numbers JSON
 * cannot hold, `list-runs --state` checked, Airflow's `tasks clear <dag_id> -t X -y` without a run
 * id, and `tasks logs` saying what is really wrong (a mapped task without -m, a task that never ran).
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { triggerDagRun, TriggerError } from '../../client/trigger.js';
import { listDagRuns } from '../../db/dag-run.repository.js';
import { cliTestStack, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/servers.js';
import { finishRun, readRun, startRun, statesOf } from '../workflows/helpers.js';

const FIXTURES = path.resolve(__dirname, '../../../test/workflows/dags/operator');
const DEFAULT_RUN_ID = /^manual__(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.\d{6}\+00:00$/;

describe('run ids, conf, list-runs, clearing across runs and task logs (CLI)', function () {
  this.timeout(180_000);
  const served = cliTestStack(FIXTURES);

  it('default run ids carry microseconds: triggers in the same second get distinct runs; a collision says so', async () => {
    const dir = tempDir('runs-cli');
    fs.writeFileSync(path.join(dir, 'gate'), '');
    const trigger = (): ReturnType<typeof triggerDagRun> =>
      triggerDagRun(served.stack.database.db, served.stack.client, {
        dagId: 'op_gate',
        conf: { dir },
        runOptions: served.stack.config.run,
      });
    const runs = await Promise.all([trigger(), trigger(), trigger(), trigger(), trigger()]);
    const ids = runs.map((r) => r.runId);
    for (const id of ids) expect(id).to.match(DEFAULT_RUN_ID);
    expect(new Set(ids).size).to.equal(5);
    const seconds = ids.map((id) => DEFAULT_RUN_ID.exec(id)![1]);
    expect(
      seconds.length - new Set(seconds).size,
      `several triggers in one second: ${ids.join(', ')}`,
    ).to.be.greaterThan(0);
    for (const r of runs) expect((await finishRun(served.stack, r)).run.state).to.equal('success');

    // Two triggers at the very same microsecond (a pinned clock): the second is refused clearly.
    const clock = (): bigint => 1_780_000_000_123_456n;
    const first = await triggerDagRun(served.stack.database.db, served.stack.client, {
      dagId: 'op_gate',
      conf: { dir },
      runOptions: served.stack.config.run,
      clock,
    });
    expect(first.runId).to.equal('manual__2026-05-28T20:26:40.123456+00:00');
    const second = await triggerDagRun(served.stack.database.db, served.stack.client, {
      dagId: 'op_gate',
      conf: { dir },
      runOptions: served.stack.config.run,
      clock,
    }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(second).to.be.instanceOf(TriggerError);
    expect((second as Error).message).to.equal(
      'another run of DAG "op_gate" was triggered at the same instant and took the default run_id ' +
        '"manual__2026-05-28T20:26:40.123456+00:00"; trigger again, or pass a run id of your own (--run-id)',
    );
    await finishRun(served.stack, first);
  });

  it('refuses conf numbers JSON cannot hold, naming the field, and records nothing', async () => {
    const before = (await listDagRuns(served.stack.database.db, 'op_gate')).length;
    const cli = await runCli(
      ['dags', 'trigger', 'op_gate', '--conf', '{"dir": "/tmp", "model": {"threshold": 1e400}}'],
      served.env,
    );
    expect(cli.code).to.equal(2);
    expect(cli.stderr).to.equal(
      'Error: --conf: conf.model.threshold is not a finite number (a literal like 1e400 overflows to Infinity, ' +
        'which JSON cannot store): pass a number between -1.7976931348623157e308 and 1.7976931348623157e308\n',
    );
    const api = await triggerDagRun(served.stack.database.db, served.stack.client, {
      dagId: 'op_gate',
      conf: { xs: [1, -Infinity] },
      runOptions: served.stack.config.run,
    }).then(
      () => null,
      (err: unknown) => err,
    );
    expect((api as Error).message).to.match(/^conf\.xs\[1\] is not a finite number/);
    expect((await listDagRuns(served.stack.database.db, 'op_gate')).length).to.equal(before);

    // An invalid --conf is described without quoting it (it may hold a token).
    const bad = await runCli(['dags', 'trigger', 'op_gate', '--conf', '{"token": hunter2-secret-value}'], served.env);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.equal(
      'Error: --conf is not valid JSON: unexpected token (example: --conf \'{"rows": 10}\')\n',
    );
  });

  it('list-runs --state accepts only DAG run states', async () => {
    const bogus = await runCli(['dags', 'list-runs', 'op_gate', '--state', 'bogus'], served.env);
    expect([bogus.code, bogus.stderr]).to.deep.equal([
      2,
      'Error: --state must be one of queued, running, success, failed (Airflow\'s DAG run states), got "bogus"\n',
    ]);
    const ok = await runCli(['dags', 'list-runs', 'op_gate', '--state', 'success', '-o', 'json'], served.env);
    expect(ok.code, ok.stderr).to.equal(0);
    const rows = JSON.parse(ok.stdout) as Array<{ state: string }>;
    expect(rows.length).to.be.greaterThan(0);
    expect(rows.every((r) => r.state === 'success')).to.equal(true);
  });

  it('tasks clear <dag_id> -t REGEX -y without a run id clears every matching run, -s/-e select by logical date', async () => {
    const dirA = tempDir('runs-cli');
    const dirB = tempDir('runs-cli');
    const a = await finishRun(served.stack, await startRun(served.stack, 'op_gate', { conf: { dir: dirA } }));
    const b = await finishRun(served.stack, await startRun(served.stack, 'op_gate', { conf: { dir: dirB } }));
    expect([a.run.state, b.run.state]).to.deep.equal(['failed', 'failed']);
    fs.writeFileSync(path.join(dirA, 'gate'), '');
    fs.writeFileSync(path.join(dirB, 'gate'), '');

    const unconfirmed = await runCli(['tasks', 'clear', 'op_gate', '-t', '^gate$', '-d', '-f'], served.env);
    expect(unconfirmed.code).to.equal(2);
    expect(unconfirmed.stdout).to.contain(`${a.triggered.runId} | gate    | failed          | none (runs again)`);
    expect(unconfirmed.stderr).to.contain('add -y (--yes) to confirm');

    // Only runs up to A's logical date: A is cleared and succeeds, B stays failed.
    const upToA = await runCli(
      [
        'tasks',
        'clear',
        'op_gate',
        '-t',
        '^gate$',
        '-d',
        '-f',
        '-e',
        a.run.logical_date!.toISOString(),
        '-y',
        '--wait',
      ],
      served.env,
    );
    expect(upToA.code, upToA.stdout + upToA.stderr).to.equal(0);
    expect(upToA.stdout).to.contain('2 task instance(s) in 1 run(s) changed (1 finished run(s) re-opened)');
    expect(statesOf((await readRun(served.stack, 'op_gate', a.triggered.runId)).tis)).to.deep.equal({
      start: ['success', 1],
      gate: ['success', 2],
      after: ['success', 1],
    });
    expect((await readRun(served.stack, 'op_gate', b.triggered.runId)).run.state).to.equal('failed');

    // Every run: only B still has failed tasks (-f), the earlier successful runs are untouched.
    const all = await runCli(
      ['tasks', 'clear', 'op_gate', '-t', '^gate$', '-d', '-f', '-y', '-o', 'json', '--wait'],
      served.env,
    );
    expect(all.code, all.stderr).to.equal(0);
    const outcomes = JSON.parse(all.stdout) as Array<{ run_id: string; changes: unknown[] }>;
    expect(outcomes.filter((o) => o.changes.length > 0).map((o) => o.run_id)).to.deep.equal([b.triggered.runId]);
    expect((await readRun(served.stack, 'op_gate', b.triggered.runId)).run.state).to.equal('success');

    const future = await runCli(['tasks', 'clear', 'op_gate', '-t', 'gate', '-s', '2999-01-01', '-y'], served.env);
    expect([future.code, future.stderr]).to.deep.equal([
      1,
      'Error: DAG "op_gate" has no runs with a logical date from 2999-01-01T00:00:00.000Z (see updraft dags list-runs op_gate)\n',
    ]);
    const noMatch = await runCli(['tasks', 'clear', 'op_gate', '-t', 'zzz', '-y'], served.env);
    expect(noMatch.code).to.equal(1);
    expect(noMatch.stderr).to.match(
      /^Error: --task-regex "zzz" matches no task in the \d+ run\(s\) of DAG "op_gate"; their tasks are: after, gate, start\n$/,
    );
    const datesWithRun = await runCli(
      ['tasks', 'clear', 'op_gate', a.triggered.runId, '-s', '2025-01-01', '-y'],
      served.env,
    );
    expect(datesWithRun.code).to.equal(2);
    const badDate = await runCli(['tasks', 'clear', 'op_gate', '-s', 'yesterday', '-y'], served.env);
    expect([badDate.code, badDate.stderr]).to.deep.equal([
      2,
      'Error: --start-date must be a date like 2025-01-31 or 2025-01-31T06:00:00Z, got "yesterday"\n',
    ]);
  });

  it('tasks logs says when a task is mapped (-m needed), never ran, or does not exist', async () => {
    const run = await finishRun(
      served.stack,
      await startRun(served.stack, 'op_mapped', { conf: { dir: tempDir('runs-cli') } }),
    );
    const runId = run.triggered.runId;
    const logs = (...args: string[]): ReturnType<typeof runCli> =>
      runCli(['tasks', 'logs', 'op_mapped', runId, ...args], served.env);

    const noIndex = await logs('double');
    expect([noIndex.code, noIndex.stderr]).to.deep.equal([
      1,
      `Error: task "double" is mapped: run "${runId}" has 3 instance(s) (map_index 0..2); ` +
        `pick one with -m, e.g. \`updraft tasks logs op_mapped ${runId} double -m 0\`\n`,
    ]);
    const one = await logs('double', '-m', '1');
    expect(one.code, one.stderr).to.equal(0);
    expect(one.stdout).to.contain('two is not allowed yet');
    const outOfRange = await logs('double', '-m', '7');
    expect(outOfRange.stderr).to.equal(
      `Error: task "double" has no map_index 7 in run "${runId}" (its instances: map_index 0..2)\n`,
    );
    const neverRan = await logs('total');
    expect([neverRan.code, neverRan.stderr]).to.deep.equal([
      1,
      `Error: task "total" never ran in run "${runId}", so it has no log: an upstream task failed ` +
        `(state upstream_failed; see updraft tasks states-for-dag-run op_mapped ${runId})\n`,
    ]);
    const notMapped = await logs('items', '-m', '0');
    expect(notMapped.stderr).to.equal('Error: task "items" is not mapped: drop -m 0\n');
    const typo = await logs('totl');
    expect(typo.stderr).to.equal(
      `Error: DAG "op_mapped" has no task "totl" in run "${runId}"; its tasks are: items, double, total\n`,
    );
    const badIndex = await logs('double', '-m', 'x');
    expect([badIndex.code, badIndex.stderr]).to.deep.equal([
      2,
      'Error: --map-index must be an integer >= 0 (or -1 for an unmapped task), got "x"\n',
    ]);
  });
});
