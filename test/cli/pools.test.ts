/**
 * `updraft pools ...` as a user runs it (a separate process) against a fresh Postgres database:
 * list shows default_pool and occupancy, set creates and resizes, get shows one pool, delete
 * refuses default_pool and unknown pools with Airflow-style messages.
 */
import { expect } from 'chai';
import { requestSlots } from '../../activities/admission/slots.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, tempDir } from '../helpers/servers.js';

describe('updraft pools (CLI)', function () {
  this.timeout(120_000);
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    db = await createTestDatabase('postgres');
    env = { DATABASE_URL: db.url!, UPDRAFT_HOME: tempDir('pools-cli'), UPDRAFT_DAGS_FOLDER: tempDir('pools-cli-dags') };
  });
  after(async () => {
    await db?.close();
  });

  it('lists, sets, gets and deletes pools', async () => {
    const initial = await runCli(['pools', 'list', '--output', 'json'], env);
    expect(initial.code, initial.stderr).to.equal(0);
    expect(JSON.parse(initial.stdout)).to.deep.equal([
      {
        pool: 'default_pool',
        slots: 128,
        running_slots: 0,
        queued_slots: 0,
        open_slots: 128,
        description: 'Default pool',
        include_deferred: false,
      },
    ]);

    const set = await runCli(['pools', 'set', 'gpu_box', '2', '--description', 'the GPU machine'], env);
    expect(set.code, set.stderr).to.equal(0);
    expect(set.stdout).to.equal('Pool gpu_box set: 2 slot(s)\n');
    await requestSlots(db.db, {
      dag_id: 'd',
      run_id: 'r',
      task_id: 't',
      map_index: -1,
      try_number: 1,
      pool: 'gpu_box',
      slots: 2,
      priority_weight: 1,
      lease_seconds: 60,
      max_active_tasks: 16,
      max_active_tis_per_dag: null,
      hostname: 'h',
    });
    const get = await runCli(['pools', 'get', 'gpu_box'], env);
    expect(get.code, get.stderr).to.equal(0);
    const [header, rule, row] = get.stdout.trimEnd().split('\n');
    expect(header!.split('|').map((c) => c.trim())).to.deep.equal([
      'pool',
      'slots',
      'running_slots',
      'queued_slots',
      'open_slots',
      'description',
      'include_deferred',
    ]);
    expect(rule).to.match(/^=+/);
    expect(row!.split('|').map((c) => c.trim())).to.deep.equal([
      'gpu_box',
      '2',
      '2',
      '0',
      '0',
      'the GPU machine',
      'false',
    ]);

    expect((await runCli(['pools', 'set', 'wide', 'unlimited'], env)).stdout).to.equal(
      'Pool wide set: unlimited slot(s)\n',
    );
    expect((await runCli(['pools', 'set', 'wide', '--', '-1'], env)).stdout).to.equal(
      'Pool wide set: unlimited slot(s)\n',
    );
    const bad = await runCli(['pools', 'set', 'p', 'many'], env);
    expect([bad.code, bad.stderr]).to.deep.equal([
      2,
      'Error: slots must be an integer >= 0, or "unlimited" (-1), got "many"\n',
    ]);

    const refuse = await runCli(['pools', 'delete', 'default_pool'], env);
    expect([refuse.code, refuse.stderr]).to.deep.equal([1, 'Error: default_pool cannot be deleted\n']);
    const del = await runCli(['pools', 'delete', 'wide'], env);
    expect([del.code, del.stdout]).to.deep.equal([0, 'Pool wide deleted\n']);
    const missing = await runCli(['pools', 'get', 'wide'], env);
    expect([missing.code, missing.stderr]).to.deep.equal([
      1,
      'Error: Pool wide does not exist (see updraft pools list)\n',
    ]);
    const listed = JSON.parse((await runCli(['pools', 'list', '-o', 'json'], env)).stdout) as Array<{ pool: string }>;
    expect(listed.map((p) => p.pool)).to.deep.equal(['default_pool', 'gpu_box']);
  });
});
