/**
 * Consumer processes SIGKILLed while they consume (test/db/fixtures/asset-consumer-child.ts runs
 * the consume loop; the parent kills it and starts another):
 * - right after a claim committed, before the run was started: the next consumer re-drives the
 *   claim and starts the run once;
 * - right after the run was started, before it was marked started: the re-drive starts it again,
 *   which the idempotent start absorbs (still one run);
 * - at random moments while events keep arriving.
 * Afterwards every event is in exactly one run of each consuming DAG (or still queued for an AND
 * that is not due), every claim is started, and every claim has exactly one dag_run.
 * Postgres: the parent emits 1,000 events from 8 emitters while two consumer processes run.
 * PGlite (one process owns the database): the child emits too, each event under a dedupe key, so a
 * restarted child re-emits without recording an event twice; a kill also kills the database.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { sql, type Kysely } from 'kysely';
import { openDatabase } from '../../db/connect.js';
import { emitAssetEvent } from '../../db/asset-event.repository.js';
import type { Database } from '../../db/database.js';
import { assetUris, evaluateAssetCondition } from '../../engine/timetables/assets.js';
import type { AssetConsumer } from '../../client/asset-runs.js';
import { all, any, asset, declareDags } from './asset-fixtures.js';
import { openMigratedDatabase, type TestDatabase } from './test-database.js';

const CHILD = path.resolve(__dirname, 'fixtures', 'asset-consumer-child.js');
const [A, B, C] = ['s3://lake/a', 's3://lake/b', 's3://lake/c'];
const CONSUMERS: AssetConsumer[] = [
  { dagId: 'and_ab', condition: all(asset(A), asset(B)) },
  { dagId: 'or_ac', condition: any(asset(A), asset(C)) },
  { dagId: 'nested', condition: all(asset(A), any(asset(B), asset(C))) },
];

interface Child {
  proc: ChildProcess;
  lines: string[];
  /** Resolves with the first stdout line starting with `prefix`. */
  line(prefix: string): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function startChild(
  t: TestDatabase,
  opts: {
    pauseAt?: 'after-claim' | 'after-start';
    emit?: { uris: string[]; count: number; batch: number };
    drain?: boolean;
  },
): Child {
  const config = {
    location: t.location,
    consumers: CONSUMERS,
    pauseAt: opts.pauseAt ?? null,
    emit: opts.emit ?? null,
    drain: opts.drain ?? false,
  };
  const proc = spawn(process.execPath, [CHILD], {
    env: { ...process.env, UPDRAFT_ASSET_CHILD: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: Array<{ prefix: string; resolve: (l: string) => void }> = [];
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.filter((x) => l.startsWith(x.prefix))) w.resolve(l);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    proc,
    lines,
    exited,
    line: (prefix) =>
      new Promise<string>((resolve, reject) => {
        const seen = lines.find((l) => l.startsWith(prefix));
        if (seen !== undefined) return resolve(seen);
        waiters.push({ prefix, resolve });
        void exited.then(({ code, signal }) =>
          reject(new Error(`consumer child exited (${signal ?? code}) before printing ${prefix}:\n${stderr}`)),
        );
      }),
  };
}

async function kill(child: Child): Promise<void> {
  child.proc.kill('SIGKILL');
  const { signal } = await child.exited;
  expect(signal).to.equal('SIGKILL');
}

/** The claimed-but-not-started run a paused child left: [dag_id, run_id]. */
function pausedRun(line: string): [string, string] {
  const [, , dagId, runId] = line.split(' ');
  return [dagId!, runId!];
}

/** Every event of each DAG's assets consumed once or still queued; every claim started once. */
async function checkExactlyOnce(db: Kysely<Database>): Promise<{ runs: number; consumed: number; attempts: number }> {
  const events = await db
    .selectFrom('asset_event as e')
    .innerJoin('asset as a', 'a.id', 'e.asset_id')
    .select(['e.id', 'a.uri'])
    .execute();
  let consumedTotal = 0;
  for (const c of CONSUMERS) {
    const wanted = events
      .filter((e) => assetUris(c.condition).includes(e.uri))
      .map((e) => e.id)
      .sort((x, y) => x - y);
    const consumed = (
      await db.selectFrom('dagrun_asset_event').select('asset_event_id').where('dag_id', '=', c.dagId).execute()
    ).map((r) => r.asset_event_id);
    const queued = (
      await db.selectFrom('asset_dag_run_queue').select('asset_event_id').where('target_dag_id', '=', c.dagId).execute()
    ).map((r) => r.asset_event_id);
    expect(new Set(consumed).size, `${c.dagId}: an event consumed twice`).to.equal(consumed.length);
    expect(
      queued.filter((id) => consumed.includes(id)),
      `${c.dagId}: consumed and still queued`,
    ).to.deep.equal([]);
    expect(
      [...consumed, ...queued].sort((x, y) => x - y),
      `${c.dagId}: an event lost`,
    ).to.deep.equal(wanted);
    const queuedUris = new Set(events.filter((e) => queued.includes(e.id)).map((e) => e.uri));
    expect(evaluateAssetCondition(c.condition, queuedUris), `${c.dagId}: a due run left unclaimed`).to.equal(false);
    const perRun = await db
      .selectFrom('dagrun_asset_event as l')
      .innerJoin('asset_event as e', 'e.id', 'l.asset_event_id')
      .innerJoin('asset as a', 'a.id', 'e.asset_id')
      .select(['l.run_id', 'a.uri'])
      .distinct()
      .where('l.dag_id', '=', c.dagId)
      .execute();
    const byRun = new Map<string, Set<string>>();
    for (const r of perRun) byRun.set(r.run_id, (byRun.get(r.run_id) ?? new Set()).add(r.uri));
    for (const [runId, uris] of byRun)
      expect(evaluateAssetCondition(c.condition, uris), `${c.dagId} ${runId} did not satisfy its condition`).to.equal(
        true,
      );
    consumedTotal += consumed.length;
  }
  const claims = await db.selectFrom('asset_triggered_run').select(['dag_id', 'run_id', 'state']).execute();
  expect(
    claims.filter((r) => r.state !== 'started'),
    'claims never started',
  ).to.deep.equal([]);
  const runs = await db
    .selectFrom('dag_run')
    .select(['dag_id', 'run_id'])
    .where('run_type', '=', 'asset_triggered')
    .execute();
  const key = (r: { dag_id: string; run_id: string }) => `${r.dag_id}/${r.run_id}`;
  expect(runs.map(key).sort(), 'dag_runs = claims, one each').to.deep.equal(claims.map(key).sort());
  const attempts = await sql<{ n: number }>`select count(*)::int as n from test_start_attempt`.execute(db);
  return { runs: claims.length, consumed: consumedTotal, attempts: attempts.rows[0]!.n };
}

async function startAttempts(db: Kysely<Database>, dagId: string, runId: string): Promise<number[]> {
  const r = await sql<{
    pid: number;
  }>`select pid from test_start_attempt where dag_id = ${dagId} and run_id = ${runId} order by at`.execute(db);
  return r.rows.map((x) => x.pid);
}

async function prepare(dialect: 'postgres' | 'pglite'): Promise<TestDatabase> {
  const t = await openMigratedDatabase(dialect);
  await declareDags(t.db, [
    { dag_id: 'producer', outlets: { load: [A, B, C] } },
    ...CONSUMERS.map((c) => ({ dag_id: c.dagId, condition: c.condition })),
  ]);
  await sql`create table test_start_attempt (dag_id text not null, run_id text not null, pid integer not null, at timestamptz not null default clock_timestamp())`.execute(
    t.db,
  );
  return t;
}

describe('postgres: asset consumers SIGKILLed mid-consumption', function () {
  this.timeout(600_000);
  let t: TestDatabase;
  const children: Child[] = [];
  before(async function () {
    t = await prepare('postgres');
  });
  after(async function () {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await t?.cleanup();
  });

  it('loses and doubles nothing across kills after a claim, after a start, and at random', async function () {
    const spawnChild = (opts: Parameters<typeof startChild>[1]) => {
      const c = startChild(t, opts);
      children.push(c);
      return c;
    };
    // Events arrive throughout: 8 emitters, 1,000 events, paced over several seconds.
    const N = 1000;
    let emitted = 0;
    const uris = [A, B, C];
    const emitters = Promise.all(
      Array.from({ length: 8 }, async () => {
        while (emitted < N) {
          const i = emitted++;
          await emitAssetEvent(t.db, { uri: uris[(i * 5 + (i >> 4)) % 3]!, extra: { i }, source: { kind: 'api' } });
          await sleep(40);
        }
      }),
    );

    // 1. Killed right after a claim committed: the run is claimed, not started.
    const c1 = spawnChild({ pauseAt: 'after-claim' });
    const [claimDag, claimRun] = pausedRun(await c1.line('PAUSED'));
    await kill(c1);
    // The next consumer re-drives that claim first (and is killed once it has).
    const redriver = spawnChild({});
    await redriver.line(`STARTED ${claimDag} ${claimRun}`);
    await kill(redriver);
    // 2. Killed right after the start of a new claim, before the mark.
    const c2 = spawnChild({ pauseAt: 'after-start' });
    const [startDag, startRun] = pausedRun(await c2.line('PAUSED'));
    await kill(c2);
    // 3. Two consumers at once, each killed at a random moment and replaced, while events arrive.
    let kills = 3;
    let live = [spawnChild({}), spawnChild({})];
    await Promise.all(live.map((c) => c.line('READY')));
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    while (emitted < N) {
      await sleep(150 + random() * 450);
      const victim = live[Math.floor(random() * live.length)]!;
      await kill(victim);
      kills++;
      const fresh = spawnChild({});
      live = [...live.filter((c) => c !== victim), fresh];
      await fresh.line('READY');
    }
    await emitters;
    for (const c of live) await kill(c);
    kills += live.length;
    // 4. A last consumer, not killed, drains what is due and exits.
    const drain = spawnChild({ drain: true });
    await drain.line('DRAINED');
    expect((await drain.exited).code).to.equal(0);

    const { runs, consumed, attempts } = await checkExactlyOnce(t.db);
    expect(
      await t.db
        .selectFrom('asset_event')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow(),
    ).to.deep.equal({ n: N });
    // The run claimed by the first victim was started by someone else, exactly once.
    expect(await startAttempts(t.db, claimDag, claimRun)).to.deep.equal([redriver.proc.pid]);
    // The run the second victim started was started again by a re-drive (again if that re-driver
    // was killed before its mark too), and is still one run (checkExactlyOnce).
    const startAttemptsOf = await startAttempts(t.db, startDag, startRun);
    expect(startAttemptsOf.length).to.be.at.least(2);
    expect(startAttemptsOf[0]).to.equal(c2.proc.pid);
    expect(new Set(startAttemptsOf).size, 'one attempt per consumer process').to.equal(startAttemptsOf.length);
    console.log(
      `      postgres: ${kills} SIGKILLs; ${runs} runs, ${consumed} (DAG, event) pairs consumed once each; ${attempts} start attempts for ${runs} runs`,
    );
  });
});

describe('pglite: an asset consumer (owning the database) SIGKILLed mid-consumption', function () {
  this.timeout(600_000);
  let t: TestDatabase;
  const children: Child[] = [];
  before(async function () {
    t = await prepare('pglite');
    // One process at a time may open a PGlite directory: hand it to the children.
    await t.handle.close();
  });
  after(async function () {
    for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGKILL');
    await t?.cleanup();
  });

  it('loses and doubles nothing, and records each event once across restarts', async function () {
    const N = 600;
    const emit = { uris: [A, B, C], count: N, batch: 20 };
    const run = async (
      opts: Parameters<typeof startChild>[1],
      killAfter: 'PAUSED' | `STARTED ${string}` | number | null,
    ): Promise<{ child: Child; paused?: [string, string] }> => {
      const child = startChild(t, { emit, ...opts });
      children.push(child);
      if (typeof killAfter === 'string' && killAfter.startsWith('STARTED')) {
        await child.line(killAfter);
        await kill(child);
        return { child };
      }
      if (killAfter === 'PAUSED') {
        const paused = pausedRun(await child.line('PAUSED'));
        await kill(child);
        return { child, paused };
      }
      if (typeof killAfter === 'number') {
        await child.line('READY');
        await sleep(killAfter);
        await kill(child);
        return { child };
      }
      await child.line('DRAINED');
      expect((await child.exited).code).to.equal(0);
      return { child };
    };
    const first = await run({ pauseAt: 'after-claim' }, 'PAUSED');
    const redriver = await run({}, `STARTED ${first.paused!.join(' ')}`);
    const second = await run({ pauseAt: 'after-start' }, 'PAUSED');
    for (const ms of [700, 1500, 2300, 3100]) await run({}, ms);
    await run({ drain: true }, null);

    const handle = await openDatabase({ pglitePath: (t.location as { pglitePath: string }).pglitePath });
    try {
      const { runs, consumed, attempts } = await checkExactlyOnce(handle.db);
      expect(
        await handle.db
          .selectFrom('asset_event')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow(),
      ).to.deep.equal({ n: N });
      const [claimDag, claimRun] = first.paused!;
      expect(await startAttempts(handle.db, claimDag, claimRun)).to.deep.equal([redriver.child.proc.pid]);
      const [startDag, startRun] = second.paused!;
      const again = await startAttempts(handle.db, startDag, startRun);
      expect(again).to.have.length(2);
      expect(again[0]).to.equal(second.child.proc.pid);
      console.log(
        `      pglite: 7 SIGKILLs; ${runs} runs, ${consumed} (DAG, event) pairs consumed once each; ${attempts} start attempts for ${runs} runs`,
      );
    } finally {
      await handle.close();
    }
  });
});
