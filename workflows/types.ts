/**
 * Shapes exchanged between the DAG-run workflow and its activities. Types only: the workflow
 * imports activity *types*, never their code.
 */
import type { DagSpec, Json, TaskSpec } from '../spec/dag-spec.js';
import type { DagRunType, TaskInstanceState } from '../spec/states.js';
import type { CarriedTaskState } from '../engine/run-graph.js';
import type { CallbackPayload } from '../spec/callbacks.js';
import type { OperatorAction } from '../engine/operator-actions.js';

export const DAG_RUN_WORKFLOW = 'dagRun';

/** Knobs the trigger path sets from configuration (the workflow cannot read the environment). */
export interface RunOptions {
  /** Task queue for tasks without `queue`; also the workflow's own queue (eager dispatch). */
  taskQueue: string;
  /** Liveness window for a try: a worker that dies is noticed after this long. */
  heartbeatTimeoutSeconds: number;
  /** Cap on tasks in flight in this run (also bounded by the DAG's max_active_tasks). */
  maxInFlight: number;
  /** XComs up to this size travel by value through Temporal; larger ones by reference. */
  xcomInlineLimitBytes: number;
  /** Tasks per chunk when loading the spec into the workflow. */
  specChunkSize: number;
}

export const DEFAULT_RUN_OPTIONS: RunOptions = {
  taskQueue: 'updraft',
  heartbeatTimeoutSeconds: 20,
  maxInFlight: 500,
  xcomInlineLimitBytes: 64 * 1024,
  specChunkSize: 500,
};

export interface DagRunInput {
  dagId: string;
  runId: string;
  runType: DagRunType;
  dagVersionId: number;
  specHash: string;
  logicalDate: string | null;
  dataIntervalStart: string | null;
  dataIntervalEnd: string | null;
  /** Airflow 3's run_after (absent in runs started before it was passed: the logical date stands in). */
  runAfter?: string | null;
  conf: Record<string, Json>;
  options: RunOptions;
  /** Set by continue-as-new. */
  carried?: CarriedRun;
  /**
   * Set when an operator action re-opens a finished run: a new execution under the same workflow
   * id loads the run's state from Postgres (reopenRun), applies the action, and carries on.
   */
  reopen?: { action: OperatorAction };
}

/** Workflow result: the run's final state and its task counts by state. */
export interface DagRunResult {
  state: 'success' | 'failed';
  reason?: string;
  tasks: Record<string, number>;
}

/**
 * The ApplicationFailure type a failed DAG run's workflow fails with (so the Temporal UI shows it
 * Failed); its details[0] is the run's DagRunResult. client/run-result.ts reads it back.
 */
export const DAG_RUN_FAILED = 'UpdraftDagRunFailed';

/** A failed task instance: a root cause named in a failed run's message. */
export interface FailedTask {
  task_id: string;
  map_index: number;
  error: string | null;
}

export interface FailedTasksRequest {
  dagId: string;
  runId: string;
  /** At most this many rows (the message names a few; the total says how many there are). */
  limit: number;
}

export interface FailedTasksResult {
  tasks: FailedTask[];
  total: number;
}

/** The `taskStates` query's answer: every task's state as the workflow holds it. */
export interface TaskStatesView {
  dag_id: string;
  run_id: string;
  /** The run's state as far as the workflow knows ('running' until it completes). */
  state: 'running' | 'success' | 'failed';
  reason: string | null;
  /** Tasks by state (a mapped task counts once, by its aggregate state). */
  counts: Record<string, number>;
  tasks: TaskStateView[];
}

export interface TaskStateView {
  task_id: string;
  state: TaskInstanceState;
  try_number: number;
  /** An expanded mapped task: how many instances, and how many are in each state. */
  instances?: { count: number; states: Record<string, number> };
}

/** The DAG-run workflow's signature, for typed clients and continue-as-new. */
export type DagRunWorkflow = (input: DagRunInput) => Promise<DagRunResult>;

export interface CarriedRun {
  generation: number;
  startedAt: string;
  deadline: string | null;
  tasks: CarriedTaskState[];
  /** Inline XComs still needed by unfinished tasks, by task index. */
  xcoms: Array<[number, XComEntry]>;
  /** Source lengths of mapped tasks expanded but not finished, by task index (absent: none). */
  mapLengths?: Array<[number, number[]]>;
  /** An operator marked the run: it ends in this state when its remaining tasks (teardowns) finish. */
  forcedState?: 'success' | 'failed';
}

/** Re-opens a finished run for an operator action: its state, as continue-as-new would carry it. */
export interface ReopenRunRequest {
  dagId: string;
  runId: string;
  dagVersionId: number;
  specHash: string;
  /** The DAG's dagrun_timeout: the re-opened run gets it anew from now (null: none). */
  dagrunTimeoutSeconds: number | null;
}

/**
 * A try's return value as the workflow keeps it. `map_lengths`: for a task whose output mapped
 * tasks expand over (spec `map_sources`), the checked list lengths by engine/mapping.ts pathKey(path),
 * so the workflow can expand even when the value is stored by reference.
 */
export type XComEntry =
  | { inline: Json; map_lengths?: Record<string, number> }
  | { stored: true; size: number; map_lengths?: Record<string, number> };

/** Creates the task instances of an expanded mapped task (map_index 0..count-1). */
export interface ExpandMappedTaskRequest {
  dagId: string;
  runId: string;
  task: TaskSpec;
  count: number;
  /** After an operator cleared the task: its instances' try number so far, and the tries they may reach. */
  tryNumber?: number;
  maxTries?: number;
}

export interface LoadRunRequest {
  dagId: string;
  runId: string;
  dagVersionId: number;
  specHash: string;
  offset: number;
  limit: number;
  /** First chunk of the first generation: mark the run running and create its task instances. */
  initialize: boolean;
}

export interface LoadRunResult {
  dag: Omit<DagSpec, 'tasks'>;
  tasks: TaskSpec[];
  total: number;
}

/** A reference the activity resolves from Postgres (XCom too large to travel by value). */
export interface StoredXComRef {
  $xcom_ref: {
    dag_id: string;
    run_id: string;
    task_id: string;
    map_index: number;
    key: string;
    path: string[];
    /** A mapped task's output: the list of its instances' values in map_index order, then `path`. */
    collect?: true;
  };
}

export interface RunTaskRequest {
  dagId: string;
  runId: string;
  runType: DagRunType;
  dagVersionId: number;
  specHash: string;
  task: TaskSpec;
  mapIndex: number;
  tryNumber: number;
  maxTries: number;
  /** Input with XComs resolved inline or as StoredXComRef. */
  input: Json | null;
  logicalDate: string | null;
  dataIntervalStart: string | null;
  dataIntervalEnd: string | null;
  runAfter?: string | null;
  conf: Record<string, Json>;
  params: Record<string, Json>;
  xcomInlineLimitBytes: number;
  /** The DAG's max_map_length, for a task whose output is mapped over (absent: the worker's setting). */
  maxMapLength?: number;
}

export type RunTaskResult =
  | { outcome: 'success'; xcom: XComEntry | null }
  | { outcome: 'skipped'; reason: string }
  /** A sensor in reschedule mode, not met yet: run the same try again after delaySeconds. */
  | { outcome: 'reschedule'; delaySeconds: number };

/** ApplicationFailure types the runTask activity throws; the workflow decides retries. */
export const TaskFailureType = {
  /** The try failed; retry if tries remain. */
  FAILED: 'UpdraftTaskFailed',
  /** The task asked to fail without retries (FailTask / exit code 98). */
  FAILED_NO_RETRY: 'UpdraftTaskFailedNoRetry',
} as const;

export interface TaskStateUpdate {
  task_id: string;
  map_index: number;
  state: TaskInstanceState;
  try_number: number;
  error?: string | null;
  /** Set for states the workflow decided for a try whose activity could not record it. */
  end_date?: string | null;
  /** Set by operator actions: a cleared task gets its retries anew. */
  max_tries?: number;
}

export interface RecordStatesRequest {
  dagId: string;
  runId: string;
  tasks: TaskStateUpdate[];
  run?: { state: 'running' | 'success' | 'failed'; error?: string | null; end: boolean };
  /** Mapped tasks an operator cleared: their instance rows go (they expand again) and map_index -1 is back. */
  resetMapped?: string[];
}

/** One callback (task or DAG run) to run in the runCallback activity. */
export interface RunCallbackRequest {
  dagId: string;
  runId: string;
  specHash: string;
  /** The run's dag_version id (absent in requests of workflows from before it was sent). */
  dagVersionId?: number;
  /** The function's key in the DAG bag (sdk/callbacks.ts callbackKey). */
  key: string;
  payload: CallbackPayload;
}

/** A callback never fails the activity: what it threw comes back here (and is in the task log). */
export type RunCallbackResult = { ok: true } | { ok: false; error: string };

/** Asks whether a run is the latest scheduled run of its DAG (LatestOnlyOperator). */
export interface LatestOnlyRequest {
  dagId: string;
  runId: string;
  runType: DagRunType;
  logicalDate: string | null;
  /** The latest-only task and try whose log gets the decision. */
  taskId: string;
  tryNumber: number;
  /** The direct downstream tasks it would skip, for the log line. */
  downstream: string[];
}

export interface LatestOnlyResult {
  latest: boolean;
  /** Why, for the skipped tasks' error column and the log. */
  reason: string;
}

/** Reads a stored XCom back (a branch result too large to travel through Temporal). */
export interface ReadXComRequest {
  dagId: string;
  runId: string;
  taskId: string;
  key: string;
}

/** May this queued run start (max_active_runs, pause)? See db/run-admission.repository.ts. */
export interface AdmitRunRequest {
  dagId: string;
  runId: string;
}

export type AdmitRunResult = { admitted: true } | { admitted: false; reason: string };

/** The Schedule's action: create the DAG's scheduled runs that are due (workflows/schedule-tick.ts). */
export const SCHEDULE_TICK_WORKFLOW = 'scheduleTick';

export interface ScheduleTickInput {
  dagId: string;
}

export interface ScheduleTickResult {
  /** Run ids created by this tick (runs a duplicate fire already made are not repeated). */
  created: string[];
  /** Why nothing was created, when nothing was (paused, not due yet, ...). */
  note?: string;
}

/** The activity behind a schedule tick; the worker (composition root) provides it with a Temporal client. */
export interface ScheduleActivities {
  createScheduledRuns(input: ScheduleTickInput): Promise<ScheduleTickResult>;
}
