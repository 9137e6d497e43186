/**
 * The one executor interface every way of running a task implements: in-process functions, local
 * processes, Docker containers and Kubernetes Jobs. The runTask activity owns Temporal (heartbeats,
 * cancellation, attempts) and Postgres (state, XCom, logs); an executor only runs the work.
 */
import type { AssetEventInfo } from '../../spec/asset.js';
import type { Json, TaskSpec } from '../../spec/dag-spec.js';
import type { StepIO, StepOutputs } from '../step-outputs/step-io.js';

export type LogStream = 'stdout' | 'stderr' | 'system';

/** Where an executor writes the task's log lines; the activity persists them per try. */
export interface TaskLogSink {
  write(stream: LogStream, line: string): void;
  /** The last `n` lines written (for error messages). */
  tail(n: number): string[];
  /** Masks text the way lines written here are masked (for output that cannot go into the log). */
  redact?(text: string): string;
}

/**
 * What an executor heartbeats so that, after a worker crash, the next Temporal attempt of the same
 * try can re-attach to (or clean up) the work instead of starting it twice.
 */
export interface ExecutorHandle {
  executor: string;
  /** pid/pgid for processes, container id/name for Docker, Job name for Kubernetes. */
  id: string;
  [key: string]: Json;
}

/** Facts about the run a task belongs to (what Airflow's context holds). */
export interface RunContext {
  specHash: string;
  /** The run's dag_version id: in-process functions run that version's code. */
  dagVersionId?: number | null;
  runType: string;
  logicalDate: string | null;
  dataIntervalStart: string | null;
  dataIntervalEnd: string | null;
  /** Airflow 3's run_after (null: not known; the logical date stands in). */
  runAfter?: string | null;
  params: Record<string, Json>;
  conf: Record<string, Json>;
  /** An asset-triggered run's events by asset uri (Airflow's triggering_asset_events); absent or {} otherwise. */
  triggeringAssetEvents?: Record<string, AssetEventInfo[]>;
}

export interface ExecutionRequest {
  dagId: string;
  runId: string;
  taskId: string;
  mapIndex: number;
  /** Airflow try number, starting at 1. */
  tryNumber: number;
  spec: TaskSpec;
  /** The task's input with every XCom reference resolved. */
  input: Json | undefined;
  /** UPDRAFT_* / AIRFLOW_CTX_* context variables for processes and containers. */
  contextEnv: Record<string, string>;
  /** Per-try execution timeout in ms (null: none). The executor enforces it and kills the work. */
  timeoutMs: number | null;
  /** Fires on cancellation (run cancelled, task marked, worker shutting down). */
  signal: AbortSignal;
  /** Records the handle so a later attempt can find it; throttled by Temporal. */
  heartbeat(handle: ExecutorHandle): void;
  /** The handle heartbeated by an earlier attempt of this same try (the worker crashed). */
  previousHandle: ExecutorHandle | undefined;
  log: TaskLogSink;
  /** GPU device ids this worker allocated to the task (empty when none). */
  gpuDevices: string[];
  /** The run's context; optional so executors can be driven directly in tests. */
  run?: RunContext;
  /**
   * Step output protocol v1 (activities/step-outputs): the artifact store, input materialization and
   * output collection. Absent (executors driven directly), metrics/params/artifacts files are ignored.
   */
  stepIO?: StepIO;
}

export interface ExecutionResult {
  /** The XCom return_value; undefined when the task pushed none. */
  returnValue: Json | undefined;
  exitCode: number | null;
  /** The handle of the work that ran (recorded as the task instance's external id). */
  handle?: ExecutorHandle;
  /** A sensor in reschedule mode that is not met yet: poke again after this long (activities/sensors). */
  reschedule?: { delaySeconds: number };
  /** The extra of each outlet's event by outlet uri (an in-process task's ctx.outletEvents); absent: {} each. */
  outletExtras?: Record<string, { [key: string]: Json }>;
  /** Metrics, params and output artifacts the step recorded (step output protocol v1). */
  outputs?: StepOutputs;
}

export type ExecutionFailureKind =
  'exit' | 'timeout' | 'cancelled' | 'oom' | 'error' | 'unschedulable' | 'skip' | 'fail';

/**
 * A task that ran and failed. `kind` says how: a non-zero exit, a timeout, a cancellation, an OOM
 * kill; `skip` and `fail` are the task asking to be skipped or failed without retries.
 */
export class TaskExecutionError extends Error {
  override readonly name = 'TaskExecutionError';
  constructor(
    message: string,
    readonly kind: ExecutionFailureKind,
    readonly exitCode: number | null = null,
    readonly lastLines: string[] = [],
  ) {
    super(message);
  }
}

export interface Executor {
  readonly name: string;
  execute(request: ExecutionRequest): Promise<ExecutionResult>;
}

/**
 * Exit codes a process or container uses to ask for a skip or a no-retry failure, like Airflow's
 * `skip_on_exit_code`. Documented in docs/tasks.md.
 */
export const SKIP_EXIT_CODE = 99;
export const FAIL_EXIT_CODE = 98;

/** The spec parts an executor runs from (`spec.process`, `spec.sensor`, ...). */
type SpecPart = 'process' | 'container' | 'sensor' | 'model_gate' | 'model_version';

/**
 * The part of the task's spec an executor runs from. A spec without it is a bug in the compiler
 * or a hand-built spec, which no retry fixes: the try fails without retries, naming both.
 */
export function specPartOf<K extends SpecPart>(
  req: { taskId: string; spec: TaskSpec },
  part: K,
  executor: string,
): NonNullable<TaskSpec[K]> {
  const value = req.spec[part];
  if (value === undefined || value === null)
    throw new TaskExecutionError(
      `task "${req.taskId}" has no spec.${part}; the ${executor} executor needs one`,
      'fail',
    );
  return value as NonNullable<TaskSpec[K]>;
}
