/**
 * `updraft models | artifacts | runs metrics | lineage` as a user runs them (separate processes)
 * on a real database seeded through the record functions: read commands print tables and JSON and
 * write nothing; promote and rollback write the same audit row a model gate writes (actor
 * $UPDRAFT_ACTOR); bad input exits 2 naming what is wrong, with nothing written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import type { Kysely } from 'kysely';
import { openDatabase } from '../../db/connect.js';
import type { Database } from '../../db/database.js';
import { migrateToLatest } from '../../db/migrate.js';
import { recordExecution } from '../../db/lineage.repository.js';
import { recordEvaluation, registerModelVersion, setAlias } from '../../db/model-registry.repository.js';
import { art, tryKey } from '../db/ml-fixtures.js';
import { runCli } from '../helpers/cli.js';
import { createTestDatabase, tempDir } from '../helpers/servers.js';

async function snapshot(db: Kysely<Database>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of [
    'artifact',
    'execution',
    'lineage_event',
    'metric',
    'registered_model',
    'model_version',
    'model_alias',
    'model_evaluation',
    'model_promotion',
  ] as const) {
    out[t] = Number(
      (
        await db
          .selectFrom(t)
          .select((eb) => eb.fn.countAll<string>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  }
  return out;
}

describe('updraft models / artifacts / runs metrics / lineage (CLI)', function () {
  this.timeout(180_000);
  let h: Awaited<ReturnType<typeof createTestDatabase>>;
  let db: Kysely<Database>;
  let env: NodeJS.ProcessEnv;
  const data = art('data.csv', 'dataset', 'csv');
  const train = art('train.csv', 'dataset', 'csv');
  const m1 = art('model-1.onnx', 'model', 'onnx');
  const m2 = art('model-2.onnx', 'model', 'onnx');

  before(async () => {
    h = await createTestDatabase('postgres');
    db = h.db;
    env = {
      DATABASE_URL: h.url!,
      UPDRAFT_HOME: tempDir('ml-cli'),
      UPDRAFT_DAGS_FOLDER: tempDir('ml-cli-dags'),
      UPDRAFT_ACTOR: 'alice',
    };
    // Run r1: extract → prepare → train (model 1); run r2: train again on the same data (model 2).
    await recordExecution(db, {
      key: tryKey('r1', 'extract'),
      state: 'success',
      outputs: [data],
      metrics: [{ name: 'rows', value: 569 }],
    });
    await recordExecution(db, { key: tryKey('r1', 'prepare'), state: 'success', inputs: [data], outputs: [train] });
    const t1 = await recordExecution(db, {
      key: tryKey('r1', 'train'),
      state: 'success',
      params: { C: 1 },
      inputs: [train],
      outputs: [m1],
      metrics: [
        { name: 'train_accuracy', value: 0.97 },
        { name: 'loss', value: 0.5, step: 0 },
        { name: 'loss', value: 0.2, step: 1 },
      ],
    });
    const t2 = await recordExecution(db, {
      key: tryKey('r2', 'train'),
      state: 'success',
      inputs: [train],
      outputs: [m2],
    });
    await registerModelVersion(db, {
      model: 'iris',
      artifactId: t1.outputs[0]!.id,
      metrics: { accuracy: 0.9 },
      source: tryKey('r1', 'train'),
      trainingDataArtifactIds: [t1.inputs[0]!.id],
    });
    await registerModelVersion(db, {
      model: 'iris',
      artifactId: t2.outputs[0]!.id,
      metrics: { accuracy: 0.95 },
      source: tryKey('r2', 'train'),
    });
    const { evaluation } = await recordEvaluation(db, {
      model: 'iris',
      candidate: 1,
      baseline: null,
      candidateMetrics: { accuracy: 0.9 },
      baselineMetrics: null,
      thresholds: { accuracy: { threshold: 0.8, greaterIsBetter: true } },
    });
    await setAlias(db, {
      model: 'iris',
      alias: 'champion',
      version: 1,
      expectedVersion: null,
      evaluationId: evaluation.id,
      actor: 'ml/r1/validate_model',
    });
    await registerModelVersion(db, { model: 'other', artifactId: t2.outputs[0]!.id });
  });
  after(async () => h?.close());

  it('read commands print tables and JSON and write nothing', async () => {
    const before = await snapshot(db);
    const list = await runCli(['models', 'list', '-o', 'json'], env);
    expect(list.code, list.stderr).to.equal(0);
    expect(
      JSON.parse(list.stdout).map((m: Record<string, unknown>) => [m.name, m.latest_version, m.aliases]),
    ).to.deep.equal([
      ['iris', 2, { champion: 1 }],
      ['other', 1, {}],
    ]);
    const table = await runCli(['models', 'list'], env);
    expect(
      table.stdout
        .split('\n')[0]!
        .split('|')
        .map((c) => c.trim()),
    ).to.deep.equal(['name', 'latest_version', 'aliases', 'description', 'created_at']);
    expect(table.stdout.split('\n')[2]).to.match(/^iris +\| 2 +\| champion=1 /);

    const show = await runCli(['models', 'show', 'iris', '-o', 'json'], env);
    expect(show.code, show.stderr).to.equal(0);
    expect(JSON.parse(show.stdout).aliases).to.deep.equal([
      { alias: 'champion', version: 1, status: 'registered', sha256: m1.sha256, metrics: { accuracy: 0.9 } },
    ]);

    const versions = await runCli(['models', 'versions', 'iris', '-o', 'json'], env);
    expect(
      JSON.parse(versions.stdout).map((v: Record<string, unknown>) => [v.version, v.aliases, v.sha256, v.source]),
    ).to.deep.equal([
      [2, '', m2.sha256, 'iris/r2/train try 1'],
      [1, 'champion', m1.sha256, 'iris/r1/train try 1'],
    ]);

    const history = await runCli(['models', 'history', 'iris', '-o', 'json'], env);
    expect(
      JSON.parse(history.stdout).map((p: Record<string, unknown>) => [
        p.alias,
        p.action,
        p.from_version,
        p.to_version,
        p.actor,
      ]),
    ).to.deep.equal([['champion', 'promote', null, 1, 'ml/r1/validate_model']]);

    const artifacts = await runCli(['artifacts', 'list', '--type', 'model', '-o', 'json'], env);
    expect(JSON.parse(artifacts.stdout).map((a: Record<string, unknown>) => a.name)).to.deep.equal([
      'model-2.onnx',
      'model-1.onnx',
    ]);
    const shown = await runCli(['artifacts', 'show', m1.sha256, '-o', 'json'], env);
    const [a1] = JSON.parse(shown.stdout);
    expect(a1.events.map((e: Record<string, unknown>) => [e.kind, e.run_id, e.task_id])).to.deep.equal([
      ['output', 'r1', 'train'],
    ]);
    expect(a1.model_versions.map((v: Record<string, unknown>) => [v.model, v.version])).to.deep.equal([['iris', 1]]);
    const byId = await runCli(['artifacts', 'show', String(a1.id)], env);
    expect(byId.code, byId.stderr).to.equal(0);
    expect(byId.stdout).to.include('iris@1');

    const metrics = await runCli(['runs', 'metrics', 'iris', 'r1', '-o', 'json'], env);
    expect(
      JSON.parse(metrics.stdout).map((m: Record<string, unknown>) => [m.task_id, m.name, m.value, m.step]),
    ).to.deep.equal([
      ['extract', 'rows', 569, 0],
      ['train', 'loss', 0.5, 0],
      ['train', 'loss', 0.2, 1],
      ['train', 'train_accuracy', 0.97, 0],
    ]);

    const idOf = async (sha256: string): Promise<number> =>
      (await db.selectFrom('artifact').select('id').where('sha256', '=', sha256).executeTakeFirstOrThrow()).id;
    const [dataId, trainId] = [await idOf(data.sha256), await idOf(train.sha256)];
    const text = await runCli(['lineage', 'iris@champion'], env);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.equal(
      [
        'Lineage of iris@1 (upstream): 3 artifact(s), 3 task tries, 1 model version(s)',
        'runs: iris/r1',
        `iris/r1/extract try 1 [success]`,
        `  wrote dataset data.csv (csv) sha256:${data.sha256.slice(0, 12)} (artifact ${dataId})`,
        `iris/r1/prepare try 1 [success]`,
        `  read  dataset data.csv (csv) sha256:${data.sha256.slice(0, 12)} (artifact ${dataId})`,
        `  wrote dataset train.csv (csv) sha256:${train.sha256.slice(0, 12)} (artifact ${trainId})`,
        `iris/r1/train try 1 [success] params {"C":1}`,
        `  read  dataset train.csv (csv) sha256:${train.sha256.slice(0, 12)} (artifact ${trainId})`,
        `  wrote model model-1.onnx (onnx) sha256:${m1.sha256.slice(0, 12)} (artifact ${a1.id})`,
        'model versions:',
        `  iris@1 [registered] sha256:${m1.sha256.slice(0, 12)} (artifact ${a1.id} model-1.onnx), from iris/r1/train try 1`,
        '',
      ].join('\n'),
    );
    const dot = await runCli(['lineage', data.sha256, '--downstream', '--format', 'dot'], env);
    expect(dot.stdout).to.match(/^digraph lineage \{/);
    expect(dot.stdout).to.include(`a${a1.id} -> m`);
    const mermaid = await runCli(['lineage', 'iris', 'r2', '--format', 'mermaid'], env);
    expect(mermaid.stdout.split('\n')[0]).to.equal('flowchart LR');
    expect(mermaid.stdout).to.include('["train try 1"]');
    const json = await runCli(['lineage', `iris@2`, '-o', 'json'], env);
    expect(JSON.parse(json.stdout).executions.map((x: Record<string, unknown>) => x.run_id)).to.deep.equal([
      'r1',
      'r1',
      'r2',
    ]);

    expect(await snapshot(db)).to.deep.equal(before);
  });

  it('bad input exits 2 naming what is wrong, and writes nothing', async () => {
    const before = await snapshot(db);
    const cases: Array<[string[], string]> = [
      [['models', 'show', 'nope'], 'registered model not found: "nope" (list models with `updraft models list`)'],
      [['models', 'versions', 'nope'], 'registered model not found: "nope" (list models with `updraft models list`)'],
      [
        ['models', 'promote', 'iris', '7'],
        'model "iris" has no version 7 (its versions are 1..2; see `updraft models versions iris`)',
      ],
      [
        ['models', 'promote', 'iris', 'other@1'],
        'version: other@1 is a version of "other", not of "iris"; promote and evaluate versions of "iris" only',
      ],
      [
        ['models', 'promote', 'iris', '2', '--alias', 'v2'],
        'alias: expected an alias such as champion or challenger (a letter or _ first; not "latest", not a version like v3), got "v2"',
      ],
      [['models', 'promote', 'iris', 'two'], 'version must be a version number >= 1, got "two"'],
      [
        ['models', 'promote', 'nope', '1'],
        'registered model not found: "nope" (list models with `updraft models list`)',
      ],
      [
        ['models', 'rollback', 'iris'],
        'cannot roll back "iris@champion": the promotion log has no earlier version for it (give --to <version> to choose the version)',
      ],
      [
        ['models', 'rollback', 'iris', '--alias', 'staging', '--to', '1'],
        'model "iris" has no alias "staging" (see `updraft models show iris`)',
      ],
      [
        ['artifacts', 'list', '--type', 'weights'],
        '--type must be one of model, dataset, report, other, got "weights"',
      ],
      [
        ['artifacts', 'show', 'abc'],
        'expected an artifact\'s sha256 (64 lowercase hex characters) or its id, got "abc" (see `updraft artifacts list`)',
      ],
      [
        ['artifacts', 'show', '0'.repeat(64)],
        `artifact: no artifact with sha256 ${'0'.repeat(64)} is recorded (record it with the try that wrote it, or check the id/sha256)`,
      ],
      [
        ['runs', 'metrics', 'iris', 'nope'],
        'no DAG run "nope" of "iris" is recorded (see `updraft dags list-runs iris`)',
      ],
      [['lineage', 'iris@staging'], 'model "iris" has no alias "staging" (see `updraft models show iris`)'],
      [
        ['lineage', 'what'],
        'expected an artifact sha256 (64 lowercase hex), model@version (or model@alias), or "dag_id run_id"; got "what"',
      ],
      [['lineage', 'iris@1', '--format', 'png'], '--format must be one of text, dot, mermaid, got "png"'],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, env);
      expect([r.code, r.stderr], args.join(' ')).to.deep.equal([2, `Error: ${message}\n`]);
    }
    expect(await snapshot(db)).to.deep.equal(before);
  });

  it('promote and rollback move the alias and write the audit row with the actor', async () => {
    const promote = await runCli(['models', 'promote', 'iris', '2', '--reason', 'better on the new data'], env);
    expect(promote.code, promote.stderr).to.equal(0);
    expect(promote.stdout).to.match(
      /^Promoted iris@2 to champion \(was version 1\); promotion log row \d+ by alice\n$/,
    );
    const again = await runCli(['models', 'promote', 'iris', 'iris@2'], env);
    expect(again.stdout).to.equal('iris@2 is already champion; nothing changed\n');
    const challenger = await runCli(['models', 'promote', 'iris', '1', '--alias', 'challenger'], env);
    expect(challenger.code, challenger.stderr).to.equal(0);
    const rollback = await runCli(['models', 'rollback', 'iris', '--reason', 'latency regression'], {
      ...env,
      UPDRAFT_ACTOR: 'bob',
    });
    expect(rollback.stdout).to.match(
      /^Rolled back iris@1 to champion \(was version 2\); promotion log row \d+ by bob\n$/,
    );
    const history = await runCli(['models', 'history', 'iris', '--alias', 'champion', '-o', 'json'], env);
    expect(
      JSON.parse(history.stdout).map((p: Record<string, unknown>) => [
        p.action,
        p.from_version,
        p.to_version,
        p.actor,
        p.reason,
      ]),
    ).to.deep.equal([
      ['promote', null, 1, 'ml/r1/validate_model', null],
      ['promote', 1, 2, 'alice', 'better on the new data'],
      ['rollback', 2, 1, 'bob', 'latency regression'],
    ]);
    const shown = JSON.parse((await runCli(['models', 'show', 'iris', '-o', 'json'], env)).stdout);
    expect(shown.aliases.map((a: Record<string, unknown>) => [a.alias, a.version])).to.deep.equal([
      ['challenger', 1],
      ['champion', 1],
    ]);
  });
});

describe('updraft models / lineage on PGlite (CLI)', function () {
  this.timeout(180_000);
  let home: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    // Seeded through the record functions, then closed: the CLI opens the same PGlite folder itself.
    home = tempDir('ml-cli-pglite');
    const h = await openDatabase({ pglitePath: path.join(home, 'pglite') });
    await migrateToLatest(h.db);
    const t = await recordExecution(h.db, {
      key: tryKey('r1', 'train'),
      state: 'success',
      inputs: [art('d.csv', 'dataset', 'csv')],
      outputs: [art('m.onnx', 'model', 'onnx')],
    });
    await registerModelVersion(h.db, { model: 'iris', artifactId: t.outputs[0]!.id, source: tryKey('r1', 'train') });
    await h.close();
    env = {
      UPDRAFT_HOME: home,
      UPDRAFT_DAGS_FOLDER: tempDir('ml-cli-pglite-dags'),
      UPDRAFT_ACTOR: 'carol',
      DATABASE_URL: '',
    };
  });
  after(() => fs.rmSync(home, { recursive: true, force: true }));

  it('promotes with the audit row, draws lineage, and refuses bad input with exit 2', async () => {
    const promote = await runCli(['models', 'promote', 'iris', '1', '--reason', 'first'], env);
    expect(promote.code, promote.stderr).to.equal(0);
    expect(promote.stdout).to.match(/^Promoted iris@1 to champion; promotion log row \d+ by carol\n$/);
    const history = await runCli(['models', 'history', 'iris', '-o', 'json'], env);
    expect(
      JSON.parse(history.stdout).map((p: Record<string, unknown>) => [
        p.action,
        p.from_version,
        p.to_version,
        p.actor,
        p.reason,
      ]),
    ).to.deep.equal([['promote', null, 1, 'carol', 'first']]);
    const lineage = await runCli(['lineage', 'iris@champion', '--format', 'mermaid'], env);
    expect(lineage.code, lineage.stderr).to.equal(0);
    expect(lineage.stdout).to.include('["train try 1"]');
    const bad = await runCli(['models', 'promote', 'iris', '1', '--alias', 'latest'], env);
    expect([bad.code, bad.stderr]).to.deep.equal([
      2,
      'Error: alias: expected an alias such as champion or challenger (a letter or _ first; not "latest", not a version like v3), got "latest"\n',
    ]);
  });
});
