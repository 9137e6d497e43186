/**
 * No command loses output when piped (issue 8 item 5): a 3,000-task run's
 * `tasks states-for-dag-run -o json` (over 1 MB) goes through a real pipe into a slow consumer
 * that parses it. Before the fix the CLI exited before stdout drained and the consumer got the
 * first 64 KiB.
 */
import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { openDatabase } from '../../db/connect.js';
import { migrateToLatest } from '../../db/migrate.js';
import { upsertTaskInstances } from '../../db/task-instance.repository.js';
import { loadConfig } from '../../worker/config.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/servers.js';

const TASKS = 3000;
const T0 = Date.parse('2026-12-06T10:00:00.000Z');

/** Runs `updraft <args> | <consumer>` through a shell pipe (pipefail: the exit code is the CLI's). */
function pipe(
  consumer: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    // Arguments reach the shell as positional parameters, never as part of the script.
    const child = spawn('bash', ['-o', 'pipefail', '-c', `node "$0" "$@" | ${consumer}`, BIN, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pipe timed out: ${err}`));
    }, 120_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** `updraft <args> | node <consumer>`; the consumer reads slowly and parses the whole output. */
function pipeThroughConsumer(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; out: string; err: string }> {
  // The consumer pauses between chunks so the pipe fills and the CLI must wait for it.
  const consumer = `
    let text = '';
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk) => { text += chunk; process.stdin.pause(); setTimeout(() => process.stdin.resume(), 2); });
    process.stdin.on('end', () => {
      const rows = JSON.parse(text);
      process.stdout.write(JSON.stringify({ bytes: Buffer.byteLength(text), rows: rows.length, last: rows[rows.length - 1] }));
    });`;
  return pipe('node -e "$UPDRAFT_TEST_CONSUMER"', args, { ...env, UPDRAFT_TEST_CONSUMER: consumer });
}

describe('piped CLI output is never cut short', function () {
  this.timeout(180_000);
  let env: NodeJS.ProcessEnv;

  before(async function () {
    const home = tempDir('cli-pipe');
    env = { UPDRAFT_HOME: home, UPDRAFT_DAGS_FOLDER: tempDir('cli-pipe-dags'), DATABASE_URL: '', TEMPORAL_ADDRESS: '' };
    const h = await openDatabase({ pglitePath: loadConfig({ UPDRAFT_HOME: home }).pglitePath });
    try {
      await migrateToLatest(h.db);
      await h.db
        .insertInto('dag_run')
        .values({ dag_id: 'wide', run_id: 'r1', state: 'success', run_type: 'manual', workflow_id: 'dag:wide:run:r1' })
        .execute();
      const rows = Array.from({ length: TASKS }, (_, i) => ({
        dag_id: 'wide',
        run_id: 'r1',
        task_id: `transform_partition_${String(i).padStart(4, '0')}`,
        state: 'success' as const,
        operator: 'PythonOperator',
        max_tries: 1,
        try_number: 1,
        hostname: 'worker-7.example.internal',
        exit_code: 0,
        start_date: new Date(T0 + i * 1000),
        end_date: new Date(T0 + i * 1000 + 2500),
        duration: 2.5,
      }));
      for (let i = 0; i < rows.length; i += 500) await upsertTaskInstances(h.db, rows.slice(i, i + 500));
    } finally {
      await h.close();
    }
  });

  it(`tasks states-for-dag-run -o json of a ${TASKS}-task run parses whole at the other end of a pipe`, async function () {
    const r = await pipeThroughConsumer(['tasks', 'states-for-dag-run', 'wide', 'r1', '-o', 'json'], env);
    expect(r.code, r.err).to.equal(0);
    const got = JSON.parse(r.out) as { bytes: number; rows: number; last: { task_id: string; state: string } };
    expect(got.bytes).to.be.greaterThan(1_000_000); // 1 MB
    expect(got.rows).to.equal(TASKS);
    expect(got.last).to.deep.include({ task_id: 'transform_partition_2999', state: 'success' });
  });

  it('a reader that stops early (| head) ends the command quietly', async function () {
    const r = await pipe('head -c 1000 >/dev/null', ['tasks', 'states-for-dag-run', 'wide', 'r1', '-o', 'json'], env);
    expect([r.code, r.err]).to.deep.equal([0, '']);
  });
});
