/**
 * Asset watchers as data (Airflow 3's AssetWatcher: a named poller that turns the outside world
 * into events of one asset). engine/assets/watcher.ts checks them; worker/asset-watchers/ runs them.
 * Durations are seconds.
 */
import type { AssetRef } from './asset.js';

export const ASSET_WATCHER_TYPES = ['folder', 's3_prefix'] as const;
export type AssetWatcherType = (typeof ASSET_WATCHER_TYPES)[number];

interface AssetWatcherBase {
  /** Unique across the deployment: its cursor and its lease are keyed by it. */
  name: string;
  /** The asset its events belong to. */
  asset: AssetRef;
  /** Seconds between two looks. */
  poll_interval: number;
  /**
   * Whether what is already there on the watcher's very first look fires events. false: that is
   * the baseline, and only what arrives afterwards fires.
   */
  fire_existing: boolean;
}

/** New (or rewritten) files under `path` matching `glob` → one event each: path, size, mtime. */
export interface FolderWatcherSpec extends AssetWatcherBase {
  type: 'folder';
  /** Absolute directory. */
  path: string;
  /** Python glob rules relative to `path`; `**` spans directories. */
  glob: string;
  /** A file fires once its mtime is at least this many seconds old (a file still being written waits). */
  min_age: number;
}

/** New (or overwritten) objects under an S3-compatible prefix → one event each: key, etag, size. */
export interface S3PrefixWatcherSpec extends AssetWatcherBase {
  type: 's3_prefix';
  bucket: string;
  /** Key prefix ('' for the whole bucket). */
  prefix: string;
  /** S3-compatible endpoint URL; null: AWS (or the connection's endpoint_url). */
  endpoint: string | null;
  /** null: the connection's region_name, else us-east-1. */
  region: string | null;
  /** Path-style addressing (most S3-compatible servers need it); null: true when an endpoint is set. */
  force_path_style: boolean | null;
  /** An Airflow-style `aws` connection (login = access key id, password = secret, extra endpoint_url/region_name); null: the AWS SDK's default credentials. */
  aws_conn_id: string | null;
}

export type AssetWatcherSpec = FolderWatcherSpec | S3PrefixWatcherSpec;
