/**
 * Authoring options: camelCase in TypeScript, mapped to Airflow's snake_case names by the compiler.
 */
import type { CallbackContext } from './callbacks.js';
import type { TaskRef } from './xcom-arg.js';
import type { Duration } from './duration.js';
import type { Schedule } from './timetables.js';
import type { Param } from './params.js';
import type { Json } from '../spec/dag-spec.js';
import type { TriggerRule } from '../spec/trigger-rule.js';

import type { AssetLike } from './asset.js';

export type { AssetLike } from './asset.js';

/** Options every task accepts; also what `defaultArgs` may set. */
export interface TaskDefaults {
  /** @default 'updraft' */
  owner: string;
  /** Number of retries after the first try. @default 0 */
  retries: number;
  /** Wait before a retry. @default '5 minutes' (Airflow's 300 s) */
  retryDelay: Duration;
  /** Airflow's exponential backoff with deterministic jitter. @default false */
  retryExponentialBackoff: boolean;
  /** Cap on the backoff. @default none (Airflow's global cap of 24 h applies) */
  maxRetryDelay: Duration | null;
  /** Per-try limit; the try is killed and counts as failed. @default none */
  executionTimeout: Duration | null;
  /** @default 'all_success' */
  triggerRule: TriggerRule | 'dummy' | 'none_failed_or_skipped';
  /** Task queue the task runs on (Airflow's queue); null is the default queue. */
  queue: string | null;
  /** @default 'default_pool' */
  pool: string;
  /** @default 1 */
  poolSlots: number;
  /** @default 1 */
  priorityWeight: number;
  /** @default 'downstream' */
  weightRule: 'downstream' | 'upstream' | 'absolute';
  /** Run only once this task succeeded or was skipped in the DAG's previous run (Airflow's depends_on_past). @default false */
  dependsOnPast?: boolean;
  /** Also wait for this task's immediate downstream tasks in the previous run; implies dependsOnPast. @default false */
  waitForDownstream?: boolean;
  /** Cap on running tries of this task across all runs of the DAG (Airflow's max_active_tis_per_dag). @default none */
  maxActiveTisPerDag?: number | null;
}

/**
 * A callback in the DAG file (Airflow's on_*_callback). It runs in its own activity after the
 * state change is recorded; whatever it throws is logged and never changes a state.
 */
export type Callback = (ctx: CallbackContext) => void | Promise<void>;

/** One callback or several (run in order; one that throws does not stop the next). */
export type Callbacks = Callback | readonly Callback[];

/** Task callbacks; also accepted in `defaultArgs` (of the DAG or of a task group). */
export interface TaskCallbackOptions {
  /** Before each try starts (Airflow's on_execute_callback). */
  onExecute?: Callbacks;
  /** After the task succeeded. */
  onSuccess?: Callbacks;
  /** After the task failed for good (no retries left, or FailTask). */
  onFailure?: Callbacks;
  /** After a failed try that will be retried (up_for_retry). */
  onRetry?: Callbacks;
  /** After the task skipped itself (SkipTask / exit code 99); not for branch or trigger-rule skips. */
  onSkipped?: Callbacks;
}

/** What `defaultArgs` may set: every task default and the task callbacks. */
export type DefaultArgs = Partial<TaskDefaults> & TaskCallbackOptions;

export interface TaskOptions extends Partial<TaskDefaults>, TaskCallbackOptions {
  /** ASCII letters, digits, '-', '.', '_' (Airflow's rule). */
  taskId: string;
  /** Assets this task updates on success. */
  outlets?: AssetLike[];
  docMd?: string;
  /** Task params; they override the DAG's params of the same name (conf overrides both). */
  params?: Record<string, Json | Param>;
  /**
   * Fields rendered with Jinja before each try, replacing the kind's default list: process tasks
   * render argv, env and cwd; function tasks render nothing unless given ['input'].
   */
  templateFields?: string[];
}

export interface ProcessTaskOptions extends TaskOptions {
  /** Program and arguments; argv[0] is looked up on PATH. No shell is involved unless `shell: true`. */
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  /** Run argv[0] as a /bin/sh script. Only for trusted, literal scripts. @default false */
  shell?: boolean;
}

export interface DagOptions {
  dagId: string;
  description?: string;
  /**
   * When runs start by themselves: a cron expression or preset ('@daily', '@once', '@continuous'),
   * a duration ('1h', or seconds: Airflow's timedelta), a timetable (CronTriggerTimetable(...)),
   * assets ([a, b] or AssetAll/AssetAny), or null (the default: manual runs only).
   */
  schedule?: Schedule;
  /**
   * First date the schedule covers: a Date, or ISO 8601 ('2025-01-01', '2025-01-01T02:30:00+01:00');
   * without an offset it is wall-clock time in the DAG's time zone.
   */
  startDate?: string | Date;
  /** No runs after this date (same forms as startDate). */
  endDate?: string | Date;
  /** Create the runs missed since startDate (or since the last run), in order. @default false (Airflow 3's default) */
  catchup?: boolean;
  /**
   * Time zone of the cron schedule and of dates written without an offset: an IANA name
   * ('Europe/Amsterdam') or '+01:00'. @default the offset written in startDate, else 'UTC'
   */
  timezone?: string;
  /** New DAGs start paused. @default the deployment's default (Airflow's dags_are_paused_at_creation) */
  isPausedUponCreation?: boolean;
  /** @default 16 (1 for '@continuous') */
  maxActiveRuns?: number;
  /** @default 16 */
  maxActiveTasks?: number;
  dagrunTimeout?: Duration;
  tags?: string[];
  /** Plain values or param(default, schema); a run's conf overrides them. */
  params?: Record<string, Json | Param>;
  defaultArgs?: DefaultArgs;
  docMd?: string;
  /** After the run succeeded (Airflow's DAG on_success_callback). */
  onSuccess?: Callbacks;
  /** After the run failed (Airflow's DAG on_failure_callback). */
  onFailure?: Callbacks;
  /**
   * Airflow's max_map_length: the most items a task may push for a mapped task to expand over.
   * @default the worker's UPDRAFT_MAX_MAP_LENGTH, else 1024
   */
  maxMapLength?: number;
}

export interface ShortCircuitOptions extends TaskOptions {
  /**
   * On a falsy result: true skips every downstream task (transitively, teardowns excepted);
   * false skips only the direct downstream tasks and lets trigger rules decide the rest.
   * @default true (Airflow's default)
   */
  ignoreDownstreamTriggerRules?: boolean;
}

export interface TaskGroupOptions {
  /** Prefixes the ids of the group's tasks as `groupId.taskId` (Airflow's TaskGroup). */
  groupId: string;
  /** Override the DAG's (and an enclosing group's) defaultArgs for the tasks in the group. */
  defaultArgs?: DefaultArgs;
  /** @default true; false leaves the ids of the group's tasks unprefixed. */
  prefixGroupId?: boolean;
  tooltip?: string;
}

export interface TeardownOptions {
  /** The setup tasks this teardown tears down; each also becomes an upstream of the teardown. */
  setups?: TaskRef | readonly TaskRef[];
  /** Let this teardown's failure fail the run (teardown leaves are ignored otherwise). @default false */
  onFailureFailDagrun?: boolean;
}

/** Resources a task asks for (containers; `gpu` also routes process tasks to GPU workers). */
export interface ResourceOptions {
  /** CPU cores, Kubernetes quantity syntax: '500m', '2'. */
  cpu?: string | number;
  /** Memory, Kubernetes quantity syntax: '512Mi', '4Gi'. */
  memory?: string;
  /** Number of GPUs. @default 0 */
  gpu?: number;
  /** GPU type ('a100'); routes to that type's GPU queue and node selector. */
  gpuType?: string;
}

export interface MountOptions {
  /** Host path (docker) or 'pvc:<claim>' (kubernetes). */
  source: string;
  target: string;
  readOnly?: boolean;
}

export interface ContainerTaskOptions extends TaskOptions {
  image: string;
  /** Entrypoint override (docker Entrypoint / Kubernetes command). */
  command?: string[];
  /** Arguments (docker Cmd / Kubernetes args). */
  args?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  mounts?: MountOptions[];
  resources?: ResourceOptions;
  /** @default the configured default runtime (UPDRAFT_CONTAINER_RUNTIME, else 'docker') */
  runtime?: 'docker' | 'kubernetes';
  /** @default 'never': images are built or loaded locally */
  pullPolicy?: 'never' | 'if_not_present' | 'always';
  networkMode?: string;
  kubernetes?: {
    namespace?: string;
    serviceAccount?: string;
    imagePullSecrets?: string[];
    nodeSelector?: Record<string, string>;
    tolerations?: Array<{ key: string; operator?: 'Equal' | 'Exists'; value?: string; effect?: string }>;
    /** How long a pod may stay unschedulable before the try fails. */
    pendingTimeout?: Duration;
    /** Annotations on the try's pod. */
    podAnnotations?: Record<string, string>;
  };
}
