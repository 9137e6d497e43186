/**
 * `updraft assets list | events <uri> | emit <uri> [--extra JSON]` as a user runs it (a separate
 * process) against a fresh Postgres database holding a synced DAG bag: the assets the DAGs declare,
 * an emitted event queued for the consuming DAG, the events listed back, and clear errors for an
 * unknown asset and a bad --extra.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { consumeReadyRun } from '../../db/asset-triggered-run.repository.js';
import { DagBag } from '../../worker/dag-bag.js';
import { syncDagBag } from '../../worker/dag-sync.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, tempDir } from '../helpers/servers.js';

const DAG = `import { Asset, dag } from 'updraft';
const orders = Asset('s3://lake/raw/orders/', { group: 'lake', extra: { owner: 'data' } });
export const load = dag({ dagId: 'load_orders' }, (d) => void d.task({ taskId: 'load', outlets: [orders] }, () => 1));
export const train = dag({ dagId: 'train', schedule: [orders, Asset('features')] }, (d) => void d.empty({ taskId: 'fit' }));
`;

describe('updraft assets (CLI)', function () {
  this.timeout(120_000);
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let env: NodeJS.ProcessEnv;
  let dags: string;

  before(async () => {
    db = await createTestDatabase('postgres');
    dags = tempDir('assets-cli-dags');
    fs.writeFileSync(path.join(dags, 'orders.ts'), DAG);
    const bag = await DagBag.load(dags);
    expect(bag.importErrors).to.deep.equal([]);
    await syncDagBag(db.db, bag);
    env = { DATABASE_URL: db.url!, UPDRAFT_HOME: tempDir('assets-cli'), UPDRAFT_DAGS_FOLDER: dags };
  });
  after(async () => {
    await db?.close();
    for (const dir of [dags, env?.['UPDRAFT_HOME']]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists the declared assets with their consumers and producers', async () => {
    const json = await runCli(['assets', 'list', '-o', 'json'], env);
    expect(json.code, json.stderr).to.equal(0);
    expect(JSON.parse(json.stdout)).to.deep.equal([
      {
        name: 'features',
        uri: 'features',
        group: 'asset',
        extra: {},
        scheduled_dags: ['train'],
        producing_tasks: [],
        events: 0,
        last_asset_event: null,
      },
      {
        name: 's3://lake/raw/orders/',
        uri: 's3://lake/raw/orders',
        group: 'lake',
        extra: { owner: 'data' },
        scheduled_dags: ['train'],
        producing_tasks: ['load_orders.load'],
        events: 0,
        last_asset_event: null,
      },
    ]);
    const table = await runCli(['assets', 'list'], env);
    expect(table.code, table.stderr).to.equal(0);
    const [header, , first, second] = table.stdout.trimEnd().split('\n');
    expect(header!.split('|').map((c) => c.trim())).to.deep.equal([
      'name',
      'uri',
      'group',
      'extra',
      'scheduled_dags',
      'producing_tasks',
      'events',
      'last_asset_event',
    ]);
    expect(first!.split('|').map((c) => c.trim())).to.deep.equal([
      'features',
      'features',
      'asset',
      '{}',
      'train',
      '',
      '0',
      '',
    ]);
    expect(
      second!
        .split('|')
        .map((c) => c.trim())
        .slice(0, 6),
    ).to.deep.equal([
      's3://lake/raw/orders/',
      's3://lake/raw/orders',
      'lake',
      '{"owner":"data"}',
      'train',
      'load_orders.load',
    ]);
    // `dags list` shows the asset condition as the DAG's schedule.
    const dagsList = await runCli(['dags', 'list'], env);
    expect(dagsList.code, dagsList.stderr).to.equal(0);
    expect(dagsList.stdout).to.contain('s3://lake/raw/orders & features');
  });

  it('emits an event (uri written any way Airflow sanitizes alike), lists it back, and shows the run it started', async () => {
    const emit = await runCli(['assets', 'emit', 'S3://lake/raw/orders//', '--extra', '{"rows": 1200}'], env);
    expect(emit.code, emit.stderr).to.equal(0);
    expect(emit.stdout).to.match(
      /^Asset event (\d+) recorded for 's3:\/\/lake\/raw\/orders' at \S+Z; queued for train\n$/,
    );
    const id = Number(/event (\d+)/.exec(emit.stdout)![1]);

    const dup = await runCli(['assets', 'emit', 'features', '--dedupe-key', 'k1', '-o', 'json'], env);
    expect(dup.code, dup.stderr).to.equal(0);
    expect(JSON.parse(dup.stdout)).to.deep.include({ queued_for: ['train'], duplicate: false });
    const again = await runCli(['assets', 'emit', 'features', '--dedupe-key', 'k1'], env);
    expect(again.stdout).to.contain('was already recorded with this dedupe key');

    // Both assets updated: train is due; claim its run as the worker would.
    const claimed = await consumeReadyRun(db.db, 'train', {
      type: 'all',
      conditions: [
        { type: 'asset', uri: 's3://lake/raw/orders', name: 'o' },
        { type: 'asset', uri: 'features', name: 'features' },
      ],
    });
    expect(claimed.status).to.equal('claimed');
    const runId = claimed.status === 'claimed' ? claimed.run.run_id : '';

    const events = await runCli(['assets', 'events', 's3://lake/raw/orders/', '-o', 'json'], env);
    expect(events.code, events.stderr).to.equal(0);
    const [event] = JSON.parse(events.stdout) as Array<Record<string, unknown>>;
    expect(event).to.deep.include({
      id,
      uri: 's3://lake/raw/orders',
      name: 's3://lake/raw/orders/',
      group: 'lake',
      extra: { rows: 1200 },
      source_kind: 'cli',
      source_dag_id: null,
      created_dagruns: [{ dag_id: 'train', run_id: runId }],
    });
    const table = await runCli(['assets', 'events', 's3://lake/raw/orders'], env);
    const row = table.stdout
      .trimEnd()
      .split('\n')[2]!
      .split('|')
      .map((c) => c.trim());
    expect([row[0], row[2], row[3], row[4], row[5]]).to.deep.equal([
      String(id),
      's3://lake/raw/orders',
      'cli',
      '{"rows":1200}',
      `train ${runId}`,
    ]);
  });

  it('refuses an unknown asset and a bad --extra with what to do', async () => {
    const unknown = await runCli(['assets', 'emit', 's3://lake/raw/order'], env);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.equal(
      "Error: asset 's3://lake/raw/order' is not known, so it cannot get an event. Assets come to exist when a DAG declares them: " +
        "as a task's outlets (outlets: [Asset('s3://lake/raw/order')]) or in a DAG's schedule (schedule: [Asset('s3://lake/raw/order')]), " +
        "once the worker has synced the DAGs folder. See the known assets with `updraft assets list`; similar known uris: 's3://lake/raw/orders'\n",
    );
    const events = await runCli(['assets', 'events', 'nope'], env);
    expect([events.code, events.stderr.split('.')[0]]).to.deep.equal([
      1,
      "Error: asset 'nope' is not known, so it cannot get an event",
    ]);
    const array = await runCli(['assets', 'emit', 'features', '--extra', '[1]'], env);
    expect([array.code, array.stderr]).to.deep.equal([
      2,
      `Error: --extra must be a JSON object like '{"rows": 1200}', got an array\n`,
    ]);
    const broken = await runCli(['assets', 'emit', 'features', '--extra', '{"token": "s3cr3t"'], env);
    expect(broken.code).to.equal(2);
    expect(broken.stderr).to.match(/^Error: --extra is not valid JSON: /);
    expect(broken.stderr).to.not.contain('s3cr3t');
    const limit = await runCli(['assets', 'events', 'features', '--limit', '0'], env);
    expect([limit.code, limit.stderr]).to.deep.equal([2, 'Error: --limit must be a positive integer, got "0"\n']);
  });
});
