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
