/**
 * One DAGs folder for the CLI and the running stack, end to end (`updraft dev` with the real
 * temporal dev server and PGlite, the CLI as separate processes): dev.json names the folder; read
 * commands read the stored parse result, import no DAG file and change no active flag, whatever
 * UPDRAFT_DAGS_FOLDER the shell has; commands that parse use the stack's folder and refuse another;
 * the stack picks up new and removed files by itself; a file calling process.exit is an import
 * error at once.
 */
import { type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { freePort } from '../../worker/temporal-server.js';
import { runCli, startDev, stopDev } from '../helpers/cli.js';
import { tempDir } from '../helpers/servers.js';

/** Every process that evaluates this file appends its pid to $UPDRAFT_TEST_IMPORT_MARKER. */
const WATCHED = `import fs from 'node:fs';
import { dag } from 'updraft';

if (process.env.UPDRAFT_TEST_IMPORT_MARKER) fs.appendFileSync(process.env.UPDRAFT_TEST_IMPORT_MARKER, process.pid + '\\n');

export default dag({ dagId: 'watched', schedule: '@daily' }, (d) => {
  d.task({ taskId: 'one' }, () => 1)();
});
`;

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('the DAGs folder of the running stack (end to end)', function () {
  this.timeout(300_000);
  let env: NodeJS.ProcessEnv;
  let folder: string;
  let other: string;
  let marker: string;
  let dev: { child: ChildProcess; output: () => string };

  /** The processes that evaluated watched.ts (each evaluates it twice: probe thread, then itself). */
  const importers = (): string[] => [...new Set(fs.readFileSync(marker, 'utf8').split('\n').filter(Boolean))];
  const listed = async (e: NodeJS.ProcessEnv = env): Promise<string[]> =>
    (JSON.parse((await runCli(['dags', 'list', '-o', 'json'], e)).stdout) as Array<{ dag_id: string }>).map(
      (r) => r.dag_id,
    );

  before(async () => {
    folder = tempDir('stack-dags');
    other = tempDir('other-dags');
    marker = path.join(tempDir('import-marker'), 'pids');
    fs.writeFileSync(marker, '');
    fs.writeFileSync(path.join(folder, 'watched.ts'), WATCHED);
    env = {
      UPDRAFT_HOME: tempDir('stack-home'),
      UPDRAFT_DAGS_FOLDER: folder,
      UPDRAFT_DEV_TEMPORAL_PORT: String(await freePort()),
      UPDRAFT_DEV_UI_PORT: String(await freePort()),
      UPDRAFT_TEST_IMPORT_MARKER: marker,
      TEMPORAL_ADDRESS: '',
      DATABASE_URL: '',
    };
    dev = await startDev(env);
  });
  after(async () => {
    if (dev) expect(await stopDev(dev.child)).to.equal(0);
    for (const dir of [folder, other, path.dirname(marker), env.UPDRAFT_HOME!])
      fs.rmSync(dir, { recursive: true, force: true });
  });

  it('dev.json names the folder the stack parses', () => {
    const info = JSON.parse(fs.readFileSync(path.join(env.UPDRAFT_HOME!, 'dev.json'), 'utf8')) as {
      dagsFolder: string;
      pid: number;
    };
    expect(info).to.deep.include({ dagsFolder: folder, pid: dev.child.pid });
  });

  it('read commands import no DAG file and change no active flag, from a shell with another folder too', async () => {
    expect(importers()).to.deep.equal([String(dev.child.pid)]);
    const list = await runCli(['dags', 'list'], env);
    // The schedule as stored, whether it is paused, and when its next run is due (the scheduler runs it).
    expect(list.stdout).to.match(
      /watched\s+\| watched\.ts\s+\| updraft \| 1\s+\| @daily\s+\| false\s+\| \d{4}-\d{2}-\d{2}T00:00:00/,
    );
    const elsewhere = { ...env, UPDRAFT_DAGS_FOLDER: other };
    expect(await listed(elsewhere)).to.deep.equal(['watched']);
    expect((await runCli(['dags', 'show', 'watched'], elsewhere)).stdout).to.match(/one\s+\(TypeScriptOperator\)/);
    expect((await runCli(['dags', 'list-import-errors'], elsewhere)).code).to.equal(0);
    expect((await runCli(['dags', 'details', 'watched'], elsewhere)).code).to.equal(0);
    expect(await listed()).to.deep.equal(['watched']);
    expect(importers()).to.deep.equal([String(dev.child.pid)]);
  });

  it('dags pause / unpause reach the Temporal schedule; next-execution lists the next runs', async () => {
    const paused = await runCli(['dags', 'pause', 'watched', '-o', 'json'], env);
    expect(paused.code, paused.stderr).to.equal(0);
    expect(JSON.parse(paused.stdout)).to.deep.equal([
      { dag_id: 'watched', is_paused: true, schedule: 'Temporal schedule updraft-schedule-watched paused' },
    ]);
    expect((await runCli(['dags', 'list'], env)).stdout).to.match(/watched\s+\|.*\| @daily\s+\| true/);
    const next = await runCli(['dags', 'next-execution', 'watched', '-n', '2', '-o', 'json'], env);
    expect(next.stderr).to.contain('PAUSED');
    const rows = JSON.parse(next.stdout) as Array<{ run_id: string; run_after: string }>;
    expect(rows).to.have.length(2);
    expect(Date.parse(rows[1]!.run_after) - Date.parse(rows[0]!.run_after)).to.equal(86_400_000);
    expect(rows[0]!.run_id).to.match(/^scheduled__\d{4}-\d{2}-\d{2}T00:00:00\+00:00$/);
    const unpaused = await runCli(['dags', 'unpause', 'watched', '-o', 'json'], env);
    expect((JSON.parse(unpaused.stdout) as object[])[0]).to.deep.include({
      dag_id: 'watched',
      is_paused: false,
      schedule: 'Temporal schedule updraft-schedule-watched unpaused',
    });
    const unknown = await runCli(['dags', 'pause', 'nope'], env);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.contain('DAG "nope" not found');
    const badDate = await runCli(
      ['backfill', 'create', 'watched', '--from-date', 'yesterday', '--to-date', '2025-01-02'],
      env,
    );
    expect(badDate.code).to.equal(2);
    expect(badDate.stderr).to.contain('--from-date must be an ISO 8601 date');
    const dry = await runCli(
      [
        'backfill',
        'create',
        'watched',
        '--from-date',
        '2025-01-01',
        '--to-date',
        '2025-01-03',
        '--dry-run',
        '-o',
        'json',
      ],
      env,
    );
    expect(dry.code, dry.stderr).to.equal(0);
    expect((JSON.parse(dry.stdout) as Array<{ run_id: string }>).map((r) => r.run_id)).to.deep.equal([
      'backfill__2025-01-01T00:00:00+00:00',
      'backfill__2025-01-02T00:00:00+00:00',
      'backfill__2025-01-03T00:00:00+00:00',
    ]);
  });

  it("commands that parse use the stack's folder, and refuse another", async () => {
    const refused = await runCli(['dags', 'reserialize'], { ...env, UPDRAFT_DAGS_FOLDER: other });
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.contain(
      `UPDRAFT_DAGS_FOLDER is ${other}, but the running \`updraft dev\` (pid ${dev.child.pid}) parses ${folder}`,
    );
    const check = await runCli(['dags', 'check'], { ...env, UPDRAFT_DAGS_FOLDER: other });
    expect(check.code).to.equal(1);
    expect(check.stderr).to.contain('but the running `updraft dev`');

    const ok = await runCli(['dags', 'reserialize'], { ...env, UPDRAFT_DAGS_FOLDER: undefined });
    expect(ok.code, ok.stderr).to.equal(0);
    expect(ok.stdout).to.contain(
      `1 DAG(s) stored from ${folder}, 0 new version(s), 0 marked inactive, 0 import error(s)`,
    );
    // This time the CLI parsed the file itself.
    expect(importers().filter((pid) => pid !== String(dev.child.pid))).to.have.length(1);
    expect(await listed()).to.deep.equal(['watched']);
  });

  it('picks up a new file by itself and runs it; a removed file is refused at trigger time', async () => {
    fs.writeFileSync(
      path.join(folder, 'fresh.ts'),
      "import { dag } from 'updraft';\nexport default dag({ dagId: 'fresh' }, (d) => { d.task({ taskId: 'hi' }, () => 'hi')(); });\n",
    );
    await until('fresh in `dags list`', async () => ((await listed()).includes('fresh') ? true : undefined), 30_000);
    const run = await runCli(['dags', 'trigger', 'fresh', '--run-id', 'r1', '--wait'], env);
    expect(run.code, run.stdout + run.stderr).to.equal(0);
    expect(run.stdout).to.contain('DAG run fresh / r1: success');

    fs.rmSync(path.join(folder, 'fresh.ts'));
    const refused = await until(
      'the trigger of a removed DAG to be refused',
      async () => {
        const r = await runCli(['dags', 'trigger', 'fresh'], env);
        return r.code === 1 && r.stderr.includes('no longer in the DAGs folder') ? r : undefined;
      },
      30_000,
    );
    expect(refused.stderr).to.contain(
      'Error: DAG "fresh" is no longer in the DAGs folder (inactive since the last parse: fresh.ts is gone',
    );
    expect(await listed()).to.deep.equal(['watched']);
  });

  it('reports a DAG file that calls process.exit as an import error at once, and the stack lives on', async () => {
    const started = Date.now();
    fs.writeFileSync(
      path.join(folder, 'exits.ts'),
      "import { dag } from 'updraft';\nprocess.exit(1);\nexport default dag({ dagId: 'exits' }, (d) => { d.empty({ taskId: 'x' }); });\n",
    );
    const error = await until(
      'the process.exit import error',
      async () => {
        const r = await runCli(['dags', 'list-import-errors', '-o', 'json'], env);
        return (JSON.parse(r.stdout) as Array<{ filepath: string; error: string }>).find(
          (e) => e.filepath === 'exits.ts',
        )?.error;
      },
      25_000,
    );
    expect(Date.now() - started).to.be.below(25_000);
    expect(error).to.match(/^DagFileExitError: the DAG file called process\.exit\(1\) at top level/);
    expect(error).to.contain(`${path.join(folder, 'exits.ts')}:2:`);
    expect(dev.child.exitCode).to.equal(null);
    const run = await runCli(['dags', 'trigger', 'watched', '--wait'], env);
    expect(run.code, run.stdout + run.stderr).to.equal(0);
  });
});
