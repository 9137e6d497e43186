/**
 * Asset definitions against real Airflow (test/fixtures/assets/generate.py → airflow-assets.json):
 * the name, sanitized uri and group Airflow's Asset() makes of each input, or its error; and the
 * watcher definitions' checks.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { AssetDefinitionError, assetExtra, normalizeAsset, sanitizeAssetUri } from '../../engine/assets/asset.js';
import { assetWatcherSpec, checkAssetWatcher, checkAssetWatchers } from '../../engine/assets/watcher.js';

const FIXTURE = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'assets', 'airflow-assets.json');

interface Row {
  input: { name?: string; uri?: string; group?: string };
  name?: string;
  uri?: string;
  group?: string;
  error?: string;
}

const fixture = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { airflow_version: string; rows: Row[] };

/** Airflow without the amazon provider accepts this; with it (as Updraft behaves), s3 needs a bucket. */
const PROVIDER_RULES: Record<string, string> = { 's3:///no-bucket': 'URI format s3:// must contain a bucket name' };

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe(`assets: Asset() as Airflow ${fixture.airflow_version} makes it`, function () {
  for (const row of fixture.rows) {
    const label = JSON.stringify(row.input).slice(0, 90);
    const providerRule = row.input.uri !== undefined ? PROVIDER_RULES[row.input.uri] : undefined;
    if (providerRule !== undefined) {
      it(`${label} → error (the provider's rule: ${providerRule})`, function () {
        const err = thrown(() => normalizeAsset(row.input));
        expect(err).to.be.instanceOf(AssetDefinitionError);
        expect(err.message).to.contain(providerRule);
      });
    } else if (row.error !== undefined) {
      it(`${label} → ${row.error}`, function () {
        const err = thrown(() => normalizeAsset(row.input));
        expect(err).to.be.instanceOf(AssetDefinitionError);
        // Airflow's message after "ValueError: Asset <field> " is in ours (which names the field path).
        const core = row.error!.replace(/^\w+Error: /, '').replace(/^Asset (name|uri|group) /, '');
        expect(err.message.toLowerCase()).to.contain(core.toLowerCase());
      });
    } else {
      it(`${label} → ${row.uri}`, function () {
        const a = normalizeAsset(row.input);
        expect({ name: a.name, uri: a.uri, group: a.group ?? 'asset' }).to.deep.equal({
          name: row.name,
          uri: row.uri,
          group: row.group,
        });
      });
    }
  }

  it('leaves group and extra out of the spec when they are the defaults (existing spec hashes stay)', function () {
    expect(normalizeAsset({ uri: 's3://b/raw/' })).to.deep.equal({ uri: 's3://b/raw', name: 's3://b/raw/' });
    expect(normalizeAsset({ uri: 's3://b/raw', group: 'ml', extra: { owner: 'data' } })).to.deep.equal({
      uri: 's3://b/raw',
      name: 's3://b/raw',
      group: 'ml',
      extra: { owner: 'data' },
    });
  });

  it('accepts only JSON objects as extra, naming the bad part', function () {
    expect(assetExtra(null, 'extra')).to.deep.equal({});
    expect(assetExtra({ a: [1, 'x', null, { b: true }] }, 'extra')).to.deep.equal({ a: [1, 'x', null, { b: true }] });
    expect(thrown(() => assetExtra([1], 'extra')).message).to.contain('extra must be a JSON object');
    expect(thrown(() => assetExtra({ when: new Date(0) }, 'extra')).message).to.contain('extra.when is a Date');
    expect(thrown(() => assetExtra({ n: Number.NaN }, 'extra')).message).to.contain('extra.n is NaN');
    expect(thrown(() => assetExtra({ f: () => 1 }, 'extra')).message).to.contain('extra.f is function');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(thrown(() => assetExtra(cyclic, 'extra')).message).to.contain('extra.self refers back to itself');
  });

  it('names the field of a bad uri', function () {
    const err = thrown(() => sanitizeAssetUri('airflow://x', 'outlets[0].uri')) as AssetDefinitionError;
    expect(err.field).to.equal('uri');
    expect(err.message).to.match(/^outlets\[0\]\.uri: asset scheme 'airflow' is reserved/);
  });
});

describe('assets: watcher definitions', function () {
  const asset = normalizeAsset({ uri: 's3://landing/raw/2026/' });

  it('takes bucket and prefix from an s3 asset uri, as a folder prefix', function () {
    const w = assetWatcherSpec(asset, { type: 's3_prefix', pollInterval: 5 });
    expect(w).to.deep.equal({
      name: 's3_prefix:s3://landing/raw/2026',
      asset,
      poll_interval: 5,
      fire_existing: false,
      type: 's3_prefix',
      bucket: 'landing',
      prefix: 'raw/2026/',
      endpoint: null,
      region: null,
      force_path_style: null,
      aws_conn_id: null,
    });
  });

  it('takes the folder from a file:// asset uri', function () {
    const w = assetWatcherSpec(normalizeAsset({ uri: 'file:///data/in%20box/' }), {
      type: 'folder',
      glob: '*.csv',
      minAge: 0,
    });
    expect(w).to.include({ type: 'folder', path: '/data/in box', glob: '*.csv', min_age: 0, poll_interval: 10 });
  });

  it('names the field of bad definitions', function () {
    const cases: Array<[unknown, string]> = [
      [{ type: 'ftp' }, "watcher.type: unknown watcher type \"ftp\" (expected 'folder' or 's3_prefix')"],
      [{ type: 'folder' }, 'watcher.path: a folder watcher needs a path'],
      [{ type: 'folder', path: 'relative/dir' }, "watcher.path: must be an absolute directory, got 'relative/dir'"],
      [
        { type: 'folder', path: '/d', glob: '../*.csv' },
        "watcher.glob: must be a pattern relative to path without '..'",
      ],
      [
        { type: 'folder', path: '/d', pollInterval: 0 },
        'watcher.poll_interval: expected a number of seconds >= 0.05, got 0',
      ],
      [
        { type: 's3_prefix', bucket: 'bkt', endpoint: 'localhost:9000' },
        "watcher.endpoint: must be an http(s) URL like http://127.0.0.1:9000, got 'localhost:9000'",
      ],
      [
        { type: 's3_prefix', bucket: 'bkt', prefix: '/abs' },
        "watcher.prefix: an S3 key prefix does not start with '/'",
      ],
    ];
    const plain = normalizeAsset({ name: 'orders' });
    for (const [options, message] of cases) {
      const err = thrown(() => assetWatcherSpec(plain, options as never));
      expect(err, JSON.stringify(options)).to.be.instanceOf(AssetDefinitionError);
      expect(err.message, JSON.stringify(options)).to.contain(message);
    }
  });

  it('round-trips through checkAssetWatcher and rejects two watchers with one name', function () {
    const w = assetWatcherSpec(asset, { type: 's3_prefix' });
    expect(checkAssetWatcher(JSON.parse(JSON.stringify(w)))).to.deep.equal(w);
    expect(thrown(() => checkAssetWatchers([w, w])).message).to.contain(
      "watchers[1].name: watcher name 's3_prefix:s3://landing/raw/2026' is also used by watchers[0]",
    );
  });
});
