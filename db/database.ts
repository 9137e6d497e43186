import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { DagSpec } from '../spec/dag-spec.js';

/**
 * Table types for the Postgres record. Columns are snake_case, as in Airflow's metadata database
 * and REST API. Migrations in `migrations/` define the schema; these types must follow them.
 */

/**
 * JSON text headed for a json/jsonb parameter, made only by `toJsonb` (db/json.ts). `pg` turns a
 * JS array parameter into a Postgres array literal (`{1,2}`), which is not JSON; sending JSON text
 * behaves the same on both drivers. The brand makes the compiler reject a raw value.
 */
export type JsonText = string & { readonly __jsonText: unique symbol };

/** A jsonb column: parsed JSON when read, JSON text when written. */
export type Jsonb<T, Insert extends JsonText | undefined = JsonText> = ColumnType<T, Insert, JsonText>;
/** A nullable jsonb column (null when absent). */
export type NullableJsonb<T> = ColumnType<T | null, JsonText | null | undefined, JsonText | null>;

/** A timestamptz column: a Date when read; a Date or an ISO string when written. */
export type Timestamp = ColumnType<Date, Date | string, Date | string>;
export type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
/** A timestamptz column with a `now()` default. */
export type TimestampDefaultNow = ColumnType<Date, Date | string | undefined, Date | string>;

/** Any JSON value as it comes back from a jsonb column. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface DagTable {
  dag_id: string;
  fileloc: string;
  owners: string;
  description: string | null;
  tags: Jsonb<string[], JsonText | undefined>;
  schedule: string | null;
  is_paused: ColumnType<boolean, boolean | undefined, boolean>;
  is_active: ColumnType<boolean, boolean | undefined, boolean>;
  latest_version_id: number | null;
  last_parsed_at: TimestampDefaultNow;
  /** The current definition's max_active_runs (null: stored before it was kept; 16 applies). */
  max_active_runs: ColumnType<number | null, number | null | undefined, number | null>;
}

export interface DagVersionTable {
  id: Generated<number>;
  dag_id: string;
  version_number: number;
  spec_hash: string;
  /** The compiled spec as upsertDagVersion wrote it (spec_version says which format). */
  spec: Jsonb<DagSpec>;
  /** The dag_code the version was parsed from; null for versions stored before code was kept. */
  code_hash: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: TimestampDefaultNow;
}

/** A DAG file's bundled code (esbuild output with its local imports), by content hash. */
export interface DagCodeTable {
  code_hash: string;
  /** The file it was bundled from, relative to the DAGs folder. */
  fileloc: string;
  bundle: string;
  created_at: TimestampDefaultNow;
}

export interface DagRunTable {
  id: Generated<number>;
  dag_id: string;
  run_id: string;
  dag_version_id: number | null;
  state: string;
  run_type: string;
  logical_date: NullableTimestamp;
  data_interval_start: NullableTimestamp;
  data_interval_end: NullableTimestamp;
  conf: Jsonb<{ [key: string]: JsonValue }, JsonText | undefined>;
  queued_at: NullableTimestamp;
  start_date: NullableTimestamp;
  end_date: NullableTimestamp;
  workflow_id: string;
  last_error: string | null;
  updated_at: TimestampDefaultNow;
  /** Airflow 3's run_after: when an automated run may start (a manual run: when it was triggered). */
  run_after: NullableTimestamp;
  /** The backfill that created the run. */
  backfill_id: ColumnType<number | null, number | null | undefined, number | null>;
  /** Who asked for the run (Airflow 3's triggered_by: cli, test, timetable, asset, backfill); null before it was kept. */
  triggered_by: ColumnType<string | null, string | null | undefined, string | null>;
}

/** One `updraft backfill create` (Airflow 3's backfill table). */
export interface BackfillTable {
  id: Generated<number>;
  dag_id: string;
  from_date: Timestamp;
  to_date: Timestamp;
  run_backwards: ColumnType<boolean, boolean | undefined, boolean>;
  max_active_runs: number;
  reprocess_behavior: string;
  dag_run_conf: Jsonb<{ [key: string]: JsonValue }, JsonText | undefined>;
  created_at: TimestampDefaultNow;
  completed_at: NullableTimestamp;
}

export interface TaskInstanceTable {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: ColumnType<number, number | undefined, number>;
  /** NULL is Airflow's "no status" (created, not yet scheduled). */
  state: string | null;
  try_number: ColumnType<number, number | undefined, number>;
  max_tries: ColumnType<number, number | undefined, number>;
  start_date: NullableTimestamp;
  end_date: NullableTimestamp;
  /** Seconds, as in Airflow. */
  duration: number | null;
  hostname: string | null;
  executor: string | null;
  operator: string | null;
  queue: string | null;
  pool: ColumnType<string, string | undefined, string>;
  pool_slots: ColumnType<number, number | undefined, number>;
  priority_weight: ColumnType<number, number | undefined, number>;
  exit_code: number | null;
  /** What the executor ran the try as: a pid, a container name, a Kubernetes Job name. */
  external_id: string | null;
  error: string | null;
  /** GPU device ids the try ran with, comma-separated (migration 000003). */
  gpu_devices: ColumnType<string | null, string | null | undefined, string | null>;
  updated_at: TimestampDefaultNow;
}

/** One row per try of a task instance; the task_instance row mirrors the latest try. */
export interface TaskInstanceHistoryTable {
  id: Generated<number>;
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  state: string;
  start_date: NullableTimestamp;
  end_date: NullableTimestamp;
  duration: number | null;
  hostname: string | null;
  executor: string | null;
  exit_code: number | null;
  external_id: string | null;
  error: string | null;
  gpu_devices: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface XComTable {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  key: string;
  value: Jsonb<JsonValue>;
  size_bytes: number;
  created_at: TimestampDefaultNow;
}

export const LOG_STREAMS = ['stdout', 'stderr', 'system'] as const;
export type LogStream = (typeof LOG_STREAMS)[number];

export interface TaskLogTable {
  id: Generated<number>;
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  ts: TimestampDefaultNow;
  stream: LogStream;
  line: string;
}

export interface ImportErrorTable {
  id: Generated<number>;
  filename: string;
  stacktrace: string;
  timestamp: TimestampDefaultNow;
}

/** An Airflow Variable; `val` is ciphertext when is_encrypted (see secrets/). */
export interface VariableTable {
  key: string;
  val: string;
  is_encrypted: ColumnType<boolean, boolean | undefined, boolean>;
  description: string | null;
}

/**
 * The fields of an Airflow Connection, declared once: the table stores them, secrets/store.ts
 * reads and writes them in clear, secrets/connection-uri.ts maps them to and from a URI, templates
 * and the CLI show them.
 */
export interface ConnectionFields {
  conn_type: string;
  host: string | null;
  schema: string | null;
  login: string | null;
  password: string | null;
  port: number | null;
  /** JSON text of an object. */
  extra: string | null;
}

/** An Airflow Connection; password and extra are ciphertext when their flags are set. */
export interface ConnectionTable extends ConnectionFields {
  conn_id: string;
  description: string | null;
  is_encrypted: ColumnType<boolean, boolean | undefined, boolean>;
  is_extra_encrypted: ColumnType<boolean, boolean | undefined, boolean>;
}

/** A pool (Airflow's slot_pool); slots -1 is unlimited (migration 000004). */
export interface SlotPoolTable {
  pool: string;
  slots: number;
  description: string | null;
  include_deferred: ColumnType<boolean, boolean | undefined, boolean>;
}

/** A try's request for, or hold on, pool slots (see migration 000004 and db/pool.repository.ts). */
export interface TaskSlotGrantTable {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  pool: string;
  slots: number;
  priority_weight: number;
  state: 'queued' | 'granted';
  requested_at: TimestampDefaultNow;
  granted_at: NullableTimestamp;
  heartbeat_at: TimestampDefaultNow;
  lease_seconds: number;
  max_active_tasks: number;
  max_active_tis_per_dag: number | null;
  hostname: string | null;
}

/** One reschedule of a sensor in reschedule mode (Airflow's task_reschedule). */
export interface TaskRescheduleTable {
  id: Generated<number>;
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  try_number: number;
  start_date: Timestamp;
  end_date: Timestamp;
  duration: number;
  reschedule_date: Timestamp;
}

export const ARTIFACT_TYPES = ['model', 'dataset', 'report', 'other'] as const;
export type ArtifactType = (typeof ARTIFACT_TYPES)[number];

/** A content-addressed artifact under a name and type (migration 2026_12_06_000005_ml_lineage; docs/lineage.md). */
export interface ArtifactTable {
  id: Generated<number>;
  sha256: string;
  uri: string;
  name: string;
  type: ArtifactType;
  format: string | null;
  size: number;
  metadata: Jsonb<{ [key: string]: JsonValue }, JsonText | undefined>;
  created_at: TimestampDefaultNow;
}

export const EXECUTION_STATES = ['running', 'success', 'failed', 'skipped', 'cached'] as const;
export type ExecutionState = (typeof EXECUTION_STATES)[number];

/** One task try as an MLMD Execution; the DAG run (dag_id, run_id) is its Context. */
export interface ExecutionTable {
  id: Generated<number>;
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: ColumnType<number, number | undefined, number>;
  try_number: number;
  state: ExecutionState;
  dag_version_id: number | null;
  code_version: string | null;
  params: Jsonb<{ [key: string]: JsonValue }, JsonText | undefined>;
  started_at: NullableTimestamp;
  ended_at: NullableTimestamp;
  created_at: TimestampDefaultNow;
}

export const LINEAGE_EVENT_KINDS = ['input', 'output'] as const;
export type LineageEventKind = (typeof LINEAGE_EVENT_KINDS)[number];

/** The artifact <-> execution edge (MLMD Event). */
export interface LineageEventTable {
  id: Generated<number>;
  artifact_id: number;
  execution_id: number;
  kind: LineageEventKind;
  path: string | null;
  created_at: TimestampDefaultNow;
}

export interface MetricTable {
  id: Generated<number>;
  execution_id: number;
  name: string;
  value: number;
  step: ColumnType<number, number | undefined, number>;
  timestamp: TimestampDefaultNow;
}

export interface RegisteredModelTable {
  id: Generated<number>;
  name: string;
  description: string | null;
  created_at: TimestampDefaultNow;
}

export const MODEL_VERSION_STATUSES = ['registered', 'validated', 'rejected', 'archived'] as const;
export type ModelVersionStatus = (typeof MODEL_VERSION_STATUSES)[number];

export interface ModelVersionTable {
  id: Generated<number>;
  model_id: number;
  version: number;
  artifact_id: number;
  sha256: string;
  uri: string;
  format: string | null;
  signature: NullableJsonb<JsonValue>;
  metrics: Jsonb<{ [key: string]: number }, JsonText | undefined>;
  source_execution_id: number | null;
  source_dag_id: string | null;
  source_run_id: string | null;
  source_task_id: string | null;
  source_map_index: number | null;
  source_try_number: number | null;
  training_data_artifact_ids: Jsonb<number[], JsonText | undefined>;
  status: ColumnType<ModelVersionStatus, ModelVersionStatus | undefined, ModelVersionStatus>;
  description: string | null;
  created_by: string | null;
  created_at: TimestampDefaultNow;
  /** How the version relates to earlier ones from the same inputs and params (migration ml-runtime_reproducibility). */
  reproducibility: NullableJsonb<ModelReproducibility>;
}

/** model_version.reproducibility (docs/step-outputs.md#reproducibility). */
export interface ModelReproducibility {
  /** sha256 of the canonical JSON of {inputs: sorted input sha256s, params}. */
  fingerprint: string;
  /** The latest earlier version of the model with the same fingerprint; null: none. */
  previous_version: number | null;
  /** Whether the bytes equal that version's; null without one. */
  same_as_previous: boolean | null;
  /** The step's own claim (its `reproducible` param or artifact metadata); null when it made none. */
  reproducible: boolean | null;
  /** Why the bytes differ (the step's `reproducible_reason`, or what the worker saw). */
  reason: string | null;
}

export interface ModelAliasTable {
  model_id: number;
  alias: string;
  version_id: number;
  updated_at: TimestampDefaultNow;
  updated_by: string;
}

export const EVALUATION_DECISIONS = ['pass', 'fail'] as const;
export type EvaluationDecision = (typeof EVALUATION_DECISIONS)[number];

export interface ModelEvaluationTable {
  id: Generated<number>;
  model_id: number;
  candidate_version_id: number;
  baseline_version_id: number | null;
  dataset_artifact_id: number | null;
  candidate_metrics: Jsonb<{ [key: string]: number }>;
  baseline_metrics: NullableJsonb<{ [key: string]: number }>;
  thresholds: Jsonb<{ [key: string]: JsonValue }>;
  decision: EvaluationDecision;
  failures: Jsonb<JsonValue[], JsonText | undefined>;
  dag_id: string | null;
  run_id: string | null;
  task_id: string | null;
  created_at: TimestampDefaultNow;
}

export const PROMOTION_ACTIONS = ['promote', 'rollback', 'set', 'lost'] as const;
export type PromotionAction = (typeof PROMOTION_ACTIONS)[number];

/** The append-only log of alias moves (a trigger refuses UPDATE/DELETE/TRUNCATE). */
export interface ModelPromotionTable {
  id: Generated<number>;
  model_id: number;
  alias: string;
  from_version_id: number | null;
  to_version_id: number | null;
  action: PromotionAction;
  evaluation_id: number | null;
  actor: string;
  reason: string | null;
  created_at: TimestampDefaultNow;
}

// Assets (migration 2026_12_06_000010_assets; see db/asset*.ts).

export const ASSET_EVENT_SOURCE_KINDS = ['task', 'api', 'cli', 'watcher'] as const;
export type AssetEventSourceKind = (typeof ASSET_EVENT_SOURCE_KINDS)[number];

/** An asset (Airflow 3's asset table): its sanitized uri is its identity. */
export interface AssetTable {
  id: Generated<number>;
  uri: string;
  name: string;
  group: ColumnType<string, string | undefined, string>;
  extra: Jsonb<{ [key: string]: JsonValue }, JsonText | undefined>;
  created_at: TimestampDefaultNow;
  updated_at: TimestampDefaultNow;
}

/** One update of an asset; `source_*` say who made it. */
export interface AssetEventTable {
  id: Generated<number>;
  asset_id: number;
  extra: Jsonb<{ [key: string]: JsonValue }, JsonText | undefined>;
  source_kind: AssetEventSourceKind;
  source_dag_id: string | null;
  source_run_id: string | null;
  source_task_id: string | null;
  source_map_index: number | null;
  source_watcher: string | null;
  /** Same key, same asset: one event (an emitter's retry is not a second update). */
  dedupe_key: string | null;
  created_at: TimestampDefaultNow;
}

export interface DagScheduleAssetReferenceTable {
  asset_id: number;
  dag_id: string;
  created_at: TimestampDefaultNow;
}

export interface TaskOutletAssetReferenceTable {
  asset_id: number;
  dag_id: string;
  task_id: string;
  created_at: TimestampDefaultNow;
}

/** An event not yet consumed by one DAG scheduled on its asset. */
export interface AssetDagRunQueueTable {
  target_dag_id: string;
  asset_event_id: number;
  asset_id: number;
  created_at: TimestampDefaultNow;
}

export const ASSET_TRIGGERED_RUN_STATES = ['claimed', 'started', 'failed'] as const;
export type AssetTriggeredRunState = (typeof ASSET_TRIGGERED_RUN_STATES)[number];

/** A data-aware run decided and claimed from queued events; 'started' once its workflow is, 'failed' when it never can be. */
export interface AssetTriggeredRunTable {
  id: Generated<number>;
  dag_id: string;
  run_id: string;
  state: AssetTriggeredRunState;
  run_after: Timestamp;
  event_count: number;
  claimed_at: TimestampDefaultNow;
  started_at: NullableTimestamp;
  last_error: string | null;
}

/** The events an asset-triggered run consumed; at most one run per (DAG, event). */
export interface DagRunAssetEventTable {
  dag_id: string;
  run_id: string;
  asset_event_id: number;
}

/** A watcher's lease and bookkeeping. */
export interface AssetWatcherTable {
  name: string;
  type: string;
  asset_id: number;
  definition: Jsonb<JsonValue>;
  owner: string | null;
  lease_expires_at: NullableTimestamp;
  initialized_at: NullableTimestamp;
  last_poll_at: NullableTimestamp;
  last_error: string | null;
  events_emitted: ColumnType<number, number | undefined, number>;
  created_at: TimestampDefaultNow;
}

/** A watcher's cursor: the items it has seen, with their version (mtime:size, etag). */
export interface AssetWatcherSeenTable {
  watcher_name: string;
  item_key: string;
  version: string;
  first_seen_at: TimestampDefaultNow;
  missing_since: NullableTimestamp;
}

export interface Database {
  dag: DagTable;
  dag_version: DagVersionTable;
  dag_code: DagCodeTable;
  backfill: BackfillTable;
  dag_run: DagRunTable;
  task_instance: TaskInstanceTable;
  task_instance_history: TaskInstanceHistoryTable;
  xcom: XComTable;
  task_log: TaskLogTable;
  import_error: ImportErrorTable;
  variable: VariableTable;
  connection: ConnectionTable;
  slot_pool: SlotPoolTable;
  task_slot_grant: TaskSlotGrantTable;
  task_reschedule: TaskRescheduleTable;
  artifact: ArtifactTable;
  execution: ExecutionTable;
  lineage_event: LineageEventTable;
  metric: MetricTable;
  registered_model: RegisteredModelTable;
  model_version: ModelVersionTable;
  model_alias: ModelAliasTable;
  model_evaluation: ModelEvaluationTable;
  model_promotion: ModelPromotionTable;
  asset: AssetTable;
  asset_event: AssetEventTable;
  dag_schedule_asset_reference: DagScheduleAssetReferenceTable;
  task_outlet_asset_reference: TaskOutletAssetReferenceTable;
  asset_dag_run_queue: AssetDagRunQueueTable;
  asset_triggered_run: AssetTriggeredRunTable;
  dagrun_asset_event: DagRunAssetEventTable;
  asset_watcher: AssetWatcherTable;
  asset_watcher_seen: AssetWatcherSeenTable;
}

export type DagRow = Selectable<DagTable>;
export type NewDagRow = Insertable<DagTable>;
export type DagUpdate = Updateable<DagTable>;

export type DagVersionRow = Selectable<DagVersionTable>;
export type NewDagVersionRow = Insertable<DagVersionTable>;
export type DagCodeRow = Selectable<DagCodeTable>;

export type DagRunRow = Selectable<DagRunTable>;
export type BackfillRow = Selectable<BackfillTable>;
export type NewDagRunRow = Insertable<DagRunTable>;
export type DagRunUpdate = Updateable<DagRunTable>;

export type TaskInstanceRow = Selectable<TaskInstanceTable>;
export type NewTaskInstanceRow = Insertable<TaskInstanceTable>;
export type TaskInstanceUpdate = Updateable<TaskInstanceTable>;

export type TaskInstanceHistoryRow = Selectable<TaskInstanceHistoryTable>;
export type NewTaskInstanceHistoryRow = Insertable<TaskInstanceHistoryTable>;

export type XComRow = Selectable<XComTable>;
export type NewXComRow = Insertable<XComTable>;

export type TaskLogRow = Selectable<TaskLogTable>;
export type NewTaskLogRow = Insertable<TaskLogTable>;

export type ImportErrorRow = Selectable<ImportErrorTable>;
export type NewImportErrorRow = Insertable<ImportErrorTable>;

export type VariableRow = Selectable<VariableTable>;
export type NewVariableRow = Insertable<VariableTable>;

export type ConnectionRow = Selectable<ConnectionTable>;
export type NewConnectionRow = Insertable<ConnectionTable>;

export type ArtifactRow = Selectable<ArtifactTable>;
export type ExecutionRow = Selectable<ExecutionTable>;
export type LineageEventRow = Selectable<LineageEventTable>;
export type MetricRow = Selectable<MetricTable>;
export type RegisteredModelRow = Selectable<RegisteredModelTable>;
export type ModelVersionRow = Selectable<ModelVersionTable>;
export type ModelAliasRow = Selectable<ModelAliasTable>;
export type ModelEvaluationRow = Selectable<ModelEvaluationTable>;
export type ModelPromotionRow = Selectable<ModelPromotionTable>;

export type AssetRow = Selectable<AssetTable>;
export type AssetEventRow = Selectable<AssetEventTable>;
export type AssetTriggeredRunRow = Selectable<AssetTriggeredRunTable>;
export type AssetWatcherRow = Selectable<AssetWatcherTable>;
