/**
 * Assets in DAG files: Asset() as Airflow's, outlets and schedules sanitized alike (so a DAG
 * scheduled on `s3://b/raw/` waits for the task whose outlet is `s3://b/raw`), watchers declared on
 * assets compiled into the spec, and import errors naming the DAG, task and field.
 */
import { expect } from 'chai';
import { AssetDefinitionError } from '../../../engine/assets/asset.js';
import { Asset } from '../../../sdk/asset.js';
import { compileDag } from '../../../sdk/compile.js';
import { dag } from '../../../sdk/dag.js';
import { DagDefinitionError } from '../../../sdk/errors.js';
import type { DagOptions, TaskOptions } from '../../../sdk/options.js';
import { AssetAll, AssetAny } from '../../../sdk/timetables.js';
import type { DagSpec } from '../../../spec/dag-spec.js';

function compile(options: Omit<DagOptions, 'dagId'>, taskOptions: Partial<TaskOptions> = {}): DagSpec {
  return compileDag(
    dag({ dagId: 'assets_dag', ...options }, (d) => void d.task({ taskId: 'load', ...taskOptions }, () => 1)),
    'assets_dag.ts',
  ).spec;
}

function importError(fn: () => unknown): DagDefinitionError {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(DagDefinitionError);
    return err as DagDefinitionError;
  }
  throw new Error('expected an import error');
}

describe('sdk: assets', function () {
  it("Asset(nameOrUri) is Airflow's Asset(name): uri and name default to each other; Asset(name, { uri })", function () {
    expect(Asset('s3://lake/raw/')).to.deep.include({ uri: 's3://lake/raw', name: 's3://lake/raw/', watchers: [] });
    expect(Asset('orders', { uri: 's3://lake/orders/', group: 'lake', extra: { team: 'data' } })).to.deep.include({
      name: 'orders',
      uri: 's3://lake/orders',
      group: 'lake',
      extra: { team: 'data' },
    });
    expect(Asset({ uri: 'file:///landing/', name: 'landing' })).to.deep.include({
      uri: 'file:///landing',
      name: 'landing',
    });
    expect(() => Asset('airflow://x')).to.throw(AssetDefinitionError, "asset scheme 'airflow' is reserved");
    expect(() => Asset('s3://lake/x', { extra: { at: new Date(0) } as never })).to.throw(
      AssetDefinitionError,
      '.extra.at is a Date',
    );
  });

  it('outlets and schedules name the same asset however its uri is written', function () {
    const spec = compile(
      { schedule: [Asset('s3://lake/raw/'), { uri: 'S3://lake/features//' }] },
      { outlets: [{ uri: 's3://lake/raw' }, Asset('model', { uri: 's3://lake/model/', group: 'ml' })] },
    );
    expect(spec.tasks[0]!.outlets).to.deep.equal([
      { uri: 's3://lake/raw', name: 's3://lake/raw' },
      { uri: 's3://lake/model', name: 'model', group: 'ml' },
    ]);
    expect(spec.timetable).to.deep.equal({
      type: 'assets',
      condition: {
        type: 'all',
        conditions: [
          { type: 'asset', uri: 's3://lake/raw', name: 's3://lake/raw/' },
          { type: 'asset', uri: 's3://lake/features', name: 'S3://lake/features//' },
        ],
      },
    });
    const nested = compile({ schedule: AssetAll(Asset('s3://lake/a/'), AssetAny({ uri: 's3://lake/b/' })) });
    expect(nested.schedule).to.equal('s3://lake/a & s3://lake/b');
  });

  it('a DAG without assets keeps its spec shape (no new fields, same hash inputs)', function () {
    const spec = compile({}, { outlets: [{ uri: 's3://lake/x', name: 's3://lake/x' }] });
    expect(spec).to.not.have.property('asset_watchers');
    expect(spec.tasks[0]!.outlets).to.deep.equal([{ uri: 's3://lake/x', name: 's3://lake/x' }]);
  });

  it('watchers declared on scheduled and produced assets compile into the spec, each once', function () {
    const raw = Asset('s3://lake/raw/', { watchers: [{ type: 's3_prefix', pollInterval: '30s', awsConnId: 'lake' }] });
    const drop = Asset('file:///data/drop/', { watchers: [{ type: 'folder', glob: '*.csv', minAge: '5s' }] });
    const spec = compile({ schedule: [raw, drop] }, { outlets: [raw] });
    expect(spec.asset_watchers).to.deep.equal([
      {
        name: 's3_prefix:s3://lake/raw',
        asset: { uri: 's3://lake/raw', name: 's3://lake/raw/' },
        poll_interval: 30,
        fire_existing: false,
        type: 's3_prefix',
        bucket: 'lake',
        prefix: 'raw/',
        endpoint: null,
        region: null,
        force_path_style: null,
        aws_conn_id: 'lake',
      },
      {
        name: 'folder:file:///data/drop',
        asset: { uri: 'file:///data/drop', name: 'file:///data/drop/' },
        poll_interval: 10,
        fire_existing: false,
        type: 'folder',
        path: '/data/drop',
        glob: '*.csv',
        min_age: 5,
      },
    ]);
  });

  it('bad assets are import errors naming the DAG, the task and the field', function () {
    const outlet = importError(() => compile({}, { outlets: [{ uri: 'airflow://reserved' }] }));
    expect(outlet).to.include({ dagId: 'assets_dag', taskId: 'load', field: 'outlets' });
    expect(outlet.message).to.contain("outlets[0].uri: asset scheme 'airflow' is reserved");
    expect(importError(() => compile({}, { outlets: [null as never] })).message).to.contain(
      "outlets[0] must be an asset (Asset('s3://bucket/path') or { uri }), got null",
    );
    const sched = importError(() => compile({ schedule: [{ uri: 's3:///no-bucket' }] }));
    expect(sched).to.include({ field: 'schedule' });
    expect(sched.message).to.contain('URI format s3:// must contain a bucket name');
    const w1 = Asset('s3://lake/a', { watchers: [{ type: 's3_prefix', name: 'same' }] });
    const w2 = Asset('s3://lake/b', { watchers: [{ type: 's3_prefix', name: 'same' }] });
    const clash = importError(() => compile({ schedule: [w1, w2] }));
    expect(clash).to.include({ field: 'watchers' });
    expect(clash.message).to.contain("two different asset watchers are named 'same'");
    expect(() => Asset('s3://lake/a', { watchers: [{ type: 'folder' }] })).to.throw(
      AssetDefinitionError,
      "Asset('s3://lake/a').watchers[0].path: a folder watcher needs a path",
    );
    expect(() => Asset('s3://lake/a', { watchers: [{ type: 's3_prefix', pollInterval: 'soon' }] })).to.throw(
      AssetDefinitionError,
      "Asset('s3://lake/a').watchers[0].pollInterval:",
    );
  });
});
