/**
 * Asset watchers against real files and a real S3-compatible server (versitygw, started by
 * scripts/services/s3.sh; UPDRAFT_TEST_S3_*), with their lease and cursor in Postgres and PGlite:
 * new items fire once each, what was there first is the baseline, a restart between two items
 * neither misses nor repeats one (also when the second sorts before the first), a rewritten item
 * fires again, and two watcher services racing on one watcher never fire an item twice; when the
 * lease holder dies, the other takes over within the lease length.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { listAssetEvents, type AssetEventRecord } from '../../db/asset-event.repository.js';
import { listAssetWatchers } from '../../db/asset-watcher.repository.js';
import { normalizeAsset } from '../../engine/assets/asset.js';
import { assetWatcherSpec } from '../../engine/assets/watcher.js';
import { addConnection } from '../../secrets/store.js';
import { SecretCipher } from '../../secrets/encryption.js';
import type { AssetWatcherSpec } from '../../spec/asset-watcher.js';
import { AssetWatcherService, type PollOutcome } from '../../worker/asset-watchers/service.js';
import { globMatches } from '../../worker/asset-watchers/folder.js';
import { DIALECTS, openMigratedDatabase, type TestDatabase } from '../db/test-database.js';
import { declareDags } from '../db/asset-fixtures.js';
import { s3TestEnv } from '../helpers/s3.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function polled(o: PollOutcome): Extract<PollOutcome, { status: 'polled' }> {
  if (o.status !== 'polled') throw new Error(`expected a poll, got ${JSON.stringify(o)}`);
  return o;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Events of a watcher's asset, oldest first, as item → count. */
async function firedCounts(
  t: TestDatabase,
  uri: string,
  itemOf: (e: AssetEventRecord) => string,
): Promise<Map<string, number>> {
  const events = await listAssetEvents(t.db, { uri, order: 'asc', limit: 100_000 });
  const m = new Map<string, number>();
  for (const e of events) m.set(itemOf(e), (m.get(itemOf(e)) ?? 0) + 1);
  return m;
}

describe('asset watchers: glob matching', function () {
  it("follows Python glob rules: '*' within a directory, '**' across, dot-files only when named", function () {
    const m = (g: string, p: string) => globMatches(g.split('/'), p.split('/'));
    expect(m('*.csv', 'a.csv')).to.equal(true);
    expect(m('*.csv', 'sub/a.csv')).to.equal(false);
    expect(m('**/*.csv', 'a.csv')).to.equal(true);
    expect(m('**/*.csv', 'x/y/a.csv')).to.equal(true);
    expect(m('**/*.csv', 'x/.hidden/a.csv')).to.equal(false);
    expect(m('*.csv', '.a.csv')).to.equal(false);
    expect(m('.*.csv', '.a.csv')).to.equal(true);
    expect(m('day=[0-9][0-9]/*.parquet', 'day=07/part-0.parquet')).to.equal(true);
    expect(m('day=[!0]*/*', 'day=07/x')).to.equal(false);
    expect(m('**', 'any/depth/file')).to.equal(true);
  });
});

for (const dialect of DIALECTS) {
  describe(`${dialect}: folder watcher`, function () {
    this.timeout(300_000);
    let t: TestDatabase;
    let dir: string;
    const services: AssetWatcherService[] = [];
    /** Without leaseSeconds: polled only by the test (pollOnce); with it: on timers, racing. */
    const service = (watchers: AssetWatcherSpec[], opts: { owner?: string; leaseSeconds?: number } = {}) => {
      const s = new AssetWatcherService({ db: t.db, watchers, autoPoll: opts.leaseSeconds !== undefined, ...opts });
      services.push(s);
      return s;
    };
    beforeEach(async function () {
      t = await openMigratedDatabase(dialect);
      dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-watch-'));
    });
    afterEach(async function () {
      for (const s of services.splice(0)) await s.stop();
      await t?.cleanup();
      await rm(dir, { recursive: true, force: true });
    });

    const landing = (
      glob = '**/*.csv',
      extra: Partial<{ fireExisting: boolean; minAge: number; pollInterval: number }> = {},
    ) =>
      assetWatcherSpec(normalizeAsset({ uri: `file://${dir}/` }), {
        type: 'folder',
        glob,
        minAge: 0,
        pollInterval: 3600,
        ...extra,
      });

    it('fires once per new file with path, size and mtime; what was there first is the baseline', async function () {
      await writeFile(path.join(dir, 'old.csv'), 'a,b\n');
      const spec = landing();
      const s = service([spec]);
      await s.start();
      expect(polled(await s.pollOnce(spec.name))).to.include({ baseline: 1, seen: 1 });
      expect(polled(await s.pollOnce(spec.name)).emitted).to.deep.equal([]);
      await mkdir(path.join(dir, 'in', 'nested'), { recursive: true });
      await writeFile(path.join(dir, 'in', 'nested', 'new.csv'), 'x,y\n1,2\n');
      await writeFile(path.join(dir, 'in', 'skip.txt'), 'not a csv');
      await writeFile(path.join(dir, 'in', '.partial.csv'), 'hidden');
      const { emitted } = polled(await s.pollOnce(spec.name));
      expect(emitted).to.have.length(1);
      expect(emitted[0]!.extra).to.deep.include({ path: path.join(dir, 'in', 'nested', 'new.csv'), size: 8 });
      expect(new Date(emitted[0]!.extra['mtime'] as string).getTime()).to.be.closeTo(Date.now(), 60_000);
      expect(emitted[0]).to.include({ uri: `file://${dir}`, source_kind: 'watcher', source_watcher: spec.name });
      expect(polled(await s.pollOnce(spec.name)).emitted).to.deep.equal([]);
    });

    it('a restart between two files neither misses nor repeats one, even when the second sorts first', async function () {
      const spec = landing();
      const first = service([spec], { owner: 'worker-1' });
      await first.start();
      await first.pollOnce(spec.name);
      await writeFile(path.join(dir, 'm.csv'), '1');
      expect(polled(await first.pollOnce(spec.name)).emitted.map((e) => e.extra['path'])).to.deep.equal([
        path.join(dir, 'm.csv'),
      ]);
      await first.stop();
      // While no watcher runs: one file after and one before 'm.csv' in key order.
      await writeFile(path.join(dir, 'z.csv'), '2');
      await writeFile(path.join(dir, 'a.csv'), '3');
      const second = service([spec], { owner: 'worker-2' });
      await second.start();
      expect(
        polled(await second.pollOnce(spec.name)).emitted.map((e) => path.basename(e.extra['path'] as string)),
      ).to.deep.equal(['a.csv', 'z.csv']);
      // Rewritten: a new version, a new event. Deleted: marked missing; written again: a new version fires.
      await writeFile(path.join(dir, 'm.csv'), '1, now longer');
      expect(
        polled(await second.pollOnce(spec.name)).emitted.map((e) => path.basename(e.extra['path'] as string)),
      ).to.deep.equal(['m.csv']);
      await rm(path.join(dir, 'z.csv'));
      expect(polled(await second.pollOnce(spec.name)).missing).to.equal(1);
      await writeFile(path.join(dir, 'z.csv'), '2');
      await utimes(path.join(dir, 'z.csv'), new Date(0), new Date(0));
      expect(
        polled(await second.pollOnce(spec.name)).emitted.map((e) => path.basename(e.extra['path'] as string)),
      ).to.deep.equal(['z.csv']);
      const counts = await firedCounts(t, spec.asset.uri, (e) => path.basename(e.extra['path'] as string));
      expect(Object.fromEntries(counts)).to.deep.equal({ 'm.csv': 2, 'a.csv': 1, 'z.csv': 2 });
    });

    it('waits until a file is min_age old, and fires existing files when fire_existing', async function () {
      await writeFile(path.join(dir, 'there.csv'), 'x');
      const spec = landing('*.csv', { fireExisting: true, minAge: 2 });
      await utimes(path.join(dir, 'there.csv'), new Date(Date.now() - 10_000), new Date(Date.now() - 10_000));
      const s = service([spec]);
      await s.start();
      expect(polled(await s.pollOnce(spec.name)).emitted).to.have.length(1);
      await writeFile(path.join(dir, 'fresh.csv'), 'still being written');
      expect(polled(await s.pollOnce(spec.name)).emitted).to.deep.equal([]);
      await sleep(2100);
      expect(
        polled(await s.pollOnce(spec.name)).emitted.map((e) => path.basename(e.extra['path'] as string)),
      ).to.deep.equal(['fresh.csv']);
    });

    it('two services racing on one watcher fire each file once; the survivor takes over a dead holder', async function () {
      const spec = landing('*.csv', { pollInterval: 0.1 });
      const a = service([spec], { owner: 'worker-a', leaseSeconds: 2 });
      const b = service([spec], { owner: 'worker-b', leaseSeconds: 2 });
      await Promise.all([a.start(), b.start()]);
      await sleep(300);
      for (let i = 0; i < 30; i++) {
        await writeFile(path.join(dir, `f${String(i).padStart(2, '0')}.csv`), `row ${i}\n`);
        if (i % 5 === 0) await sleep(50);
      }
      const counts = await until('30 files fired', async () => {
        const c = await firedCounts(t, spec.asset.uri, (e) => path.basename(e.extra['path'] as string));
        return c.size === 30 ? c : undefined;
      });
      await sleep(500);
      expect([...counts.values()].every((n) => n === 1)).to.equal(true);
      const holders = [a, b].filter((s) => s.status()[0]!.holdsLease);
      expect(holders).to.have.length(1);
      // The holder dies without giving the lease up; the other takes over once it expires.
      const [dead] = holders;
      const survivor = dead === a ? b : a;
      await dead!.stop({ releaseLeases: false });
      const diedAt = Date.now();
      for (let i = 30; i < 40; i++) await writeFile(path.join(dir, `f${i}.csv`), `row ${i}\n`);
      const after = await until('40 files fired', async () => {
        const c = await firedCounts(t, spec.asset.uri, (e) => path.basename(e.extra['path'] as string));
        return c.size === 40 ? c : undefined;
      });
      expect(Date.now() - diedAt).to.be.lessThan(10_000);
      await sleep(500);
      expect(
        [...(await firedCounts(t, spec.asset.uri, (e) => path.basename(e.extra['path'] as string))).values()].every(
          (n) => n === 1,
        ),
      ).to.equal(true);
      expect(after.size).to.equal(40);
      expect(survivor.status()[0]!.holdsLease).to.equal(true);
      const [row] = await listAssetWatchers(t.db);
      expect(row).to.include({
        name: spec.name,
        owner: survivor.owner,
        events_emitted: 40,
        seen: 40,
        last_error: null,
      });
    });
  });

  describe(`${dialect}: S3 prefix watcher`, function () {
    this.timeout(300_000);
    let t: TestDatabase;
    let s3: S3Client;
    let env: ReturnType<typeof s3TestEnv>;
    let prefix: string;
    const services: AssetWatcherService[] = [];
    before(function () {
      env = s3TestEnv();
      s3 = new S3Client({
        endpoint: env.endpoint,
        region: env.region,
        forcePathStyle: true,
        credentials: { accessKeyId: env.accessKeyId, secretAccessKey: env.secretAccessKey },
      });
    });
    after(function () {
      s3?.destroy();
    });
    beforeEach(async function () {
      t = await openMigratedDatabase(dialect);
      prefix = `watch-${randomBytes(4).toString('hex')}/raw`;
      // The asset is declared by a DAG that is scheduled on it, so its events queue for that DAG.
      await declareDags(t.db, [
        { dag_id: 'train', condition: { type: 'asset', uri: `s3://${env.bucket}/${prefix}`, name: 'raw' } },
      ]);
    });
    afterEach(async function () {
      for (const s of services.splice(0)) await s.stop();
      await t?.cleanup();
    });
    const put = (key: string, body: string) =>
      s3.send(new PutObjectCommand({ Bucket: env.bucket, Key: `${prefix}/${key}`, Body: body }));
    const watcher = (pollInterval = 3600) =>
      assetWatcherSpec(normalizeAsset({ uri: `s3://${env.bucket}/${prefix}/`, name: 'raw' }), {
        type: 's3_prefix',
        endpoint: env.endpoint,
        region: env.region,
        pollInterval,
        awsConnId: 'lake',
      });
    const cipher = SecretCipher.fromKeyList(randomBytes(32).toString('base64'));
    const service = (spec: AssetWatcherSpec, owner: string, leaseSeconds?: number) => {
      const s = new AssetWatcherService({
        db: t.db,
        watchers: [spec],
        owner,
        cipher,
        autoPoll: leaseSeconds !== undefined,
        ...(leaseSeconds ? { leaseSeconds } : {}),
      });
      services.push(s);
      return s;
    };
    const keyOf = (e: AssetEventRecord) => (e.extra['key'] as string).slice(prefix.length + 1);

    beforeEach(async function () {
      // Credentials come from an Airflow-style aws connection, encrypted at rest.
      await addConnection(
        t.db,
        {
          conn_id: 'lake',
          conn_type: 'aws',
          login: env.accessKeyId,
          password: env.secretAccessKey,
          extra: { region_name: env.region },
        },
        { cipher },
      );
    });

    it('fires once per new object with key, etag and size, queued for the DAG scheduled on the asset', async function () {
      await put('before.json', '{}');
      const spec = watcher();
      const s = service(spec, 'worker-1');
      await s.start();
      expect(polled(await s.pollOnce(spec.name))).to.include({ baseline: 1, seen: 1 });
      await put('part-1.json', '{"rows": 3}');
      await put('sub/folder/part-2.json', '{"rows": 4}');
      const { emitted } = polled(await s.pollOnce(spec.name));
      expect(emitted.map(keyOf)).to.deep.equal(['part-1.json', 'sub/folder/part-2.json']);
      expect(emitted[0]!.extra).to.deep.include({ bucket: env.bucket, key: `${prefix}/part-1.json`, size: 11 });
      expect(emitted[0]!.extra['etag']).to.match(/^[0-9a-f]{32}$/);
      const queued = await t.db
        .selectFrom('asset_dag_run_queue')
        .select('asset_event_id')
        .where('target_dag_id', '=', 'train')
        .execute();
      expect(queued.map((q) => q.asset_event_id).sort()).to.deep.equal(emitted.map((e) => e.id).sort());
      expect(polled(await s.pollOnce(spec.name)).emitted).to.deep.equal([]);
    });

    it('a restart between two objects neither misses nor repeats one; an overwrite fires again', async function () {
      const spec = watcher();
      const first = service(spec, 'worker-1');
      await first.start();
      await first.pollOnce(spec.name);
      await put('2026-12-06.json', 'a');
      expect(polled(await first.pollOnce(spec.name)).emitted.map(keyOf)).to.deep.equal(['2026-12-06.json']);
      await first.stop();
      await put('2026-12-07.json', 'b');
      await put('2026-12-01-late.json', 'c'); // arrives late, sorts first
      const second = service(spec, 'worker-2');
      await second.start();
      expect(polled(await second.pollOnce(spec.name)).emitted.map(keyOf)).to.deep.equal([
        '2026-12-01-late.json',
        '2026-12-07.json',
      ]);
      await put('2026-12-06.json', 'a, corrected');
      expect(polled(await second.pollOnce(spec.name)).emitted.map(keyOf)).to.deep.equal(['2026-12-06.json']);
      const counts = await firedCounts(t, spec.asset.uri, keyOf);
      expect(Object.fromEntries(counts)).to.deep.equal({
        '2026-12-06.json': 2,
        '2026-12-07.json': 1,
        '2026-12-01-late.json': 1,
      });
    });

    it('two services racing fire 40 concurrently written objects exactly once', async function () {
      const spec = watcher(0.1);
      const a = service(spec, 'worker-a', 2);
      const b = service(spec, 'worker-b', 2);
      await Promise.all([a.start(), b.start()]);
      await sleep(300);
      await Promise.all(Array.from({ length: 40 }, (_, i) => put(`obj-${(i * 37) % 40}.bin`, `payload ${i}`)));
      const counts = await until('40 objects fired', async () => {
        const c = await firedCounts(t, spec.asset.uri, keyOf);
        return c.size === 40 ? c : undefined;
      });
      await sleep(500);
      expect([...counts.values()].every((n) => n === 1)).to.equal(true);
      expect([a, b].filter((s) => s.status()[0]!.holdsLease)).to.have.length(1);
    });

    it('a missing connection is a clear poll error, recorded on the watcher', async function () {
      const spec = { ...watcher(), name: 'no-conn', aws_conn_id: 'nope' };
      const s = service(spec, 'worker-1');
      await s.start();
      const out = await s.pollOnce(spec.name);
      expect(out).to.deep.equal({
        status: 'error',
        error:
          "watcher 'no-conn': connection 'nope' does not exist; add it with `updraft connections add nope --conn-type aws --conn-login <access key id> --conn-password <secret>`",
      });
      expect((await listAssetWatchers(t.db))[0]!.last_error).to.contain("connection 'nope' does not exist");
    });
  });
}
