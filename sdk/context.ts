/**
 * What an in-process task function receives besides its input. Mirrors the Airflow context
 * (dag_id, task_id, run_id, logical_date, ds, try_number, map_index, params, conf,
 * triggering_asset_events, outlet_events).
 */
import type { AssetEventInfo } from '../spec/asset.js';
import type { Json } from '../spec/dag-spec.js';
import type { AssetLike } from './asset.js';

export type { AssetEventInfo } from '../spec/asset.js';

/** Airflow's outlet_events: the event each of the task's outlets records when the try succeeds. */
export interface OutletEventAccessors {
  /**
   * The outlet's pending event; set or fill its `extra` (a JSON object). The asset is one of the
   * task's `outlets`, named by the Asset itself or its uri (written any way Airflow sanitizes to the
   * same uri); another asset is an error naming the outlets.
   */
  get(asset: AssetLike | string): { extra: Record<string, Json> };
}

export interface TaskLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface TaskContext {
  dagId: string;
  taskId: string;
  runId: string;
  /** The run's logical date; null for runs without one. */
  logicalDate: Date | null;
  /** logical_date as YYYY-MM-DD (Airflow's `ds`); null without a logical date. */
  ds: string | null;
  dataIntervalStart: Date | null;
  dataIntervalEnd: Date | null;
  /** 1 on the first try, incremented by retries and clears. */
  tryNumber: number;
  /** -1 for unmapped tasks. */
  mapIndex: number;
  params: Record<string, Json>;
  conf: Record<string, Json>;
  log: TaskLogger;
  /** Fires when the task is cancelled or times out; long work should stop when it does. */
  signal: AbortSignal;
  /** Tells the worker the task is alive (it is also done for you periodically). */
  heartbeat(): void;
  /**
   * Airflow's triggering_asset_events: in an asset-triggered run, the events that started it by
   * asset uri, oldest first; {} in any other run.
   */
  triggeringAssetEvents: Record<string, AssetEventInfo[]>;
  /** Airflow's outlet_events: the extra each outlet's event carries when this try succeeds. */
  outletEvents: OutletEventAccessors;
}
