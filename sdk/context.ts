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

/** A metric/param value as MLflow keeps params: a string (≤ 6000 characters), a finite number or a boolean. */
export type ParamValue = string | number | boolean;

/** The body of an artifact reference: content-addressed bytes in the worker's artifact store. */
export interface ArtifactRefBody {
  sha256: string;
  /** `file:///...` or `s3://bucket/key`. */
  uri: string;
  name: string;
  type: 'model' | 'dataset' | 'report' | 'other';
  format?: string;
  size: number;
  /** On a registered model output: the version it became. */
  model_version?: { model: string; version: number };
}

/** What travels in XCom between tasks for an artifact: `{"$artifact": {...}}`. */
export interface ArtifactRef {
  $artifact: ArtifactRefBody;
}

/** ctx.logArtifact's argument: a file (`path`) or `bytes`, and what it is. */
export interface LogArtifactOptions {
  /** Unique per try; names match [A-Za-z0-9_.-/]{1,250}. */
  name: string;
  path?: string;
  bytes?: Uint8Array | string;
  type: 'model' | 'dataset' | 'report' | 'other';
  /** A short lower-case format name: onnx, csv, parquet, json, ... */
  format?: string;
  metadata?: { [key: string]: Json };
  /** Registers a new version of this model when the try succeeds (type 'model' only). */
  register?: { model: string; signature?: { inputs?: Json[]; outputs?: Json[] } };
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
  /** Airflow 3's run_after: when the run was due (a scheduled run: its fire time; a manual run: when it was triggered). */
  runAfter: Date | null;
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
  /**
   * Records a metric of this try (MLflow's rules: name [A-Za-z0-9_.-/]{1,250}, a finite value,
   * step an integer >= 0, default 0). Repeat a name with other steps for a curve.
   */
  logMetric(name: string, value: number, step?: number): void;
  /** Records a param of this try (a later value of the same name replaces the earlier one). */
  logParam(name: string, value: ParamValue): void;
  logParams(params: Record<string, ParamValue>): void;
  /**
   * Puts a file or bytes into the artifact store (content-addressed: the same bytes are stored once)
   * and records it as an output of this try; returns the reference to return for downstream tasks.
   */
  logArtifact(artifact: LogArtifactOptions): Promise<ArtifactRef>;
  /** A local file holding an input artifact's bytes (fetched from the store, hash-checked). */
  artifactPath(ref: ArtifactRef): Promise<string>;
}
