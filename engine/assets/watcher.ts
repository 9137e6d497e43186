/**
 * Checking asset watcher definitions (spec/asset-watcher.ts) and filling their defaults from the
 * watched asset's uri: a `file://` asset is the folder, an `s3://bucket/prefix` asset the prefix.
 * Pure. Errors name the field: `watchers[0].glob: ...`.
 */
import type { AssetWatcherSpec, FolderWatcherSpec, S3PrefixWatcherSpec } from '../../spec/asset-watcher.js';
import { ASSET_WATCHER_TYPES } from '../../spec/asset-watcher.js';
import type { AssetRef } from '../../spec/dag-spec.js';
import { AssetDefinitionError, normalizeAsset, urlsplit } from './asset.js';

export const DEFAULT_POLL_INTERVAL_SECONDS = 10;
export const DEFAULT_FOLDER_MIN_AGE_SECONDS = 2;

/** What a DAG author writes (seconds already resolved from durations by the SDK). */
export interface AssetWatcherOptions {
  type: string;
  name?: string;
  pollInterval?: number;
  fireExisting?: boolean;
  /** folder */
  path?: string;
  glob?: string;
  minAge?: number;
  /** s3_prefix */
  bucket?: string;
  prefix?: string;
  endpoint?: string | null;
  region?: string | null;
  forcePathStyle?: boolean | null;
  awsConnId?: string | null;
}

/** A watcher for `asset` from an author's options; the location defaults to the asset's uri. */
export function assetWatcherSpec(asset: AssetRef, options: AssetWatcherOptions, where = 'watcher'): AssetWatcherSpec {
  if (options === null || typeof options !== 'object')
    throw new AssetDefinitionError(
      `${where}: expected watcher options like { type: 's3_prefix' }, got ${typeof options}`,
      'watchers',
    );
  const u = urlsplit(asset.uri, `${where}.asset`);
  const base = {
    name: options.name ?? `${options.type}:${asset.uri}`,
    asset,
    poll_interval: options.pollInterval ?? DEFAULT_POLL_INTERVAL_SECONDS,
    fire_existing: options.fireExisting ?? false,
  };
  if (options.type === 'folder') {
    const path = options.path ?? (u.scheme === 'file' ? decodeURIComponent(u.path) : undefined);
    if (path === undefined)
      bad(
        where,
        'path',
        `a folder watcher needs a path (or an asset uri of the form file:///absolute/dir), got asset '${asset.uri}'`,
      );
    return checkAssetWatcher(
      {
        ...base,
        type: 'folder',
        path,
        glob: options.glob ?? '**/*',
        min_age: options.minAge ?? DEFAULT_FOLDER_MIN_AGE_SECONDS,
      },
      where,
    );
  }
  if (options.type === 's3_prefix') {
    const fromUri = u.scheme === 's3' ? { bucket: u.netloc, prefix: folderPrefix(u.path) } : null;
    const bucket = options.bucket ?? fromUri?.bucket;
    if (bucket === undefined)
      bad(
        where,
        'bucket',
        `an s3_prefix watcher needs a bucket (or an asset uri of the form s3://bucket/prefix), got asset '${asset.uri}'`,
      );
    return checkAssetWatcher(
      {
        ...base,
        type: 's3_prefix',
        bucket,
        prefix: options.prefix ?? fromUri?.prefix ?? '',
        endpoint: options.endpoint ?? null,
        region: options.region ?? null,
        force_path_style: options.forcePathStyle ?? null,
        aws_conn_id: options.awsConnId ?? null,
      },
      where,
    );
  }
  return bad(
    where,
    'type',
    `unknown watcher type ${JSON.stringify(options.type)} (expected ${ASSET_WATCHER_TYPES.map((t) => `'${t}'`).join(' or ')})`,
  );
}

/** The uri's path as a folder prefix: `/raw/2026` → `raw/2026/` (Airflow drops the trailing slash from asset uris). */
function folderPrefix(path: string): string {
  const p = path.replace(/^\/+/, '');
  return p === '' ? '' : `${p.replace(/\/+$/, '')}/`;
}

/** Checks a watcher definition given as data (e.g. read back from a DAG spec); returns a clean copy. */
export function checkAssetWatcher(value: unknown, where = 'watcher'): AssetWatcherSpec {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return bad(
      where,
      'watchers',
      `expected a watcher definition object, got ${value === null ? 'null' : typeof value}`,
    );
  const v = value as Record<string, unknown>;
  const name = str(v, 'name', where);
  if (name.trim() === '' || name.length > 250)
    bad(where, 'name', `must be a non-empty string of at most 250 characters, got ${JSON.stringify(name)}`);
  let asset: AssetRef;
  try {
    asset = normalizeAsset(v.asset as AssetRef, `${where}.asset`);
  } catch (err) {
    if (err instanceof AssetDefinitionError) throw new AssetDefinitionError(err.message, 'watchers');
    throw err;
  }
  const poll_interval = num(v, 'poll_interval', where, 0.05);
  const fire_existing = bool(v, 'fire_existing', where);
  const base = { name, asset, poll_interval, fire_existing };
  if (v.type === 'folder') {
    const path = str(v, 'path', where);
    if (!path.startsWith('/')) bad(where, 'path', `must be an absolute directory, got '${path}'`);
    const glob = str(v, 'glob', where);
    if (glob === '' || glob.startsWith('/') || glob.split('/').includes('..'))
      bad(
        where,
        'glob',
        `must be a pattern relative to path without '..', like '*.csv' or '**/*.parquet', got '${glob}'`,
      );
    const spec: FolderWatcherSpec = {
      ...base,
      type: 'folder',
      path: path.length > 1 ? path.replace(/\/+$/, '') : path,
      glob,
      min_age: num(v, 'min_age', where, 0),
    };
    return spec;
  }
  if (v.type === 's3_prefix') {
    const bucket = str(v, 'bucket', where);
    if (!/^[a-z0-9][a-z0-9.\-_]{2,254}$/i.test(bucket))
      bad(where, 'bucket', `'${bucket}' is not a bucket name (letters, digits, '.', '-', '_'; 3 to 255 characters)`);
    const prefix = str(v, 'prefix', where);
    if (prefix.startsWith('/')) bad(where, 'prefix', `an S3 key prefix does not start with '/', got '${prefix}'`);
    const endpoint = optStr(v, 'endpoint', where);
    if (endpoint !== null && !/^https?:\/\/[^/]+/.test(endpoint))
      bad(where, 'endpoint', `must be an http(s) URL like http://127.0.0.1:9000, got '${endpoint}'`);
    const force = v.force_path_style;
    if (force !== null && force !== undefined && typeof force !== 'boolean')
      bad(where, 'force_path_style', `expected true, false or null, got ${typeof force}`);
    const spec: S3PrefixWatcherSpec = {
      ...base,
      type: 's3_prefix',
      bucket,
      prefix,
      endpoint,
      region: optStr(v, 'region', where),
      force_path_style: (force as boolean | null | undefined) ?? null,
      aws_conn_id: optStr(v, 'aws_conn_id', where),
    };
    return spec;
  }
  return bad(
    where,
    'type',
    `unknown watcher type ${JSON.stringify(v.type)} (expected ${ASSET_WATCHER_TYPES.map((t) => `'${t}'`).join(' or ')})`,
  );
}

/** Several definitions: each checked, names unique. */
export function checkAssetWatchers(values: readonly unknown[], where = 'watchers'): AssetWatcherSpec[] {
  const out = values.map((v, i) => checkAssetWatcher(v, `${where}[${i}]`));
  const seen = new Map<string, number>();
  out.forEach((w, i) => {
    const first = seen.get(w.name);
    if (first !== undefined)
      bad(
        `${where}[${i}]`,
        'name',
        `watcher name '${w.name}' is also used by ${where}[${first}]; names key the cursor and the lease, so each watcher needs its own`,
      );
    seen.set(w.name, i);
  });
  return out;
}

function bad(where: string, field: string, why: string): never {
  throw new AssetDefinitionError(`${where}.${field}: ${why}`, 'watchers');
}

function str(v: Record<string, unknown>, field: string, where: string): string {
  const x = v[field];
  if (typeof x !== 'string') bad(where, field, `expected a string, got ${x === null ? 'null' : typeof x}`);
  return x as string;
}

function optStr(v: Record<string, unknown>, field: string, where: string): string | null {
  const x = v[field];
  if (x === undefined || x === null) return null;
  if (typeof x !== 'string' || x === '')
    bad(where, field, `expected a non-empty string or null, got ${JSON.stringify(x)}`);
  return x as string;
}

function num(v: Record<string, unknown>, field: string, where: string, min: number): number {
  const x = v[field];
  if (typeof x !== 'number' || !Number.isFinite(x) || x < min)
    bad(where, field, `expected a number of seconds >= ${min}, got ${JSON.stringify(x)}`);
  return x as number;
}

function bool(v: Record<string, unknown>, field: string, where: string): boolean {
  const x = v[field];
  if (typeof x !== 'boolean') bad(where, field, `expected true or false, got ${JSON.stringify(x)}`);
  return x as boolean;
}

/**
 * The watchers a set of DAGs declares, each once: an asset (and its watcher) imported by several
 * DAG files is one watcher. Two different definitions under one name are a conflict: the first (by
 * dag_id) is kept, and the conflict is reported.
 */
export function declaredWatchers(
  dags: ReadonlyArray<{ dag_id: string; asset_watchers?: readonly AssetWatcherSpec[] }>,
): { watchers: AssetWatcherSpec[]; conflicts: string[] } {
  const byName = new Map<string, { spec: AssetWatcherSpec; dagId: string }>();
  const conflicts: string[] = [];
  for (const d of [...dags].sort((a, b) => (a.dag_id < b.dag_id ? -1 : a.dag_id > b.dag_id ? 1 : 0))) {
    for (const w of d.asset_watchers ?? []) {
      const seen = byName.get(w.name);
      if (seen === undefined) byName.set(w.name, { spec: w, dagId: d.dag_id });
      else if (JSON.stringify(seen.spec) !== JSON.stringify(w)) {
        conflicts.push(
          `asset watcher '${w.name}' is defined differently by DAG "${seen.dagId}" and DAG "${d.dag_id}"; the one of "${seen.dagId}" runs (give each its own name)`,
        );
      }
    }
  }
  return { watchers: [...byName.values()].map((v) => v.spec), conflicts };
}
