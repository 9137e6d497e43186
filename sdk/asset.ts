/**
 * Assets in DAG files (Airflow 3's Asset), for task `outlets` and `schedule`:
 *
 *   const raw = Asset('s3://lake/raw/orders/', { group: 'lake', watchers: [{ type: 's3_prefix', pollInterval: '30s', awsConnId: 'lake' }] });
 *   const features = Asset('features', { uri: 'postgres://warehouse/ml/features' });
 *   dag({ dagId: 'train', schedule: [raw, features] }, (d) => { ... });
 *   d.task('build', fn, { outlets: [features] });
 *
 * Asset(nameOrUri) is Airflow's Asset(name): the uri defaults to the name and the name to the uri;
 * the uri is sanitized as Airflow does and a bad one throws at import, naming the field. A watcher
 * (folder or S3 prefix) turns new files or objects into events of the asset; by default it watches
 * the asset's own location (file:///dir, s3://bucket/prefix). Watchers run in the worker.
 */
import { AssetDefinitionError, normalizeAsset } from '../engine/assets/asset.js';
import { assetWatcherSpec, type AssetWatcherOptions } from '../engine/assets/watcher.js';
import type { AssetWatcherSpec } from '../spec/asset-watcher.js';
import type { AssetRef, Json } from '../spec/dag-spec.js';
import { toSeconds, type Duration } from './duration.js';

/** What a DAG file may pass where Airflow takes an Asset (outlets, asset schedules). */
export interface AssetLike {
  uri: string;
  name?: string;
}

const ASSET = Symbol.for('updraft.asset');

interface WatcherCommon {
  /** Unique across the deployment (keys the watcher's cursor). @default `<type>:<asset uri>` */
  name?: string;
  /** @default '10s' */
  pollInterval?: Duration;
  /** Whether what is already there when the watcher first looks fires. @default false */
  fireExisting?: boolean;
}

export type AssetWatcherDefinition =
  | (WatcherCommon & {
      type: 'folder';
      /** Absolute directory. @default the path of a file:// asset uri */
      path?: string;
      /** Python glob relative to path. @default '**\/*' (every file) */
      glob?: string;
      /** A file fires once unchanged this long (still being written: wait). @default '2s' */
      minAge?: Duration;
    })
  | (WatcherCommon & {
      type: 's3_prefix';
      /** @default the bucket of an s3:// asset uri */
      bucket?: string;
      /** @default the path of an s3:// asset uri, as a folder ('raw/orders/') */
      prefix?: string;
      /** S3-compatible endpoint. @default AWS, or the connection's endpoint_url */
      endpoint?: string;
      region?: string;
      forcePathStyle?: boolean;
      /** An `aws` connection with the credentials (login = access key id, password = secret). */
      awsConnId?: string;
    });

export interface AssetOptions {
  /** With a first argument that is the name: the uri (Airflow's Asset(name, uri)). */
  uri?: string;
  name?: string;
  /** @default 'asset' */
  group?: string;
  extra?: { [key: string]: Json };
  watchers?: AssetWatcherDefinition[];
}

/** An asset for outlets and schedules. */
export interface Asset extends AssetRef {
  readonly [ASSET]: true;
  /** Its watchers, as data (AssetWatcherService runs them). */
  readonly watchers: readonly AssetWatcherSpec[];
}

export function isAsset(v: unknown): v is Asset {
  return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[ASSET] === true;
}

/** Airflow 3's Asset(name | uri, *, group, extra, watchers). Throws AssetDefinitionError naming the field. */
export function Asset(
  nameOrUri: string | (AssetOptions & { uri?: string; name?: string }),
  options: AssetOptions = {},
): Asset {
  const o =
    typeof nameOrUri === 'string'
      ? {
          ...options,
          name: options.name ?? nameOrUri,
          uri: options.uri ?? (options.name !== undefined ? nameOrUri : undefined),
        }
      : { ...nameOrUri };
  const ref = normalizeAsset(
    { uri: o.uri, name: o.name, group: o.group, extra: o.extra },
    `Asset(${JSON.stringify(o.uri ?? o.name)})`,
  );
  if (o.watchers !== undefined && !Array.isArray(o.watchers))
    throw new AssetDefinitionError(`Asset('${ref.uri}').watchers must be an array of watcher definitions`, 'watchers');
  const watchers = (o.watchers ?? []).map((w, i) =>
    assetWatcherSpec(
      ref,
      watcherOptions(w, `Asset('${ref.uri}').watchers[${i}]`),
      `Asset('${ref.uri}').watchers[${i}]`,
    ),
  );
  return Object.freeze({ ...ref, watchers: Object.freeze(watchers), [ASSET]: true as const });
}

function watcherOptions(w: AssetWatcherDefinition, where: string): AssetWatcherOptions {
  if (w === null || typeof w !== 'object')
    throw new AssetDefinitionError(
      `${where}: expected { type: 'folder' | 's3_prefix', ... }, got ${w === null ? 'null' : typeof w}`,
      'watchers',
    );
  const seconds = (v: Duration | undefined, field: string): number | undefined => {
    if (v === undefined) return undefined;
    try {
      return toSeconds(v);
    } catch (err) {
      throw new AssetDefinitionError(`${where}.${field}: ${(err as Error).message}`, 'watchers');
    }
  };
  const { pollInterval, minAge, ...rest } = w as AssetWatcherDefinition & { minAge?: Duration };
  const out: AssetWatcherOptions = { ...rest };
  const poll = seconds(pollInterval, 'pollInterval');
  const age = seconds(minAge, 'minAge');
  if (poll !== undefined) out.pollInterval = poll;
  if (age !== undefined) out.minAge = age;
  return out;
}

/**
 * The watchers declared on the assets a DAG names (schedule and outlets), each once. Two different
 * watchers under one name are an error: the name keys the cursor.
 */
export function collectAssetWatchers(assets: readonly unknown[]): AssetWatcherSpec[] {
  const byName = new Map<string, AssetWatcherSpec>();
  for (const a of assets) {
    if (!isAsset(a)) continue;
    for (const w of a.watchers) {
      const seen = byName.get(w.name);
      if (seen !== undefined && JSON.stringify(seen) !== JSON.stringify(w)) {
        throw new AssetDefinitionError(
          `two different asset watchers are named '${w.name}'; give each its own name`,
          'watchers',
        );
      }
      byName.set(w.name, w);
    }
  }
  return [...byName.values()];
}
