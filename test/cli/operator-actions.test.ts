/// <reference types="mocha" />
/**
 * `updraft tasks clear`, `tasks set-state` and `dags set-run-state` as a user runs them (separate
 * processes) against a worker, the shared Temporal dev server and Postgres: the confirmation
 * Airflow asks for, --dry-run, -y, --wait, JSON output and the errors for bad arguments.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { cliTestStack, runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/servers.js';
import { finishRun, readRun, startRun, statesOf } from '../workflows/helpers.js';

const FIXTURES = path.resolve(__dirname, '../../../test/workflows/dags/operator');

describe('updraft tasks clear / tasks set-state / dags set-run-state (CLI)', function () {
  this.timeout(120_000);
  const cli = cliTestStack(FIXTURES);

  it('tasks clear lists what it would clear, asks for -y without a terminal, then clears and waits', async () => {
    const dir = tempDir('op-cli');
    const first = await finishRun(cli.stack, await startRun(cli.stack, 'op_gate', { conf: { dir } }));
    const runId = first.triggered.runId;

    const dry = await runCli(['tasks', 'clear', 'op_gate', runId, '-t', '^ga', '-d', '--dry-run'], cli.env);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.contain('gate    | failed          | none (runs again)');
    expect(dry.stdout).to.contain('after   | upstream_failed | none (runs again)');
    expect(dry.stdout).to.contain('Dry run: 2 task instance(s) would change; nothing was changed');

    const unconfirmed = await runCli(['tasks', 'clear', 'op_gate', runId, '-t', '^ga', '-d'], cli.env);
    expect(unconfirmed.code).to.equal(2);
    expect(unconfirmed.stderr).to.equal(
      'Error: You are about to clear these task instances. Are you sure? Not asking without a terminal: add -y (--yes) to confirm, or --dry-run to only list them\n',
    );
    expect((await readRun(cli.stack, 'op_gate', runId)).run.state).to.equal('failed');

    fs.writeFileSync(path.join(dir, 'gate'), '');
    const cleared = await runCli(['tasks', 'clear', 'op_gate', runId, '-t', '^ga', '-d', '-y', '--wait'], cli.env);
    expect(cleared.code, cleared.stderr).to.equal(0);
    expect(cleared.stdout).to.contain(
      '2 task instance(s) changed (the finished run was re-opened as a new workflow execution)',
    );
    expect(cleared.stdout).to.contain(`DAG run ${runId}: success`);
    expect(statesOf((await readRun(cli.stack, 'op_gate', runId)).tis)).to.deep.equal({
      start: ['success', 1],
      gate: ['success', 2],
      after: ['success', 1],
    });
  });

  it('tasks set-state and dags set-run-state print JSON and mark', async () => {
    const dir = tempDir('op-cli');
    const first = await finishRun(cli.stack, await startRun(cli.stack, 'op_gate', { conf: { dir } }));
    const runId = first.triggered.runId;

    const marked = await runCli(
      ['tasks', 'set-state', 'op_gate', runId, 'gate', 'success', '-d', '-o', 'json', '--wait'],
      cli.env,
    );
    expect(marked.code, marked.stderr).to.equal(0);
    const out = JSON.parse(marked.stdout) as { changes: unknown[]; reopened: boolean; dry_run: boolean };
    expect(out.changes).to.deep.equal([
      { task_id: 'gate', from: 'failed', to: 'success' },
      { task_id: 'after', from: 'upstream_failed', to: 'success' },
    ]);
    expect([out.reopened, out.dry_run]).to.deep.equal([true, false]);
    expect((await readRun(cli.stack, 'op_gate', runId)).run.state).to.equal('success');

    const runFailed = await runCli(['dags', 'set-run-state', 'op_gate', runId, 'failed', '--wait'], cli.env);
    expect(runFailed.code).to.equal(1, 'the run ended failed, as asked');
    expect(runFailed.stdout).to.contain('The run is marked failed');
    const { run, tis } = await readRun(cli.stack, 'op_gate', runId);
    expect([run.state, run.last_error]).to.deep.equal(['failed', 'marked failed by an operator']);
    expect(statesOf(tis)).to.deep.equal({ start: ['success', 1], gate: ['success', 1], after: ['success', 0] });
  });

  it('refuses bad arguments with what was expected', async () => {
    const badState = await runCli(['tasks', 'set-state', 'op_gate', 'some_run', 'gate', 'running'], cli.env);
    expect([badState.code, badState.stderr]).to.deep.equal([
      2,
      'Error: state must be success or failed, got "running"\n',
    ]);
    const noRun = await runCli(['dags', 'set-run-state', 'op_gate', 'no_such_run', 'success'], cli.env);
    expect([noRun.code, noRun.stderr]).to.deep.equal([
      1,
      'Error: DAG run "no_such_run" of DAG "op_gate" not found (see updraft dags list-runs op_gate)\n',
    ]);
    const badRegex = await runCli(['tasks', 'clear', 'op_gate', 'no_such_run', '-t', '('], cli.env);
    expect(badRegex.code).to.equal(2);
    expect(badRegex.stderr).to.match(/^Error: --task-regex is not a valid regular expression: /);

    const triggered = await startRun(cli.stack, 'op_gate', { conf: { dir: tempDir('op-cli') } });
    await finishRun(cli.stack, triggered);
    const noMatch = await runCli(['tasks', 'clear', 'op_gate', triggered.runId, '-t', 'zzz', '-y'], cli.env);
    expect([noMatch.code, noMatch.stderr]).to.deep.equal([
      1,
      'Error: --task-regex "zzz" matches no task of DAG "op_gate"; its tasks are: start, gate, after\n',
    ]);
  });
});
