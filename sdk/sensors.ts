/**
 * Sensors (Airflow's BaseSensorOperator family): tasks that wait for a condition by poking it.
 *
 * - `d.sensor(options, fn)`: a TypeScript check returning `true`/`false` or `{ done, xcom }`
 *   (Airflow's PythonSensor and PokeReturnValue).
 * - `d.fileSensor({ filepath })`: a file, directory with files, or glob match exists (FileSensor).
 * - `d.externalTaskSensor({ externalDagId, externalTaskId? })`: another DAG's run with the same
 *   logical date (minus `logicalDateDelta`) or one of its tasks reached an allowed state
 *   (ExternalTaskSensor).
 * - `d.processSensor({ argv })`: a program's exit code decides: 0 met, 99 skip, 98 fail, anything
 *   else not yet.
 *
 * Modes: `poke` (default) holds its worker slot and pool slot while it waits; `reschedule` pokes
 * once per try attempt and gives both back between pokes (state `up_for_reschedule`). `timeout`
 * counts from the first try's start and fails without retries (AirflowSensorTimeout), or skips
 * with `softFail`. This module is the authoring side and the compiler's part; the pokes run in
 * activities/sensors/.
 */
import type { TaskContext } from './context.js';
import type { DeclaredTask, Task, TaskFunction } from './task.js';
import { toSeconds, type Duration } from './duration.js';
import type { ProcessTaskOptions, TaskOptions } from './options.js';
import type { Json, ProcessOperatorSpec, TaskSpec } from '../spec/dag-spec.js';
import { DagRunState, TaskInstanceState } from '../spec/states.js';
import { SENSOR_MODES, type SensorCheckSpec, type SensorMode, type SensorSpec } from '../spec/dag-spec.js';

/** Airflow's defaults: poke every 60 s, give up after 7 days. */
export const DEFAULT_POKE_INTERVAL_SECONDS = 60;
export const DEFAULT_SENSOR_TIMEOUT_SECONDS = 7 * 24 * 3600;

export interface SensorOptions extends TaskOptions {
  /** @default 'poke' */
  mode?: SensorMode;
  /** Time between pokes. @default 60 s */
  pokeInterval?: Duration;
  /** Give up this long after the first try started. @default 7 days */
  timeout?: Duration;
  /** On timeout (or a failing check), end as `skipped` instead of `failed`. @default false */
  softFail?: boolean;
  /** A check that throws (any error) skips the sensor instead of failing it; not with softFail. @default false */
  neverFail?: boolean;
  /** A check that throws an error (not a timeout or FailTask) is logged and counts as "not yet". @default false */
  silentFail?: boolean;
  /** Grow the interval between pokes exponentially (Airflow's formula with its sha1 jitter). @default false */
  exponentialBackoff?: boolean;
  /** Cap on the interval between pokes with exponential backoff. @default none */
  maxWait?: Duration;
}

/** What a sensor function returns: met or not, optionally with an XCom (Airflow's PokeReturnValue). */
export type SensorResult<X = unknown> = boolean | { done: boolean; xcom?: X };
export type SensorFunction<I, X> = (input: I, ctx: TaskContext) => SensorResult<X> | Promise<SensorResult<X>>;

export interface FileSensorOptions extends SensorOptions {
  /** A path or a glob ('*', '?', '[abc]', and '**' with `recursive`). Relative paths are resolved against the worker's working directory. */
  filepath: string;
  /** Let '**' match any number of directories. @default false */
  recursive?: boolean;
}

export interface ExternalTaskSensorOptions extends SensorOptions {
  externalDagId: string;
  /** Omitted: wait for the whole run of the other DAG. */
  externalTaskId?: string;
  /** @default ['success'] */
  allowedStates?: string[];
  /** States that fail this sensor (no retries). @default none */
  failedStates?: string[];
  /** States that skip this sensor. @default none */
  skippedStates?: string[];
  /** Look at the other DAG's run at this run's logical date minus this (Airflow's execution_delta). @default 0 */
  logicalDateDelta?: Duration;
}

export type ProcessSensorOptions = SensorOptions & Pick<ProcessTaskOptions, 'argv' | 'env' | 'cwd' | 'shell'>;

export interface SensorBuilder {
  /** A sensor whose check is a TypeScript function: `true` (or `{ done: true, xcom }`) when met. */
  sensor<I = void, X = void>(options: SensorOptions, fn: SensorFunction<I, X>): Task<I, X>;
  /** Waits for a file, a non-empty directory or a glob match. */
  fileSensor(options: FileSensorOptions): Task<void, void>;
  /** Waits for another DAG's run (or one of its tasks) at the same logical date. */
  externalTaskSensor(options: ExternalTaskSensorOptions): Task<void, void>;
  /** Runs a program per poke: exit 0 met (its return.json is the XCom), 99 skip, 98 fail, else not yet. */
  processSensor<I = void, O = Json>(options: ProcessSensorOptions): Task<I, O>;
}

type SensorCheckType = SensorCheckSpec['type'];
const CHECK_TYPE = '__sensorCheck';
type DeclaredSensorOptions = SensorOptions & { [CHECK_TYPE]: SensorCheckType };

/** How the builder declares a task (dag.ts passes its own). */
export type DeclareTask = <I, O>(
  kind: 'sensor',
  options: TaskOptions,
  fn?: TaskFunction<unknown, unknown>,
) => Task<I, O>;

/** The DagBuilder's sensor methods. */
export function sensorBuilder(declare: DeclareTask): SensorBuilder {
  const mark = (options: SensorOptions, type: SensorCheckType): DeclaredSensorOptions => ({
    ...options,
    [CHECK_TYPE]: type,
  });
  return {
    sensor: <I, X>(options: SensorOptions, fn: SensorFunction<I, X>) =>
      declare<I, X>('sensor', mark(options, 'function'), fn as unknown as TaskFunction<unknown, unknown>),
    fileSensor: (options) => declare<void, void>('sensor', mark(options, 'file')),
    externalTaskSensor: (options) => declare<void, void>('sensor', mark(options, 'external_task')),
    processSensor: <I, O>(options: ProcessSensorOptions) => declare<I, O>('sensor', mark(options, 'process')),
  };
}

const OPERATORS: Record<SensorCheckType, string> = {
  function: 'TypeScriptSensor',
  file: 'FileSensor',
  external_task: 'ExternalTaskSensor',
  process: 'ProcessSensor',
};

/** Airflow's KEY_REGEX (as compile.ts checks dag_id and task_id). */
const ID_PATTERN = /^[A-Za-z0-9_.-]+$/;

type FieldFail = (message: string, field: string) => never;

/** The spec fields of a sensor task (compile.ts merges them into the TaskSpec). */
export function compileSensor(
  t: DeclaredTask,
  fileloc: string,
  f: FieldFail,
): Pick<TaskSpec, 'operator' | 'sensor' | 'function' | 'process'> {
  const o = t.options as DeclaredSensorOptions;
  const type = o[CHECK_TYPE];
  const mode = o.mode ?? 'poke';
  if (!SENSOR_MODES.includes(mode)) f(`expected 'poke' or 'reschedule', got '${String(mode)}'`, 'mode');
  const seconds = (value: Duration | undefined, fallback: number | null, field: string): number | null => {
    if (value === undefined || value === null) return fallback;
    try {
      return toSeconds(value);
    } catch (err) {
      return f((err as Error).message, field);
    }
  };
  const sensor: SensorSpec = {
    mode,
    poke_interval: seconds(o.pokeInterval, DEFAULT_POKE_INTERVAL_SECONDS, 'pokeInterval')!,
    timeout: seconds(o.timeout, DEFAULT_SENSOR_TIMEOUT_SECONDS, 'timeout')!,
    soft_fail: o.softFail ?? false,
    ...(o.neverFail === true ? { never_fail: true as const } : {}),
    ...(o.silentFail === true ? { silent_fail: true as const } : {}),
    exponential_backoff: o.exponentialBackoff ?? false,
    max_wait: seconds(o.maxWait, null, 'maxWait'),
    check: { type: 'function' },
  };
  for (const flag of ['softFail', 'neverFail', 'silentFail'] as const) {
    if (o[flag] !== undefined && typeof o[flag] !== 'boolean')
      f(`expected true or false, got ${JSON.stringify(o[flag])}`, flag);
  }
  // Airflow: never_fail and soft_fail are mutually exclusive.
  if (o.neverFail === true && o.softFail === true)
    f('neverFail and softFail cannot both be set (Airflow makes them mutually exclusive)', 'neverFail');
  const out: Pick<TaskSpec, 'operator' | 'sensor' | 'function' | 'process'> = { operator: OPERATORS[type], sensor };
  switch (type) {
    case 'function':
      if (typeof t.fn !== 'function') f('expected a check function', 'fn');
      out.function = { fileloc };
      break;
    case 'process':
      out.process = compileProcessCheck(o as unknown as ProcessSensorOptions, f);
      sensor.check = { type: 'process' };
      break;
    case 'file': {
      const fo = o as unknown as FileSensorOptions;
      if (typeof fo.filepath !== 'string' || fo.filepath.trim() === '')
        f('expected a path or glob like "/data/in/*.csv"', 'filepath');
      sensor.check = { type: 'file', filepath: fo.filepath, recursive: fo.recursive ?? false };
      break;
    }
    case 'external_task':
      sensor.check = compileExternalCheck(o as unknown as ExternalTaskSensorOptions, f);
      break;
    default:
      f(`unknown sensor check type "${String(type)}"`, 'sensor');
  }
  return out;
}

function compileProcessCheck(p: ProcessSensorOptions, f: FieldFail): ProcessOperatorSpec {
  if (!Array.isArray(p.argv) || p.argv.length === 0 || !p.argv.every((a) => typeof a === 'string')) {
    f('expected a non-empty array of strings (program and arguments)', 'argv');
  }
  if (p.shell && p.argv.length !== 1) f('with shell: true, argv must hold exactly one script string', 'argv');
  for (const [k, v] of Object.entries(p.env ?? {}))
    if (typeof v !== 'string') f(`env.${k} must be a string, got ${typeof v}`, 'env');
  return { argv: [...p.argv], env: { ...(p.env ?? {}) }, cwd: p.cwd ?? null, shell: p.shell ?? false };
}

const TASK_STATES: readonly string[] = Object.values(TaskInstanceState);
const RUN_STATES: readonly string[] = Object.values(DagRunState);

function compileExternalCheck(o: ExternalTaskSensorOptions, f: FieldFail): SensorCheckSpec {
  if (typeof o.externalDagId !== 'string' || !ID_PATTERN.test(o.externalDagId)) {
    f(
      `expected a dag_id (ASCII letters, digits, '-', '.', '_'), got ${JSON.stringify(o.externalDagId)}`,
      'externalDagId',
    );
  }
  const taskId = o.externalTaskId ?? null;
  if (taskId !== null && (typeof taskId !== 'string' || !ID_PATTERN.test(taskId))) {
    f(`expected a task_id (ASCII letters, digits, '-', '.', '_'), got ${JSON.stringify(taskId)}`, 'externalTaskId');
  }
  // Airflow: task states when a task is named, DAG-run states otherwise.
  const valid = taskId === null ? RUN_STATES : TASK_STATES;
  const states = (value: string[] | undefined, fallback: string[], field: string): string[] => {
    const list = value ?? fallback;
    if (!Array.isArray(list)) f(`expected an array of states`, field);
    for (const s of list) {
      if (!valid.includes(s)) {
        f(
          `"${String(s)}" is not a ${taskId === null ? 'DAG-run' : 'task'} state (expected one of ${valid.join(', ')})`,
          field,
        );
      }
    }
    return [...new Set(list)];
  };
  const allowed = states(o.allowedStates, ['success'], 'allowedStates');
  const failed = states(o.failedStates, [], 'failedStates');
  const skipped = states(o.skippedStates, [], 'skippedStates');
  const all = [...allowed, ...failed, ...skipped];
  if (new Set(all).size !== all.length) {
    f('the same state appears in more than one of allowedStates, failedStates and skippedStates', 'allowedStates');
  }
  let delta = 0;
  if (typeof o.logicalDateDelta === 'number') {
    if (!Number.isFinite(o.logicalDateDelta))
      f(`expected a number of seconds, got ${o.logicalDateDelta}`, 'logicalDateDelta');
    delta = o.logicalDateDelta;
  } else if (o.logicalDateDelta !== undefined) {
    try {
      delta = toSeconds(o.logicalDateDelta);
    } catch (err) {
      f((err as Error).message, 'logicalDateDelta');
    }
  }
  return {
    type: 'external_task',
    external_dag_id: o.externalDagId,
    external_task_id: taskId,
    allowed_states: allowed,
    failed_states: failed,
    skipped_states: skipped,
    logical_date_delta: delta,
  };
}
