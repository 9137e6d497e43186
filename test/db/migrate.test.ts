import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { MigrationError, appliedMigrations, migrateDown, migrateToLatest } from '../../db/migrate.js';
import { upsertDag, getDag } from '../../db/dag.repository.js';
import { DIALECTS, openEmptyDatabase, rejectionOf, type TestDatabase } from './test-database.js';

const CORE = '2026_11_23_000001_engine_core';
/** Every migration in order; a new migration is appended here. */
const ALL = [
  CORE,
  '2026_11_23_000002_variables_connections',
  '2026_11_23_000003_task_instance_gpus',
  '2026_11_23_000004_pools',
  '2026_12_06_000005_ml_lineage',
  '2026_12_06_000006_ml_registry',
  '2026_12_06_000007_dag_code',
  '2026_12_06_000008_model_reproducibility',
  '2026_12_06_000009_schedules_runtime',
  '2026_12_06_000010_assets',
  '2026_12_07_000011_dag_run_triggered_by',
];
const TABLES = [
  'artifact',
  'asset',
  'asset_dag_run_queue',
  'asset_event',
  'asset_triggered_run',
  'asset_watcher',
  'asset_watcher_seen',
  'backfill',
  'connection',
  'dag',
  'dag_code',
  'dag_run',
  'dag_schedule_asset_reference',
  'dag_version',
  'dagrun_asset_event',
  'execution',
  'import_error',
  'lineage_event',
  'metric',
  'model_alias',
  'model_evaluation',
  'model_promotion',
  'model_version',
  'registered_model',
  'slot_pool',
  'task_instance',
  'task_instance_history',
  'task_log',
  'task_outlet_asset_reference',
  'task_reschedule',
  'task_slot_grant',
  'variable',
  'xcom',
];

async function userTables(t: TestDatabase): Promise<string[]> {
  const tables = await t.db.introspection.getTables();
  return tables.map((x) => x.name).sort();
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: migrations`, function () {
    let t: TestDatabase;
    let brokenFolder: string;

    before(async function () {
      t = await openEmptyDatabase(dialect);
      brokenFolder = await mkdtemp(path.join(os.tmpdir(), 'updraft-migrations-'));
    });
    after(async function () {
      await t?.cleanup();
      if (brokenFolder) await rm(brokenFolder, { recursive: true, force: true });
    });

    it('migrates an empty database to the latest schema', async function () {
      expect(await migrateToLatest(t.db)).to.deep.equal(ALL);
      expect(await userTables(t)).to.deep.equal(TABLES);
      expect(await appliedMigrations(t.db)).to.deep.equal(ALL);
    });

    it('is a no-op when already at the latest migration', async function () {
      expect(await migrateToLatest(t.db)).to.deep.equal([]);
    });

    it('migrates down (dropping every table) and up again to a working schema', async function () {
      await upsertDag(t.db, {
        dag_id: 'd',
        fileloc: 'dags/d.ts',
        owners: 'a',
        description: null,
        tags: [],
        schedule: null,
      });
      for (const name of [...ALL].reverse()) expect(await migrateDown(t.db)).to.deep.equal([name]);
      expect(await userTables(t)).to.deep.equal([]);
      expect(await appliedMigrations(t.db)).to.deep.equal([]);
      expect(await migrateDown(t.db)).to.deep.equal([]);

      expect(await migrateToLatest(t.db)).to.deep.equal(ALL);
      expect(await userTables(t)).to.deep.equal(TABLES);
      expect(await getDag(t.db, 'd')).to.equal(undefined);
      await upsertDag(t.db, {
        dag_id: 'd',
        fileloc: 'dags/d.ts',
        owners: 'a',
        description: null,
        tags: [],
        schedule: null,
      });
      expect((await getDag(t.db, 'd'))?.fileloc).to.equal('dags/d.ts');
      expect(await migrateDown(t.db, { all: true })).to.deep.equal([...ALL].reverse());
      expect(await migrateToLatest(t.db)).to.deep.equal(ALL);
    });

    it('names the failing migration in a MigrationError and rolls the whole run back', async function () {
      // Another folder's migrations cannot run on top of ours (Kysely rejects missing ones).
      await migrateDown(t.db, { all: true });
      const folder = path.join(brokenFolder, 'failing');
      await mkdir(folder);
      await writeFile(
        path.join(folder, '0001_ok.js'),
        `exports.up = async (db) => { await db.schema.createTable('probe_ok').addColumn('id', 'integer').execute(); };\n` +
          `exports.down = async (db) => { await db.schema.dropTable('probe_ok').execute(); };\n`,
      );
      await writeFile(
        path.join(folder, '0002_broken.js'),
        `exports.up = async (db) => { await db.schema.createTable('probe_ok').addColumn('id', 'integer').execute(); };\n`,
      );
      const err = await rejectionOf(migrateToLatest(t.db, { migrationFolder: folder }));
      expect(err).to.be.instanceOf(MigrationError);
      expect(err.message).to.equal('migration "0002_broken" failed (up): relation "probe_ok" already exists');
      expect((err as MigrationError).migrationName).to.equal('0002_broken');
      expect((err as MigrationError).direction).to.equal('up');
      // Postgres runs migrations in one transaction: 0001 is undone with 0002.
      expect(await userTables(t)).to.deep.equal([]);
    });

    it('rejects a migration module without an up function, naming the file', async function () {
      const folder = path.join(brokenFolder, 'no-up');
      await mkdir(folder);
      await writeFile(path.join(folder, '0001_empty.js'), `exports.down = async () => {};\n`);
      const err = await rejectionOf(migrateToLatest(t.db, { migrationFolder: folder }));
      expect(err).to.be.instanceOf(MigrationError);
      expect(err.message).to.equal(
        'migration "0001_empty" failed (up): 0001_empty.js must export an async function up(db)',
      );
    });

    it('reports a failing down migration by name', async function () {
      const folder = path.join(brokenFolder, 'bad-down');
      await mkdir(folder);
      await writeFile(
        path.join(folder, '0001_bad_down.js'),
        `exports.up = async (db) => { await db.schema.createTable('probe_down').addColumn('id', 'integer').execute(); };\n` +
          `exports.down = async (db) => { await db.schema.dropTable('no_such_table').execute(); };\n`,
      );
      expect(await migrateToLatest(t.db, { migrationFolder: folder })).to.deep.equal(['0001_bad_down']);
      const err = await rejectionOf(migrateDown(t.db, { migrationFolder: folder }));
      expect(err).to.be.instanceOf(MigrationError);
      expect(err.message).to.equal('migration "0001_bad_down" failed (down): table "no_such_table" does not exist');
    });
  });
}
