/**
 * The DagSpec wire format: what the compiler emits, what Postgres stores in dag_version.spec and
 * what the DAG-run workflow interprets. snake_case and Airflow's field names throughout.
 *
 * Durations are seconds (Airflow serialises timedelta as seconds). Any change to this file that is
 * not purely additive must bump SPEC_VERSION and keep the interpreter able to run older specs.
 */
import type { AssetRef } from './asset.js';
import type { AssetWatcherSpec } from './asset-watcher.js';
import type { Json } from './json.js';
import type { TaskInstanceState } from './states.js';
import type { TriggerRule } from './trigger-rule.js';

export const SPEC_VERSION = 1 as const;

export type { Json } from './json.js';
export type { AssetRef } from './asset.js';

/**
 * A reference to another task's XCom inside a task's input template. The reference is also the
 * edge: the compiler adds `task_id` to the task's upstream list.
 */
export interface XComRef {
  /** map_index: set by the interpreter for a reference to the same instance of a mapped-group member. */
  $xcom: { task_id: string; key: string; path: string[]; map_index?: number };
}

/**
 * Inside a mapped task group: the group's expand() argument `arg` (at `path` inside it); each
 * instance gets its own element.
 */
export interface MapArgRef {
  $map_arg: { group: string; arg: string; path: string[] };
}

/** A task's input: JSON in which `XComRef` objects are replaced by upstream values at run time. */
export type InputTemplate = Json;

export interface ProcessOperatorSpec {
  /** argv[0] is the program; no shell unless `shell` is true (then argv is [script]). */
  argv: string[];
  env: Record<string, string>;
  cwd: string | null;
  shell: boolean;
}

export interface FunctionOperatorSpec {
  /** Where the function lives: the DAG file, resolved by the worker's DAG bag. */
  fileloc: string;
}

/** Resources a container (or GPU process) task asks for. */
export interface ResourceSpec {
  /** CPU cores, Kubernetes quantity syntax ("500m", "2"). */
  cpu: string | null;
  /** Memory, Kubernetes quantity syntax ("512Mi", "4Gi"). */
  memory: string | null;
  /** Number of GPUs (0 = none). */
  gpu: number;
  /** GPU type ("a100", "h100"); routes to that type's queue and node selector. */
  gpu_type: string | null;
}

export interface MountSpec {
  /** Host path (docker) or PVC name prefixed "pvc:" (kubernetes). */
  source: string;
  target: string;
  read_only: boolean;
}

export interface ContainerOperatorSpec {
  image: string;
  /** Entrypoint override (docker Entrypoint / k8s command); null keeps the image's. */
  command: string[] | null;
  /** Arguments (docker Cmd / k8s args). */
  args: string[];
  env: Record<string, string>;
  working_dir: string | null;
  mounts: MountSpec[];
  /** null: the configured default runtime. */
  runtime: 'docker' | 'kubernetes' | null;
  pull_policy: 'never' | 'if_not_present' | 'always';
  network_mode: string | null;
  kubernetes: {
    namespace: string | null;
    service_account: string | null;
    image_pull_secrets: string[];
    node_selector: Record<string, string>;
    tolerations: Array<{ key: string; operator: 'Equal' | 'Exists'; value?: string; effect?: string }>;
    /** Seconds a pod may stay unschedulable/pending before the try fails (null: configured default). */
    pending_timeout: number | null;
    /** Annotations on the try's pod (sidecar switches, scrape settings, ...). Optional for older specs. */
    pod_annotations?: Record<string, string>;
  };
}

export type TaskKind = 'function' | 'process' | 'container' | 'empty' | 'sensor' | 'model_gate' | 'model_version';

export interface TaskSpec {
  task_id: string;
  kind: TaskKind;
  /** Airflow-style operator name, for display ("TypeScriptOperator", "ProcessOperator", "EmptyOperator"). */
  operator: string;
  /** Direct upstream task ids (data edges and control edges), sorted. */
  upstream: string[];
  /** Direct downstream task ids, sorted (derived; kept so the interpreter need not recompute it). */
  downstream: string[];
  trigger_rule: TriggerRule;
  retries: number;
  retry_delay: number;
  retry_exponential_backoff: boolean;
  max_retry_delay: number | null;
  execution_timeout: number | null;
  queue: string | null;
  pool: string;
  pool_slots: number;
  priority_weight: number;
  weight_rule: 'downstream' | 'upstream' | 'absolute';
  owner: string;
  outlets: AssetRef[];
  doc_md: string | null;
  input: InputTemplate | null;
  resources: ResourceSpec;
  function?: FunctionOperatorSpec;
  process?: ProcessOperatorSpec;
  container?: ContainerOperatorSpec;
  /** Task params: defaults that override the DAG's (absent: none). */
  params?: Record<string, Json>;
  /** Schemas of task params declared with param() (absent: none). */
  param_specs?: Record<string, ParamSpec>;
  /** Fields rendered with Jinja before each try (absent: TEMPLATE_FIELDS[kind].default). */
  template_fields?: string[];
  /** A sensor's mode, timing and check (kind 'sensor'; sdk/sensors.ts). */
  sensor?: SensorSpec;
  /** A champion/challenger gate (kind 'model_gate'; sdk/model-gate.ts, activities/model-gate.ts). */
  model_gate?: ModelGateSpec;
  /** A registry lookup: the version behind a model's alias (kind 'model_version'; sdk/model-version.ts). */
  model_version?: ModelVersionSpec;
  /** The declared priority_weight where weight_rule made the effective one differ (engine/priority.ts). */
  declared_priority_weight?: number;
  /** Airflow's depends_on_past (absent: false). */
  depends_on_past?: true;
  /** Airflow's wait_for_downstream (absent: false; implies depends_on_past). */
  wait_for_downstream?: true;
  /** Airflow's max_active_tis_per_dag: running tries of this task across all runs (absent: no cap). */
  max_active_tis_per_dag?: number;
  /** The task group's full id ("outer.inner") for display; absent outside groups. */
  task_group?: string;
  /** A setup task (Airflow's as_setup()); absent: false. */
  is_setup?: true;
  /** A teardown task (Airflow's as_teardown()); its trigger rule is all_done_setup_success. */
  is_teardown?: true;
  /** A teardown whose failure fails the run (teardown leaves are ignored otherwise). */
  on_failure_fail_dagrun?: true;
  /** What the interpreter does with the task's result besides recording it (absent: nothing). */
  control?: ControlSpec;
  /** A mapped task (Airflow's partial().expand() / expand_kwargs()); `input` is null then. */
  mapped?: MappedSpec;
  /** Mapped tasks expand over this task's return value: the try checks it (engine/mapping.ts). */
  map_sources?: MapSourceSpec[];
  /** Callbacks defined for the task (resolved through the DAG bag by callbackKey). */
  callbacks?: CallbackFlags<'on_execute' | 'on_success' | 'on_failure' | 'on_retry' | 'on_skipped'>;
}

/**
 * A mapped task. `expand`: [argument, source] in declaration order (a cross product over several);
 * `expand_kwargs`: one source whose items are the instances' arguments. A source is a literal list
 * or an XComRef to a list. `partial` holds the fixed arguments (an input template).
 */
export type MappedSpec =
  | { kind: 'expand'; partial: InputTemplate; expand: Array<[string, InputTemplate]> }
  | { kind: 'expand_kwargs'; partial: InputTemplate; source: InputTemplate }
  /**
   * A task in a mapped task group (Airflow's `task_group.expand()`): one instance per element of
   * the group's expand() arguments (cross product); its input's `$map_arg` references take the
   * instance's element, and its upstream tasks in the same group (`instance_upstream`) count per
   * map_index.
   */
  | { kind: 'group'; group_id: string; expand: Array<[string, InputTemplate]>; instance_upstream: string[] };

/** One mapped consumer of a task's return value: the value at `path` must be a list (of dicts when `arg` is null). */
export interface MapSourceSpec {
  consumer: string;
  /** The expand() argument; null for expand_kwargs(). */
  arg: string | null;
  path: string[];
}

/** Which callbacks exist: `{ on_success: true }`. */
export type CallbackFlags<K extends string> = Partial<Record<K, true>>;

/**
 * Control-flow operators: the interpreter reads the result and skips downstream tasks.
 * - branch: the return value is a task id, a list of ids or null; every other direct downstream
 *   task is skipped (ids of a downstream task group stand for the group's roots, `groups`).
 * - short_circuit: a falsy return value skips downstream tasks.
 * - latest_only: skips direct downstream tasks unless the run is the latest scheduled one.
 */
export type ControlSpec =
  | { type: 'branch'; groups?: Record<string, string[]> }
  | { type: 'short_circuit'; ignore_downstream_trigger_rules: boolean }
  | { type: 'latest_only' }
  /**
   * A model gate: unless its result says the candidate was promoted, the downstream tasks (all of
   * them, or the direct ones when trigger rules are to decide the rest) are skipped with the
   * evaluation's failures as the reason (engine/model-gate.ts gateVerdict).
   */
  | { type: 'model_gate'; ignore_downstream_trigger_rules: boolean };

/**
 * Which fields of a task kind may be templated (Airflow's template_fields) and which are by
 * default. Function inputs are data, so rendering them is opt-in.
 */
export const TEMPLATE_FIELDS: Record<TaskKind, { allowed: readonly string[]; default: readonly string[] }> = {
  function: { allowed: ['input'], default: [] },
  process: { allowed: ['argv', 'env', 'cwd'], default: ['argv', 'env', 'cwd'] },
  container: {
    allowed: ['image', 'command', 'args', 'env', 'working_dir'],
    default: ['image', 'command', 'args', 'env', 'working_dir'],
  },
  empty: { allowed: [], default: [] },
  // A process sensor's argv/env/cwd render like a process task's, a file sensor's filepath like FileSensor's.
  sensor: { allowed: ['input', 'argv', 'env', 'cwd', 'filepath'], default: ['argv', 'env', 'cwd', 'filepath'] },
  model_gate: { allowed: [], default: [] },
  model_version: { allowed: [], default: [] },
};

export interface DagSpec {
  spec_version: typeof SPEC_VERSION;
  dag_id: string;
  description: string | null;
  /**
   * The schedule as written, for display (`dags list`): the cron string or preset ("@daily"),
   * "@once", "@continuous", a timetable's summary, or null for manual-only DAGs. `timetable` is
   * what the scheduler computes dates from.
   */
  schedule: string | null;
  start_date: string | null;
  end_date: string | null;
  catchup: boolean;
  max_active_runs: number;
  max_active_tasks: number;
  dagrun_timeout: number | null;
  tags: string[];
  owner: string;
  /** Param defaults (conf overrides them). */
  params: Record<string, Json>;
  /** Schemas of params declared with param() (absent: none); checked when a run is triggered. */
  param_specs?: Record<string, ParamSpec>;
  doc_md: string | null;
  /** Path of the DAG file, relative to the DAGs folder. */
  fileloc: string;
  /** Tasks in a topological order (ties broken by task id), so iteration is deterministic. */
  tasks: TaskSpec[];
  /** DAG-run callbacks defined in the DAG file (absent: none). */
  callbacks?: CallbackFlags<'on_success' | 'on_failure'>;
  /** Airflow's max_map_length set on the DAG (absent: the worker's UPDRAFT_MAX_MAP_LENGTH, else 1024). */
  max_map_length?: number;
  /** Task groups by full id, for display (absent: none). Tasks name theirs in `task_group`. */
  task_groups?: Record<string, TaskGroupSpec>;
  /** How runs are scheduled (engine/timetables/); absent when `schedule` is null (Airflow's NullTimetable). */
  timetable?: TimetableSpec;
  /** The DAG's time zone (Airflow's dag.timezone): an IANA name or '+HH:MM'; absent: UTC. */
  timezone?: string;
  /** Airflow's is_paused_upon_creation; absent: the deployment's default (dags_are_paused_at_creation). */
  is_paused_upon_creation?: boolean;
  /** Watchers declared on the DAG's assets (Asset(..., { watchers })); the worker runs them. Absent: none. */
  asset_watchers?: AssetWatcherSpec[];
}

// Timetables (sdk/timetables.ts authors them; engine/timetables/ computes their dates).
// Field names follow Airflow's serialized timetables; durations are seconds, instants ISO 8601 UTC.

/**
 * CronTriggerTimetable / MultipleCronTriggerTimetable's run_immediately (only used when the DAG
 * has no start_date): true, seconds, or false/null for Airflow's buffer of 10% of the gap.
 */
export type RunImmediately = boolean | number | null;

export type TimetableSpec =
  /** schedule=None: manual runs only. */
  | { type: 'null' }
  /** "@once": one run at start_date (or as soon as the DAG is seen). */
  | { type: 'once' }
  /** "@continuous": the next run starts when the previous one ends; max_active_runs is 1. */
  | { type: 'continuous' }
  /** A run at each cron time (Airflow 3's default for cron strings); `interval` sets data_interval_start back. */
  | { type: 'cron_trigger'; expression: string; timezone: string; interval: number; run_immediately: RunImmediately }
  /** Several crons, at most one run per instant. */
  | {
      type: 'multiple_cron_trigger';
      expressions: string[];
      timezone: string;
      interval: number;
      run_immediately: RunImmediately;
    }
  /** Runs covering [cron time, next cron time), each started when its interval ends (Airflow 2's default). */
  | { type: 'cron_data_interval'; expression: string; timezone: string }
  /** A run every `delta` seconds (Airflow 3's default for a timedelta schedule). */
  | { type: 'delta_trigger'; delta: number; interval: number }
  /** Runs covering [t, t + delta), each started when its interval ends. */
  | { type: 'delta_data_interval'; delta: number }
  /** Runs at listed instants (sorted ascending, ISO UTC). */
  | { type: 'events'; event_dates: string[]; restrict_to_events: boolean; description: string | null }
  /** Data-aware: a run when the asset condition is satisfied (the worker's AssetRunService, worker/asset-runs.ts). */
  | { type: 'assets'; condition: AssetConditionSpec };

/**
 * An asset condition (Airflow's `schedule=[a, b]`, `a & (b | c)`): an asset, all of a list, or
 * any of a list. Assets are identified by uri.
 */
export type AssetConditionSpec =
  | { type: 'asset'; uri: string; name: string }
  | { type: 'all'; conditions: AssetConditionSpec[] }
  | { type: 'any'; conditions: AssetConditionSpec[] };

export interface TaskGroupSpec {
  /** The enclosing group's full id; null at the top level. */
  parent: string | null;
  prefix_group_id: boolean;
  tooltip: string | null;
}

/** A DagSpec with its content hash (sha1 hex of the canonical JSON of the spec). */
export interface VersionedDagSpec extends DagSpec {
  hash: string;
}

/** The per-task state the interpreter keeps, also what bookkeeping writes. */
export interface TaskInstanceSnapshot {
  task_id: string;
  map_index: number;
  state: TaskInstanceState;
  try_number: number;
}

// Params (sdk/params.ts authors them; client/params.ts validates values against them).

export const PARAM_TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

/** String formats a param may declare (the ones Airflow's trigger form and jsonschema know). */
export const PARAM_FORMATS = [
  'date',
  'date-time',
  'time',
  'duration',
  'email',
  'hostname',
  'ipv4',
  'ipv6',
  'uri',
  'uuid',
  'regex',
] as const;
export type ParamFormat = (typeof PARAM_FORMATS)[number];

/** The JSON Schema subset a param may use (draft 7 keyword names, as Airflow passes them through). */
export interface ParamSchema {
  type?: ParamType | ParamType[];
  enum?: Json[];
  const?: Json;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: ParamFormat;
  items?: ParamSchema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  properties?: Record<string, ParamSchema>;
  required?: string[];
  additionalProperties?: boolean | ParamSchema;
  title?: string;
  description?: string;
  examples?: Json[];
}

/**
 * A param's validation, as stored in DagSpec.param_specs / TaskSpec.param_specs. A name listed
 * there but absent from the matching `params` has no default.
 */
export interface ParamSpec {
  schema: ParamSchema;
  description: string | null;
}

// Sensors (sdk/sensors.ts authors them; activities/sensors/ runs them).

export const SENSOR_MODES = ['poke', 'reschedule'] as const;
export type SensorMode = (typeof SENSOR_MODES)[number];

/** Which check a sensor runs. */
export type SensorCheckSpec =
  | { type: 'function' }
  | { type: 'process' }
  | { type: 'file'; filepath: string; recursive: boolean }
  | {
      type: 'external_task';
      external_dag_id: string;
      /** null: the other DAG's run state is checked. */
      external_task_id: string | null;
      allowed_states: string[];
      failed_states: string[];
      skipped_states: string[];
      /** Seconds subtracted from this run's logical date to find the other run. */
      logical_date_delta: number;
    };

/** `TaskSpec.sensor`. Durations in seconds. */
export interface SensorSpec {
  mode: SensorMode;
  poke_interval: number;
  timeout: number;
  soft_fail: boolean;
  /** Absent: false (kept out of specs that do not set it, so their hash is unchanged). */
  never_fail?: true;
  silent_fail?: true;
  exponential_backoff: boolean;
  max_wait: number | null;
  check: SensorCheckSpec;
}

// Model gates (sdk/model-gate.ts authors them; activities/model-gate.ts runs them).

/** One metric's rule, MLflow's MetricThreshold field names. */
export interface ModelGateThresholdSpec {
  threshold?: number;
  min_absolute_change?: number;
  /** A fraction of the champion's value, 0..1. */
  min_relative_change?: number;
  greater_is_better: boolean;
}

/**
 * `TaskSpec.model_version`: `models:/<model>@<alias>` resolved when the task runs. Its XCom is the
 * version with an ArtifactRef of its file, or null while the alias is unset (or the model is not
 * registered yet).
 */
export interface ModelVersionSpec {
  model: string;
  alias: string;
}

/**
 * `TaskSpec.model_gate`. The task's input holds `candidate` (a `$model_version` or `$artifact`
 * ref), and optionally `metrics` (the candidate's evaluation) and `baseline` (the champion's on
 * the same data: `{version, metrics}`).
 */
export interface ModelGateSpec {
  /** The registered model. */
  model: string;
  thresholds: Record<string, ModelGateThresholdSpec>;
  /** The alias a passing candidate takes (CAS): 'champion' by default. */
  promote_to: string;
  /** The alias a failing candidate takes; null: none. */
  otherwise_alias: string | null;
  /** Where the candidate's metrics come from: the task input's `metrics`, or the version's recorded metrics. */
  metrics_from: 'input' | 'candidate_version';
}
