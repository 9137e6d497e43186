/// <reference types="mocha" />
/**
 * Workers SIGKILLed while they consume asset events, on the real stack: two worker processes
 * (test/workflows/fixtures/worker-child.ts) share a Postgres database and a task queue; events are
 * emitted in bursts while one worker after another is killed and replaced. Afterwards every
 * (DAG, event) pair is consumed exactly once, every claimed run is recorded once and started as one
 * workflow, and every run succeeds: nothing lost, nothing doubled.
 */
import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { dagRunResult } from '../../client/run-result.js';
import { emitAssetEvent } from '../../db/asset-event.repository.js';
import { tempDir } from '../helpers/servers.js';
import { WorkerChildren } from '../helpers/worker-children.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';

const [A, B, C] = ['s3://crash/a', 's3://crash/b', 's3://crash/c'];
const CONSUMERS: Record<string, string[]> = { crash_and: [A, B], crash_or: [A, C], crash_single: [B] };

const DAGS = `import { Asset, AssetAny, dag } from 'updraft';
const a = Asset('${A}'), b = Asset('${B}'), c = Asset('${C}');
const body = (d: any) => void d.task({ taskId: 't' }, (_: void, ctx: any) => Object.values(ctx.triggeringAssetEvents).flat().length);
export const both = dag({ dagId: 'crash_and', schedule: [a, b] }, body);
export const either = dag({ dagId: 'crash_or', schedule: AssetAny(a, c) }, body);
export const single = dag({ dagId: 'crash_single', schedule: [b] }, body);
`;

describe('worker: workers SIGKILLed while consuming asset events', function () {
  this.timeout(300_000);
  let stack: TestStack;
  let dags: string;
  const workers = new WorkerChildren();
  const startWorkerChild = (): Promise<ChildProcess> =>
    workers.start(stack, dags, {
      UPDRAFT_HEARTBEAT_TIMEOUT_SECONDS: '3',
      // A claim a killed worker left unstarted is started by the survivor after 1 s.
      UPDRAFT_ASSET_REDRIVE_AFTER_SECONDS: '1',
    });

  before(async () => {
    dags = tempDir('asset-crash-dags');
    fs.writeFileSync(path.join(dags, 'crash.ts'), DAGS);
    // No in-process worker: only the children consume and run tasks.
    stack = await startTestStack({ dagsFolder: dags, db: 'postgres', worker: false });
    expect(stack.bag.importErrors).to.deep.equal([]);
  });
  after(async () => {
    workers.killAll();
    await stack?.stop();
    fs.rmSync(dags, { recursive: true, force: true });
  });

  it('loses and doubles nothing', async function () {
    const db = stack.database.db;
    let live = [await startWorkerChild(), await startWorkerChild()];
    const emitted: Record<string, number> = { [A]: 0, [B]: 0, [C]: 0 };
    let kills = 0;
    for (let round = 0; round < 8; round++) {
      // A burst of concurrent events, each asset several times.
      await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const uri = [A, B, C][i % 3]!;
          await emitAssetEvent(db, { uri, extra: { round, i }, source: { kind: 'api' } });
          emitted[uri]!++;
        }),
      );
      await new Promise((r) => setTimeout(r, 150 + Math.random() * 400));
      // Kill one worker mid-consumption and start a replacement.
      const victim = live[round % 2]!;
      victim.kill('SIGKILL');
      kills++;
      live = live.filter((c) => c !== victim);
      live.push(await startWorkerChild());
    }
    // A last event of each asset, so every condition is satisfied by what is left.
    for (const uri of [A, B, C]) {
      await emitAssetEvent(db, { uri, extra: { last: true }, source: { kind: 'api' } });
      emitted[uri]!++;
    }

    // Wait until the queue is empty and no claim is left unstarted.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const left = await sql<{ queued: number; claimed: number }>`
        select (select count(*) from asset_dag_run_queue) as queued, (select count(*) from asset_triggered_run where state = 'claimed') as claimed`.execute(
        db,
      );
      const { queued, claimed } = left.rows[0]!;
      if (Number(queued) === 0 && Number(claimed) === 0) break;
      if (Date.now() > deadline)
        throw new Error(`after the kills: ${queued} queued events and ${claimed} unstarted claims left`);
      await new Promise((r) => setTimeout(r, 250));
    }

    const summary: Record<string, string> = {};
    for (const [dagId, uris] of Object.entries(CONSUMERS)) {
      const expected = uris.reduce((n, u) => n + emitted[u]!, 0);
      const pairs = await sql<{ n: number; distinct_events: number }>`
        select count(*) as n, count(distinct asset_event_id) as distinct_events from dagrun_asset_event where dag_id = ${dagId}`.execute(
        db,
      );
      expect(
        [Number(pairs.rows[0]!.n), Number(pairs.rows[0]!.distinct_events)],
        `${dagId}: events consumed`,
      ).to.deep.equal([expected, expected]);
      const claims = await db
        .selectFrom('asset_triggered_run')
        .select(['run_id', 'state', 'event_count'])
        .where('dag_id', '=', dagId)
        .execute();
      expect(
        claims.every((c) => c.state === 'started'),
        `${dagId}: every claim started`,
      ).to.equal(true);
      expect(claims.reduce((n, c) => n + c.event_count, 0)).to.equal(expected);
      const runs = await db
        .selectFrom('dag_run')
        .select(['run_id', 'run_type', 'workflow_id'])
        .where('dag_id', '=', dagId)
        .execute();
      summary[dagId] = `${claims.length} runs / ${expected} events`;
      // One record per claim, no other runs.
      expect(runs.map((r) => r.run_id).sort(), `${dagId}: runs recorded`).to.deep.equal(
        claims.map((c) => c.run_id).sort(),
      );
      expect(runs.every((r) => r.run_type === 'asset_triggered')).to.equal(true);
      // Each run is one workflow and succeeds (a killed worker's tasks are picked up by the others).
      for (const run of runs) {
        const handle = stack.client.workflow.getHandle(run.workflow_id);
        expect((await dagRunResult(handle)).state, `${dagId} ${run.run_id}`).to.equal('success');
      }
    }
    expect(kills).to.equal(8);
    process.stdout.write(`      ${kills} SIGKILLs; ${JSON.stringify(summary)}\n`);
  });
});
