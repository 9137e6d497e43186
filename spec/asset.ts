import type { Json } from './json.js';

/**
 * An asset (Airflow 3's Asset): identified by its sanitized uri (engine/assets/asset.ts).
 * `group` and `extra` are absent when they hold the defaults ('asset', {}).
 */
export interface AssetRef {
  uri: string;
  name: string;
  group?: string;
  extra?: { [key: string]: Json };
}

/**
 * One asset event as a run's context shows it (Airflow's AssetEvent in `triggering_asset_events`):
 * the asset, the event's extra, who made it, and when (`timestamp`, ISO 8601 UTC).
 */
export interface AssetEventInfo {
  id: number;
  asset: { uri: string; name: string; group: string };
  extra: { [key: string]: Json };
  /** 'task', 'api', 'cli' or 'watcher'. */
  source_kind: string;
  source_dag_id: string | null;
  source_run_id: string | null;
  source_task_id: string | null;
  source_map_index: number | null;
  /** The watcher's name for an event a watcher made. */
  source_watcher: string | null;
  timestamp: string;
}
