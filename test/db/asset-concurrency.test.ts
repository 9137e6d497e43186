/**
 * Exactly-once consumption under concurrency, on real Postgres (emitters and consumers on their own
 * connection pools, so statements really run in parallel) and on PGlite (one connection, so the
 * same code interleaves at statement boundaries):
 *
 * - rounds: 10 rounds of 100 events from 20 concurrent emitters, then 4 consumers per DAG racing
 *   to decide. A reference model of Airflow's semantics (a run when the condition holds over the
 *   assets updated since the last run; updates collapse) gives the exact runs and their events.
 * - overlap: 1,000 events from 20 emitters while 4 consumer loops decide for every DAG at the same
 *   time. Every event ends up in exactly one run of each consuming DAG, or still queued for it
 *   (only an AND condition can leave events waiting), and every run satisfied its condition.
 */
import { expect } from 'chai';
import { openDatabase, type DatabaseHandle } from '../../db/connect.js';
import { emitAssetEvent } from '../../db/asset-event.repository.js';
import { consumeReadyRun } from '../../db/asset-triggered-run.repository.js';
import type { Database } from '../../db/database.js';
import { assetUris, evaluateAssetCondition } from '../../engine/timetables/assets.js';
import type { AssetConditionSpec } from '../../spec/dag-spec.js';
import { all, any, asset, declareDags } from './asset-fixtures.js';
import { DIALECTS, openMigratedDatabase, type TestDatabase } from './test-database.js';
import type { Kysely } from 'kysely';

const [A, B, C] = ['s3://lake/a', 's3://lake/b', 'file:///landing/c'];
const CONSUMERS: Array<{ dagId: string; condition: AssetConditionSpec }> = [
  { dagId: 'and_ab', condition: all(asset(A), asset(B)) },
  { dagId: 'or_ac', condition: any(asset(A), asset(C)) },
  { dagId: 'nested', condition: all(asset(A), any(asset(B), asset(C))) },
  { dagId: 'single_b', condition: asset(B) },
];
const EMITTERS = 20;
const CONSUMERS_PER_DAG = 4;

/** Runs `count` jobs on `workers` concurrent workers. */
async function pool<T>(count: number, workers: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await job(i);
      }
    }),
  );
  return out;
}

interface Dbs {
  emit: Kysely<Database>;
  consume: Kysely<Database>;
  close(): Promise<void>;
}

/** Separate pools for emitters and consumers on Postgres; PGlite has one connection. */
async function connections(t: TestDatabase): Promise<Dbs> {
  if (!('url' in t.location)) return { emit: t.db, consume: t.db, close: async () => undefined };
  const handles: DatabaseHandle[] = [
    await openDatabase({ url: t.location.url, poolSize: EMITTERS }),
    await openDatabase({ url: t.location.url, poolSize: CONSUMERS_PER_DAG * CONSUMERS.length }),
  ];
  return {
    emit: handles[0]!.db,
    consume: handles[1]!.db,
    close: async () => void (await Promise.all(handles.map((h) => h.close()))),
  };
}

async function consumedBy(db: Kysely<Database>, dagId: string): Promise<Map<number, string>> {
  const rows = await db
    .selectFrom('dagrun_asset_event')
    .select(['asset_event_id', 'run_id'])
    .where('dag_id', '=', dagId)
    .execute();
  return new Map(rows.map((r) => [r.asset_event_id, r.run_id]));
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: assets under concurrency`, function () {
    this.timeout(600_000);
    let t: TestDatabase;
    let dbs: Dbs;
    beforeEach(async function () {
      t = await openMigratedDatabase(dialect);
      await declareDags(t.db, [
        { dag_id: 'producer', outlets: { load: [A, B, C] } },
        ...CONSUMERS.map((c) => ({ dag_id: c.dagId, condition: c.condition })),
      ]);
      dbs = await connections(t);
    });
    afterEach(async function () {
      await dbs?.close();
      await t?.cleanup();
    });

    it('10 rounds × 100 concurrent events, 4 racing consumers per DAG: exactly the runs the model expects', async function () {
      const rounds: string[][] = [[A], [B], [A, B, C], [C], [A], [B, C], [A, B], [C], [A, B, C], [B]];
      const pending = new Map(CONSUMERS.map((c) => [c.dagId, new Map<string, number[]>()]));
      const expectedRuns = new Map(CONSUMERS.map((c) => [c.dagId, [] as number[][]]));
      const actualRuns = new Map(CONSUMERS.map((c) => [c.dagId, [] as number[][]]));
      let busy = 0;
      for (const uris of rounds) {
        const events = await pool(100, EMITTERS, async (i) => {
          const uri = uris[i % uris.length]!;
          const e = await emitAssetEvent(dbs.emit, { uri, extra: { i }, source: { kind: 'api' } });
          return { uri, id: e.event.id };
        });
        // The model: each DAG's pending events on its condition's assets; due when the condition holds.
        for (const c of CONSUMERS) {
          const p = pending.get(c.dagId)!;
          for (const e of events)
            if (assetUris(c.condition).includes(e.uri)) p.set(e.uri, [...(p.get(e.uri) ?? []), e.id]);
          if (evaluateAssetCondition(c.condition, new Set(p.keys()))) {
            expectedRuns.get(c.dagId)!.push([...p.values()].flat().sort((x, y) => x - y));
            p.clear();
          }
        }
        const outcomes = await Promise.all(
          CONSUMERS.flatMap((c) =>
            Array.from({ length: CONSUMERS_PER_DAG }, async () => ({
              c,
              r: await consumeReadyRun(dbs.consume, c.dagId, c.condition),
            })),
          ),
        );
        for (const { c, r } of outcomes) {
          if (r.status === 'busy') busy++;
          if (r.status === 'claimed')
            actualRuns.get(c.dagId)!.push(
              Object.values(r.run.triggering_asset_events)
                .flat()
                .map((e) => e.id)
                .sort((x, y) => x - y),
            );
        }
      }
      for (const c of CONSUMERS) {
        expect(actualRuns.get(c.dagId), c.dagId).to.deep.equal(expectedRuns.get(c.dagId));
      }
      const counts = Object.fromEntries(CONSUMERS.map((c) => [c.dagId, expectedRuns.get(c.dagId)!.length]));
      expect(counts).to.deep.equal({ and_ab: 5, or_ac: 8, nested: 5, single_b: 6 });
      console.log(
        `      ${dialect}: runs per DAG ${JSON.stringify(counts)}; ${busy} of ${rounds.length * CONSUMERS.length * CONSUMERS_PER_DAG} decisions found the DAG busy`,
      );
    });

    it('1,000 events from 20 emitters while 4 consumer loops decide: each event consumed exactly once per DAG', async function () {
      const N = 1000;
      const uris = [A, B, C];
      let emitting = true;
      const claims: Array<{ dagId: string; runId: string; uris: string[]; events: number }> = [];
      let lastClaimAt = 0;
      const consumerLoop = async (k: number): Promise<void> => {
        // Each loop visits the DAGs in its own order, so loops collide on different DAGs.
        const order = CONSUMERS.map((_, i) => CONSUMERS[(i + k) % CONSUMERS.length]!);
        let idle = 0;
        while (emitting || idle < 2) {
          let progressed = false;
          for (const c of order) {
            const r = await consumeReadyRun(dbs.consume, c.dagId, c.condition);
            if (r.status === 'claimed') {
              progressed = true;
              lastClaimAt = Date.now();
              claims.push({
                dagId: c.dagId,
                runId: r.run.run_id,
                uris: Object.keys(r.run.triggering_asset_events),
                events: r.run.event_count,
              });
            }
          }
          idle = progressed || emitting ? 0 : idle + 1;
        }
      };
      const started = Date.now();
      const loops = Array.from({ length: CONSUMERS_PER_DAG }, (_, k) => consumerLoop(k));
      const emitted = await pool(N, EMITTERS, async (i) => {
        const uri = uris[(i * 7 + (i >> 3)) % 3]!;
        return { uri, id: (await emitAssetEvent(dbs.emit, { uri, extra: { i }, source: { kind: 'api' } })).event.id };
      });
      const emittedAt = Date.now();
      emitting = false;
      await Promise.all(loops);

      let consumedPairs = 0;
      for (const c of CONSUMERS) {
        const wanted = emitted
          .filter((e) => assetUris(c.condition).includes(e.uri))
          .map((e) => e.id)
          .sort((x, y) => x - y);
        const consumed = await consumedBy(t.db, c.dagId);
        const queued = (
          await t.db
            .selectFrom('asset_dag_run_queue')
            .select('asset_event_id')
            .where('target_dag_id', '=', c.dagId)
            .execute()
        ).map((r) => r.asset_event_id);
        expect(
          queued.filter((id) => consumed.has(id)),
          `${c.dagId}: events both consumed and queued`,
        ).to.deep.equal([]);
        expect(
          [...consumed.keys(), ...queued].sort((x, y) => x - y),
          `${c.dagId}: consumed + queued = its events`,
        ).to.deep.equal(wanted);
        consumedPairs += consumed.size;
        // Only an AND can leave events waiting for the other asset; then the condition must not hold.
        const queuedUris = new Set(emitted.filter((e) => queued.includes(e.id)).map((e) => e.uri));
        expect(evaluateAssetCondition(c.condition, queuedUris), `${c.dagId}: left a due run unclaimed`).to.equal(false);
        const mine = claims.filter((x) => x.dagId === c.dagId);
        for (const run of mine)
          expect(evaluateAssetCondition(c.condition, new Set(run.uris)), `${c.dagId} ${run.runId}`).to.equal(true);
        expect(mine.reduce((n, r) => n + r.events, 0)).to.equal(consumed.size);
        const recorded = await t.db
          .selectFrom('asset_triggered_run')
          .select('run_id')
          .where('dag_id', '=', c.dagId)
          .execute();
        expect(recorded.map((r) => r.run_id).sort()).to.deep.equal(mine.map((r) => r.runId).sort());
      }
      const seconds = (Math.max(lastClaimAt, emittedAt) - started) / 1000;
      console.log(
        `      ${dialect}: ${N} events emitted in ${((emittedAt - started) / 1000).toFixed(2)} s (${Math.round(N / ((emittedAt - started) / 1000))}/s); ` +
          `${claims.length} runs consumed ${consumedPairs} (DAG, event) pairs in ${seconds.toFixed(2)} s (${Math.round(consumedPairs / seconds)} events/s consumed)`,
      );
    });
  });
}
