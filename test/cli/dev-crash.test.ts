/**
 * `kill -9` of a real `updraft dev`, then a restart (issue 8): the restart must work — not fail
 * with "port in use" because of the dead dev's own Temporal server — find the earlier runs, and
 * finish the run that was mid-task at the crash. Non-default ports and a temp UPDRAFT_HOME.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { isAlive, listensOn } from '../../worker/processes.js';
import { freePort, isPortFree } from '../../worker/temporal-server.js';
import { ROOT, runCli, startDev, stopDev } from '../helpers/cli.js';
import { tempDir } from '../helpers/servers.js';

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('updraft dev after kill -9', function () {
  this.timeout(300_000);
  let env: NodeJS.ProcessEnv;
  let home: string;

  before(async () => {
    home = tempDir('dev-crash');
    env = {
      UPDRAFT_HOME: home,
      UPDRAFT_DAGS_FOLDER: path.join(ROOT, 'test', 'fixtures', 'dags-crash'),
      UPDRAFT_DEV_TEMPORAL_PORT: String(await freePort()),
      UPDRAFT_DEV_UI_PORT: String(await freePort()),
      UPDRAFT_HEARTBEAT_TIMEOUT_SECONDS: '3',
      TEMPORAL_ADDRESS: '',
      DATABASE_URL: '',
    };
  });

  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it('restarts cleanly, finds the earlier runs and finishes the one cut off mid-task', async () => {
    const temporalPort = Number(env.UPDRAFT_DEV_TEMPORAL_PORT);
    const first = await startDev(env);
    let serverPid: number;
    try {
      const done = await runCli(['dags', 'trigger', 'crash_slow', '--run-id', 'before', '--wait'], env);
      expect(done.code, done.stdout + done.stderr).to.equal(0);
      const cut = await runCli(['dags', 'trigger', 'crash_slow', '--run-id', 'cut'], env);
      expect(cut.code, cut.stderr).to.equal(0);
      await waitFor(
        'task "slow" of run "cut" to run',
        async () => {
          const r = await runCli(['tasks', 'states-for-dag-run', 'crash_slow', 'cut', '--output', 'json'], env);
          return (JSON.parse(r.stdout) as Array<{ task_id: string; state: string }>).some(
            (t) => t.task_id === 'slow' && t.state === 'running',
          );
        },
        60_000,
      );
      serverPid = (JSON.parse(fs.readFileSync(path.join(home, 'temporal-server.json'), 'utf8')) as { pid: number }).pid;
      expect(listensOn(serverPid, temporalPort)).to.equal(true);
    } finally {
      first.child.kill('SIGKILL');
    }
    await new Promise((r) => first.child.once('exit', r));

    const second = await startDev(env);
    try {
      expect(second.output()).to.not.contain('in use');
      // Its Temporal server is its own, on the same port; the killed dev's is gone.
      const record = JSON.parse(fs.readFileSync(path.join(home, 'temporal-server.json'), 'utf8')) as {
        pid: number;
        ownerPid: number;
      };
      expect(record.ownerPid).to.equal(second.child.pid);
      expect(record.pid).to.not.equal(serverPid);
      expect(isAlive(serverPid)).to.equal(false);
      expect(listensOn(record.pid, temporalPort)).to.equal(true);

      await waitFor(
        'run "cut" to finish',
        async () => {
          const r = await runCli(['dags', 'state', 'crash_slow', 'cut'], env);
          return ['success', 'failed'].includes(r.stdout.trim());
        },
        120_000,
      );
      const runs = await runCli(['dags', 'list-runs', 'crash_slow', '--output', 'json'], env);
      const byId = Object.fromEntries(
        (JSON.parse(runs.stdout) as Array<{ run_id: string; state: string }>).map((r) => [r.run_id, r.state]),
      );
      expect(byId).to.deep.equal({ before: 'success', cut: 'success' });
      const tis = await runCli(['tasks', 'states-for-dag-run', 'crash_slow', 'cut', '--output', 'json'], env);
      const states = Object.fromEntries(
        (JSON.parse(tis.stdout) as Array<{ task_id: string; state: string }>).map((t) => [t.task_id, t.state]),
      );
      expect(states).to.deep.equal({ first: 'success', last: 'success', slow: 'success' });
    } finally {
      expect(await stopDev(second.child)).to.equal(0);
    }
    expect(await isPortFree(temporalPort), 'a clean stop leaves no server behind').to.equal(true);
    expect(fs.existsSync(path.join(home, 'temporal-server.json'))).to.equal(false);
  });
});
