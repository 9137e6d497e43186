/**
 * End-to-end tests of the `updraft` command, run as a separate process like a user would, against
 * a DAG folder that mixes good DAGs with a syntax error, a cycle, a duplicate id and a file that
 * throws. Uses the embedded stack (the real temporal CLI dev server, PGlite) in a temp home.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { freePort } from '../../worker/temporal-server.js';
import { ROOT, runCli, startDev, stopDev } from '../helpers/cli.js';
import { tempDir } from '../helpers/servers.js';

const DAGS = path.join(ROOT, 'test', 'fixtures', 'dags-mixed');

function temporalServersOn(port: number): number {
  let n = 0;
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.includes('start-dev') && cmd.includes(String(port))) n++;
    } catch {
      // process ended
    }
  }
  return n;
}

describe('updraft CLI (end to end)', function () {
  this.timeout(240_000);
  let env: NodeJS.ProcessEnv;

  before(async () => {
    env = {
      UPDRAFT_HOME: tempDir('cli-home'),
      UPDRAFT_DAGS_FOLDER: DAGS,
      UPDRAFT_DEV_TEMPORAL_PORT: String(await freePort()),
      UPDRAFT_DEV_UI_PORT: String(await freePort()),
      UPDRAFT_HEARTBEAT_TIMEOUT_SECONDS: '5',
      TEMPORAL_ADDRESS: '',
      DATABASE_URL: '',
    };
  });

  it('read commands read the stored parse result: before any parse they say how to make one', async () => {
    const r = await runCli(['dags', 'list'], env);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim()).to.equal('No data found');
    expect(r.stderr).to.contain('No parse of the DAGs folder is stored yet: start `updraft dev`');
    const show = await runCli(['dags', 'show', 'good_one'], env);
    expect(show.code).to.equal(1);
    expect(show.stderr).to.contain('DAG "good_one" not found in the last parse of the DAGs folder');
  });

  it('dags reserialize parses the folder and stores every DAG version and import error', async () => {
    const r = await runCli(['dags', 'reserialize'], env);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('good_one.ts: DAG good_one version 1');
    expect(r.stdout).to.contain(`4 DAG(s) stored from ${DAGS}, 4 new version(s), 0 marked inactive, 5 import error(s)`);
    const again = await runCli(['dags', 'reserialize', '--output', 'json'], env);
    expect(JSON.parse(again.stdout)).to.deep.include({ dags: 4, import_errors: 5, new_versions: [], deactivated: 0 });
    const versions = await runCli(['dags', 'list-versions', 'good_one', '--output', 'json'], env);
    expect((JSON.parse(versions.stdout) as Array<{ version: number }>).map((v) => v.version)).to.deep.equal([1]);
  });

  it('dags list-import-errors lists every broken file with its reason and exits 1', async () => {
    const r = await runCli(['dags', 'list-import-errors', '--output', 'json'], env);
    expect(r.code, r.stderr).to.equal(1);
    const rows = JSON.parse(r.stdout) as Array<{ filepath: string; error: string }>;
    const byFile = Object.fromEntries(rows.map((x) => [x.filepath, x.error]));
    expect(Object.keys(byFile).sort()).to.deep.equal([
      'broken_syntax.ts',
      'duplicate_task.ts',
      'has_cycle.ts',
      'throws.ts',
      'zz_duplicate_dag.ts',
    ]);
    expect(byFile['has_cycle.ts']).to.contain('the graph has a cycle: a -> b -> a');
    expect(byFile['duplicate_task.ts']).to.contain('duplicate task_id "same"');
    expect(byFile['broken_syntax.ts']).to.contain('error: Expected ")"');
    expect(byFile['throws.ts']).to.contain("Cannot read properties of undefined (reading 'name')");
  });

  it('dags list shows the good DAGs and warns about the broken files', async () => {
    const r = await runCli(['dags', 'list'], env);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.split('\n')[0]).to.match(
      /^dag_id\s+\| filepath\s+\| owner\s+\| version \| schedule\s+\| is_paused \| next_dagrun$/,
    );
    for (const id of ['always_fails', 'good_one', 'good_two_a', 'good_two_b']) expect(r.stdout).to.contain(id);
    expect(r.stdout).to.not.contain('has_cycle');
    expect(r.stderr).to.contain('Failed to load all files. For details, run `updraft dags list-import-errors`');
  });

  it('dags show renders text, DOT and Mermaid, and names a missing DAG', async () => {
    const text = await runCli(['dags', 'show', 'good_one'], env);
    expect(text.stdout).to.contain('shout').and.contain('<- hello');
    const dot = await runCli(['dags', 'show', 'good_one', '--format', 'dot'], env);
    expect(dot.stdout).to.contain('"hello" -> "shout";');
    const mermaid = await runCli(['dags', 'show', 'good_one', '--format', 'mermaid'], env);
    expect(mermaid.stdout).to.contain('flowchart LR');
    const first = await runCli(['dags', 'show', 'good_one', '--dag-version', '1'], env);
    expect(first.stdout).to.equal(text.stdout);
    const none = await runCli(['dags', 'show', 'good_one', '--dag-version', '9'], env);
    expect(none.stderr).to.contain(
      'DAG "good_one" has no version 9 stored (see `updraft dags list-versions good_one`)',
    );
    const missing = await runCli(['dags', 'show', 'nope'], env);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.contain('DAG "nope" not found');
  });

  it('dags test runs a DAG once on the embedded servers and prints states, logs and the UI link', async () => {
    const r = await runCli(['dags', 'test', 'good_one'], env);
    expect(r.code, r.stdout + r.stderr).to.equal(0);
    expect(r.stdout).to.match(/hello\s+\| success\s+\| 1/);
    expect(r.stdout).to.match(/shout\s+\| success\s+\| 1/);
    expect(r.stdout).to.contain(`Task logs: ${env.UPDRAFT_HOME}/logs/dag_id=good_one/`);
    expect(r.stdout).to.contain('Temporal UI: http://127.0.0.1:');
    const failing = await runCli(['dags', 'test', 'always_fails'], env);
    expect(failing.code).to.equal(1);
    expect(failing.stdout).to.match(/boom\s+\| failed/);
    expect(failing.stdout).to.match(/after\s+\| upstream_failed/);
  });

  it('updraft dev serves trigger/state/logs from another process, stops cleanly and keeps runs across restarts', async () => {
    const trigger = await runCli(['dags', 'trigger', 'good_one'], env);
    expect(trigger.code).to.equal(1);
    expect(trigger.stderr).to.contain('no Temporal server: start one with `updraft dev`');

    let dev = await startDev(env);
    try {
      const ok = await runCli(['dags', 'trigger', 'good_two_a', '--run-id', 'r1', '--wait'], env);
      expect(ok.code, ok.stdout + ok.stderr).to.equal(0);
      expect(ok.stdout).to.contain('DAG run good_two_a / r1: success');

      const dup = await runCli(['dags', 'trigger', 'good_two_a', '--run-id', 'r1'], env);
      expect(dup.code).to.equal(1);
      expect(dup.stderr).to.contain('a run with run_id "r1" already exists for DAG "good_two_a"');

      const badConf = await runCli(['dags', 'trigger', 'good_two_a', '--conf', '{not json'], env);
      expect(badConf.code).to.equal(2);
      expect(badConf.stderr).to.contain('--conf is not valid JSON');

      const failed = await runCli(['dags', 'trigger', 'always_fails', '--run-id', 'f1', '--wait'], env);
      expect(failed.code).to.equal(1);
      expect(failed.stdout).to.contain('DAG run always_fails / f1: failed');

      const state = await runCli(['dags', 'state', 'always_fails', 'f1'], env);
      expect(state.stdout.trim()).to.equal('failed');
      const tis = await runCli(['tasks', 'states-for-dag-run', 'always_fails', 'f1', '--output', 'json'], env);
      const rows = JSON.parse(tis.stdout) as Array<{
        task_id: string;
        state: string;
        exit_code: number | null;
        try_number: number;
      }>;
      expect(rows.map((t) => [t.task_id, t.state, t.try_number])).to.deep.equal([
        ['after', 'upstream_failed', 0],
        ['boom', 'failed', 1],
      ]);
      expect(rows.find((t) => t.task_id === 'boom')!.exit_code).to.equal(3);
      const logs = await runCli(['tasks', 'logs', 'always_fails', 'f1', 'boom', '--try', '1'], env);
      expect(logs.stdout).to.contain('about to fail');
      expect(logs.stdout).to.contain('process exited with code 3');
      const noTry = await runCli(['tasks', 'logs', 'always_fails', 'f1', 'boom', '--try', '7'], env);
      expect(noTry.code).to.equal(1);
      expect(noTry.stderr).to.contain('has no log for try 7; tries with logs: 1');
    } finally {
      expect(await stopDev(dev.child)).to.equal(0);
    }
    expect(temporalServersOn(Number(env.UPDRAFT_DEV_TEMPORAL_PORT))).to.equal(0);

    dev = await startDev(env);
    try {
      const runs = await runCli(['dags', 'list-runs', 'good_two_a', '--output', 'json'], env);
      expect(
        (JSON.parse(runs.stdout) as Array<{ run_id: string; state: string }>).map((r) => [r.run_id, r.state]),
      ).to.deep.equal([['r1', 'success']]);
    } finally {
      expect(await stopDev(dev.child)).to.equal(0);
    }
  });
});
