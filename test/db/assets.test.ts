/**
 * Assets on both dialects: declaring (the DAG sync), emitting (task outlets, API/CLI, dedupe), and
 * consuming (conditions, collapse, triggering_asset_events, claims and their re-drive).
 */
import { expect } from 'chai';
import { sql } from 'kysely';
import { listAssets, syncAssetReferences } from '../../db/asset.repository.js';
import {
  AssetEventInputError,
  UnknownAssetError,
  emitAssetEvent,
  emitTaskOutletEvents,
  listAssetEvents,
} from '../../db/asset-event.repository.js';
import {
  AssetConsumeError,
  claimedAssetTriggeredRuns,
  takeStaleClaims,
  consumeReadyRun,
  getAssetTriggeredRun,
  markAssetTriggeredRunStarted,
  queuedAssetEvents,
  type AssetTriggeredRun,
} from '../../db/asset-triggered-run.repository.js';
import { driveAssetTriggeredRuns } from '../../client/asset-runs.js';
import { AssetClient, AssetClientConfigError, assetEventRequestFromBody } from '../../client/assets.js';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { all, any, asset, declareDags } from './asset-fixtures.js';
import { DIALECTS, openMigratedDatabase, rejectionOf, type TestDatabase } from './test-database.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const A = 's3://lake/a';
const B = 's3://lake/b';
const C = 's3://lake/c';

function claimed(r: Awaited<ReturnType<typeof consumeReadyRun>>): AssetTriggeredRun {
  if (r.status !== 'claimed') throw new Error(`expected a claimed run, got ${JSON.stringify(r)}`);
  return r.run;
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: assets`, function () {
    let t: TestDatabase;
    before(async function () {
      t = await openMigratedDatabase(dialect);
      await declareDags(t.db, [
        { dag_id: 'producer', outlets: { extract: [A, `${B}/`], publish: [C] } },
        { dag_id: 'both', condition: all(asset(A), asset(B)) },
        { dag_id: 'either', condition: any(asset(A), asset(C)) },
        { dag_id: 'nested', condition: all(asset(A), any(asset(B), asset(C))) },
      ]);
    });
    after(async function () {
      await t?.cleanup();
    });

    it('records declared assets with who consumes and produces them (uris sanitized: b/ is b)', async function () {
      const assets = await listAssets(t.db);
      expect(assets.map((a) => [a.uri, a.consuming_dags, a.producing_tasks])).to.deep.equal([
        [A, ['both', 'either', 'nested'], ['producer.extract']],
        [B, ['both', 'nested'], ['producer.extract']],
        [C, ['either', 'nested'], ['producer.publish']],
      ]);
    });

    it('an emit for an unknown asset names the uri, how assets come to exist, and similar uris', async function () {
      const err = await rejectionOf(emitAssetEvent(t.db, { uri: 's3://lake/d/', source: { kind: 'cli' } }));
      expect(err).to.be.instanceOf(UnknownAssetError);
      expect(err.message).to.contain("asset 's3://lake/d' is not known");
      expect(err.message).to.contain("as a task's outlets (outlets: [Asset('s3://lake/d')])");
      expect(err.message).to.contain("in a DAG's schedule (schedule: [Asset('s3://lake/d')])");
      expect(err.message).to.contain('updraft assets list');
      expect(err.message).to.contain(`similar known uris: '${A}', '${B}', '${C}'`);
      expect(
        await rejectionOf(emitAssetEvent(t.db, { uri: A, extra: [1] as never, source: { kind: 'api' } })),
      ).to.be.instanceOf(AssetEventInputError);
      expect(
        (
          await rejectionOf(
            emitAssetEvent(t.db, {
              uri: A,
              source: { kind: 'task', dag_id: 'd', run_id: 'r', task_id: '', map_index: -1 },
            }),
          )
        ).message,
      ).to.contain('source.task_id');
    });

    it('AND waits for every asset; updates collapse into one run with all their events', async function () {
      const e1 = await emitAssetEvent(t.db, { uri: A, extra: { rows: 1 }, source: { kind: 'api' } });
      expect(e1.queued_for).to.deep.equal(['both', 'either', 'nested']);
      await emitAssetEvent(t.db, { uri: A, extra: { rows: 2 }, source: { kind: 'cli' } });
      expect(await consumeReadyRun(t.db, 'both', all(asset(A), asset(B)))).to.deep.equal({
        status: 'not_ready',
        updated: [A],
      });
      const e3 = await emitAssetEvent(t.db, { uri: B, source: { kind: 'api' } });
      const run = claimed(await consumeReadyRun(t.db, 'both', all(asset(A), asset(B))));
      expect(run.state).to.equal('claimed');
      expect(run.event_count).to.equal(3);
      expect(run.run_id).to.match(/^asset_triggered__\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00_\d{8}$/);
      expect(Object.keys(run.triggering_asset_events)).to.deep.equal([A, B]);
      expect(run.triggering_asset_events[A]!.map((e) => e.extra)).to.deep.equal([{ rows: 1 }, { rows: 2 }]);
      expect(run.triggering_asset_events[B]!.map((e) => e.id)).to.deep.equal([e3.event.id]);
      expect(run.run_after.getTime()).to.equal(new Date(e3.event.timestamp).getTime());
      // Consumed: nothing queued for this DAG, so the next decision waits for new events.
      expect(await consumeReadyRun(t.db, 'both', all(asset(A), asset(B)))).to.deep.equal({
        status: 'not_ready',
        updated: [],
      });
      expect((await queuedAssetEvents(t.db, 'both')).length).to.equal(0);
      // Other consumers still hold their own copies of the same events.
      expect(await queuedAssetEvents(t.db, 'either')).to.have.length(1);
      expect(claimed(await consumeReadyRun(t.db, 'either', any(asset(A), asset(C)))).event_count).to.equal(2);
      expect(
        claimed(await consumeReadyRun(t.db, 'nested', all(asset(A), any(asset(B), asset(C))))).event_count,
      ).to.equal(3);
    });

    it('OR fires on either asset; nested conditions follow a & (b | c)', async function () {
      await emitAssetEvent(t.db, { uri: C, source: { kind: 'api' } });
      expect(
        claimed(await consumeReadyRun(t.db, 'either', any(asset(A), asset(C)))).triggering_asset_events,
      ).to.have.keys([C]);
      expect(await consumeReadyRun(t.db, 'nested', all(asset(A), any(asset(B), asset(C))))).to.deep.equal({
        status: 'not_ready',
        updated: [C],
      });
      await emitAssetEvent(t.db, { uri: A, source: { kind: 'api' } });
      // Keys in the order of their first event.
      expect(
        Object.keys(
          claimed(await consumeReadyRun(t.db, 'nested', all(asset(A), any(asset(B), asset(C)))))
            .triggering_asset_events,
        ),
      ).to.deep.equal([C, A]);
      // 'both' got A too, but still waits for B.
      expect(await consumeReadyRun(t.db, 'both', all(asset(A), asset(B)))).to.deep.equal({
        status: 'not_ready',
        updated: [A],
      });
    });

    it("a task's outlets emit one event per asset, once per try; the source is the task", async function () {
      const emit = {
        dag_id: 'producer',
        run_id: 'manual__1',
        task_id: 'extract',
        map_index: -1,
        try_number: 1,
        outlets: [
          { uri: A, name: A },
          { uri: `${B}/`, name: B },
        ],
        extras: { [A]: { rows: 7 } },
      };
      const first = await emitTaskOutletEvents(t.db, emit);
      expect(first.map((e) => [e.event.uri, e.duplicate, e.event.extra])).to.deep.equal([
        [A, false, { rows: 7 }],
        [B, false, {}],
      ]);
      expect(first[0]!.event).to.include({
        source_kind: 'task',
        source_dag_id: 'producer',
        source_run_id: 'manual__1',
        source_task_id: 'extract',
        source_map_index: -1,
      });
      const again = await emitTaskOutletEvents(t.db, emit);
      expect(again.map((e) => [e.event.id, e.duplicate, e.queued_for])).to.deep.equal(
        first.map((e) => [e.event.id, true, []]),
      );
      const retry = await emitTaskOutletEvents(t.db, { ...emit, try_number: 2 });
      expect(retry.every((e) => !e.duplicate)).to.equal(true);
      // An outlet no sync has seen yet is declared by the DAG, so it is recorded.
      const fresh = await emitTaskOutletEvents(t.db, {
        ...emit,
        outlets: [{ uri: 's3://lake/new-output', name: 'new' }],
      });
      expect(fresh[0]!.event).to.include({ uri: 's3://lake/new-output', name: 'new' });
      const events = await listAssetEvents(t.db, { uri: A, limit: 3 });
      expect(events.map((e) => e.source_kind)).to.deep.equal(['task', 'task', 'api']);
      expect(await rejectionOf(listAssetEvents(t.db, { uri: 's3://nope/x' }))).to.be.instanceOf(UnknownAssetError);
    });

    it('an API dedupe key records one event however often the request is retried', async function () {
      const a = await emitAssetEvent(t.db, { uri: C, source: { kind: 'api' }, dedupeKey: 'webhook-123' });
      const b = await emitAssetEvent(t.db, { uri: C, source: { kind: 'api' }, dedupeKey: 'webhook-123' });
      expect([a.duplicate, b.duplicate, b.event.id]).to.deep.equal([false, true, a.event.id]);
    });

    it('a claim stays claimed until marked started, and is handed out again for a re-drive', async function () {
      await emitAssetEvent(t.db, { uri: A, source: { kind: 'api' } });
      const run = claimed(await consumeReadyRun(t.db, 'either', any(asset(A), asset(C))));
      expect((await claimedAssetTriggeredRuns(t.db, { dagId: 'either' })).map((r) => r.run_id)).to.include(run.run_id);
      expect(
        (await claimedAssetTriggeredRuns(t.db, { dagId: 'either', olderThanSeconds: 3600 })).map((r) => r.run_id),
      ).to.not.include(run.run_id);
      const again = (await claimedAssetTriggeredRuns(t.db, { dagId: 'either' })).find((r) => r.run_id === run.run_id)!;
      expect(again.triggering_asset_events).to.deep.equal(run.triggering_asset_events);
      // Re-drivers racing take a stale claim once between them; it is stale again only later.
      await sleep(1100);
      const takes = await Promise.all([1, 2, 3].map(() => takeStaleClaims(t.db, { olderThanSeconds: 1 })));
      expect(takes.flat().filter((r) => r.run_id === run.run_id)).to.have.length(1);
      expect((await takeStaleClaims(t.db, { olderThanSeconds: 1 })).map((r) => r.run_id)).to.not.include(run.run_id);
      expect(takes.flat().find((r) => r.run_id === run.run_id)!.triggering_asset_events).to.deep.equal(
        run.triggering_asset_events,
      );
      expect(await markAssetTriggeredRunStarted(t.db, 'either', run.run_id)).to.equal(true);
      expect(await markAssetTriggeredRunStarted(t.db, 'either', run.run_id)).to.equal(false);
      expect((await getAssetTriggeredRun(t.db, 'either', run.run_id))!.state).to.equal('started');
    });

    it('driveAssetTriggeredRuns re-drives stale claims, then claims and starts what is due', async function () {
      // Leave every DAG without old claims, then make one claim the "crashed consumer" left.
      for (const r of await claimedAssetTriggeredRuns(t.db))
        await markAssetTriggeredRunStarted(t.db, r.dag_id, r.run_id);
      await emitAssetEvent(t.db, { uri: C, source: { kind: 'api' } });
      const orphan = claimed(await consumeReadyRun(t.db, 'either', any(asset(A), asset(C))));
      await emitAssetEvent(t.db, { uri: C, source: { kind: 'api' } });
      const startedIds: string[] = [];
      const consumers = [
        { dagId: 'either', condition: any(asset(A), asset(C)) },
        { dagId: 'both', condition: all(asset(A), asset(B)) },
      ];
      const res = await driveAssetTriggeredRuns(
        t.db,
        consumers,
        async (r) => void startedIds.push(`${r.dag_id}/${r.run_id}`),
        { redriveAfterSeconds: 0 },
      );
      expect(res.redriven).to.equal(1);
      expect(startedIds[0]).to.equal(`either/${orphan.run_id}`);
      // Then the new claim for 'either' ('both' is due too: the outlet test updated A and B).
      expect(startedIds.slice(1).map((s) => s.split('/')[0])).to.deep.equal(['either', 'both']);
      expect(res.started.map((r) => r.run_id)).to.deep.equal(startedIds.map((s) => s.split('/')[1]));
      expect(await claimedAssetTriggeredRuns(t.db)).to.deep.equal([]);
      // A failing start leaves the claim for the next pass, and does not stop the pass.
      await emitAssetEvent(t.db, { uri: C, source: { kind: 'api' } });
      const failed = await driveAssetTriggeredRuns(t.db, consumers, async () =>
        Promise.reject(new Error('temporal unreachable')),
      );
      expect(failed.errors.map((e) => [e.dag_id, e.error, e.permanent])).to.deep.equal([
        ['either', 'temporal unreachable', false],
      ]);
      expect(failed.started).to.deep.equal([]);
      const [left] = await claimedAssetTriggeredRuns(t.db);
      expect(left?.dag_id).to.equal('either');
      // A permanent error fails the claim for good: it is not re-driven.
      const permanent = await driveAssetTriggeredRuns(
        t.db,
        consumers,
        async () => Promise.reject(new Error('params rejected')),
        {
          redriveAfterSeconds: 0,
          isPermanent: () => true,
        },
      );
      expect(permanent.errors).to.deep.equal([
        { dag_id: 'either', run_id: left!.run_id, error: 'params rejected', permanent: true },
      ]);
      expect(await claimedAssetTriggeredRuns(t.db)).to.deep.equal([]);
      expect(await getAssetTriggeredRun(t.db, 'either', left!.run_id)).to.include({
        state: 'failed',
        last_error: 'params rejected',
      });
    });

    it('AssetClient emits through the same path; the webhook body maps to the same request', async function () {
      const client = await AssetClient.connect({ db: t.db });
      const e = await client.emit(`${C}/`, { extra: { rows: 5 }, dedupeKey: 'client-1', source: 'cli' });
      expect(e.event).to.include({ uri: C, source_kind: 'cli' });
      expect((await client.emit(C, { dedupeKey: 'client-1' })).duplicate).to.equal(true);
      expect((await client.events(C, { limit: 1 }))[0]!.id).to.equal(e.event.id);
      expect((await client.assets()).map((a) => a.uri)).to.include(C);
      await client.close();
      const missing = await rejectionOf(AssetClient.connect({}, {}));
      expect(missing).to.be.instanceOf(AssetClientConfigError);
      expect(missing.message).to.contain('set DATABASE_URL');
      expect(assetEventRequestFromBody({ uri: C, extra: { a: 1 } }, 'key-9')).to.deep.equal({
        uri: C,
        extra: { a: 1 },
        source: { kind: 'api' },
        dedupeKey: 'key-9',
      });
      expect(() => assetEventRequestFromBody({ uri: C, asset_id: 3 })).to.throw('unknown field(s) "asset_id"');
      expect(() => assetEventRequestFromBody([])).to.throw('request body must be a JSON object');
    });

    if (dialect === 'postgres') {
      it('any program can emit with emitAsset and DATABASE_URL (a separate node process)', async function () {
        const url = (t.location as { url: string }).url;
        // As a program imports it: the package's 'updraft/assets' entry point (resolved from the package root).
        const script =
          `require('updraft/assets').emitAsset('${A}', { extra: { from: 'loader' } })` +
          `.then((e) => console.log(JSON.stringify(e)), (err) => { console.error(err.message); process.exit(3); })`;
        const root = path.resolve(__dirname, '../../..');
        const out = JSON.parse(
          execFileSync(process.execPath, ['-e', script], {
            cwd: root,
            env: { ...process.env, DATABASE_URL: url },
            encoding: 'utf8',
          }),
        ) as { event: { id: number; source_kind: string }; queued_for: string[] };
        expect(out.event.source_kind).to.equal('api');
        expect(out.queued_for).to.include('either');
        expect((await listAssetEvents(t.db, { uri: A, limit: 1 }))[0]).to.deep.include({
          id: out.event.id,
          extra: { from: 'loader' },
        });
        let failure = '';
        try {
          execFileSync(process.execPath, ['-e', script.replace(A, 's3://lake/unknown')], {
            cwd: root,
            env: { ...process.env, DATABASE_URL: url },
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'pipe'],
          });
        } catch (err) {
          failure = String((err as { stderr?: string }).stderr);
        }
        expect(failure).to.contain("asset 's3://lake/unknown' is not known");
      });
    }

    it('rejects a call inside a transaction and a condition that names nothing', async function () {
      const inside = await rejectionOf(t.db.transaction().execute((trx) => consumeReadyRun(trx, 'both', asset(A))));
      expect(inside).to.be.instanceOf(AssetConsumeError);
      expect((await rejectionOf(consumeReadyRun(t.db, 'both', { type: 'all', conditions: [] }))).message).to.contain(
        'names no asset',
      );
    });

    if (dialect === 'postgres') {
      it("is 'busy' while another consumer decides for the same DAG, and only for that DAG", async function () {
        await emitAssetEvent(t.db, { uri: C, source: { kind: 'api' } });
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        let locked!: () => void;
        const isLocked = new Promise<void>((r) => (locked = r));
        const holder = t.db.transaction().execute(async (trx) => {
          await sql`select pg_advisory_xact_lock(hashtextextended(${'updraft.asset_consume:either'}, 0))`.execute(trx);
          locked();
          await held;
        });
        await isLocked;
        expect(await consumeReadyRun(t.db, 'either', any(asset(A), asset(C)))).to.deep.equal({ status: 'busy' });
        expect((await consumeReadyRun(t.db, 'nested', all(asset(A), any(asset(B), asset(C))))).status).to.not.equal(
          'busy',
        );
        release();
        await holder;
        expect((await consumeReadyRun(t.db, 'either', any(asset(A), asset(C)))).status).to.equal('claimed');
      });
    }

    it('a sync drops queued events of an asset a DAG no longer waits for, and keeps those of a DAG that left', async function () {
      await emitAssetEvent(t.db, { uri: A, source: { kind: 'api' } });
      await emitAssetEvent(t.db, { uri: B, source: { kind: 'api' } });
      const before = await queuedAssetEvents(t.db, 'nested');
      expect(before.map((q) => q.uri)).to.include.members([A, B]);
      const res = await declareDags(t.db, [
        { dag_id: 'producer', outlets: { extract: [A, B], publish: [C] } },
        { dag_id: 'both', condition: all(asset(A), asset(B)) },
        { dag_id: 'nested', condition: asset(A) },
      ]);
      expect(res.droppedQueuedEvents).to.equal(before.filter((q) => q.uri !== A).reduce((n, q) => n + q.count, 0));
      expect((await queuedAssetEvents(t.db, 'nested')).map((q) => q.uri)).to.deep.equal([A]);
      // 'either' left the bag: no new events queue for it, its queued ones stay for its return.
      const leftBehind = await queuedAssetEvents(t.db, 'either');
      expect((await emitAssetEvent(t.db, { uri: A, source: { kind: 'api' } })).queued_for).to.deep.equal([
        'both',
        'nested',
      ]);
      expect(await queuedAssetEvents(t.db, 'either')).to.deep.equal(leftBehind);
    });

    it('reports one uri declared with two definitions, keeping the first by dag_id', async function () {
      const res = await declareDags(
        t.db,
        [
          { dag_id: 'producer', outlets: { extract: [A] } },
          { dag_id: 'zz_other', outlets: { load: [A] } },
        ],
        false,
      );
      expect(res.conflicts).to.deep.equal([]);
      const res2 = await syncAssetReferences(
        t.db,
        [
          { dag_id: 'producer', tasks: [{ task_id: 'extract', outlets: [{ uri: A, name: 'raw_a' }] }] },
          { dag_id: 'zz_other', tasks: [{ task_id: 'load', outlets: [{ uri: A, name: 'other_name', group: 'g' }] }] },
        ],
        { complete: false },
      );
      expect(res2.conflicts).to.deep.equal([
        `asset '${A}' is declared differently by DAG "producer" task "extract" outlets and by DAG "zz_other" task "load" outlets; the first is used`,
      ]);
      expect((await listAssets(t.db)).find((a) => a.uri === A)).to.include({ name: 'raw_a', group: 'asset' });
    });
  });
}
