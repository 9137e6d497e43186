/**
 * The executor of sensor tasks (kind 'sensor'): pokes its check until it is met, Airflow's
 * BaseSensorOperator.execute.
 *
 * - poke mode: loops inside the try (the activity keeps heartbeating), sleeping the poke interval
 *   (with exponential backoff if set) between pokes.
 * - reschedule mode: pokes once; if not met, returns `reschedule` with the delay, and the runTask
 *   activity records `up_for_reschedule` and ends, so no worker slot is held until the next poke.
 * - timeout counts from the first try's start (task_instance_history / task_reschedule), so
 *   retries and reschedules never reset it. It fails the try without retries
 *   (AirflowSensorTimeout), or skips it with soft_fail (which also turns a check that fails the
 *   task, and execution_timeout, into a skip, as in Airflow).
 * - a check that throws: never_fail skips the sensor; silent_fail logs the error and pokes again
 *   (a timeout or FailTask still fails it, as in Airflow 2.10's BaseSensorOperator).
 *
 * Checks: a TypeScript function (through the in-process executor), a program (through the process
 * executor: exit 0 met, 99 skip, 98 fail, anything else not yet), a file glob, or another DAG's
 * run or task in Postgres.
 */
import type { Kysely } from 'kysely';
import { firstStartOf } from '../../db/cross-run.repository.js';
import type { Database } from '../../db/database.js';
import type { SensorSpec } from '../../spec/dag-spec.js';
import type { Json } from '../../spec/dag-spec.js';
import {
  TaskExecutionError,
  specPartOf,
  type ExecutionRequest,
  type ExecutionResult,
  type Executor,
} from '../executors/types.js';
import { checkExternalTask } from './external-task.js';
import { findFileMatch } from './file-check.js';
import { nextPokeInterval } from './poke-interval.js';
import { abortableSleep } from '../abortable-sleep.js';

export interface SensorExecutorDeps {
  db: Kysely<Database>;
  /** Runs a function check (the worker's in-process executor). */
  functionExecutor: Executor;
  /** Runs a program check (the worker's process executor). */
  processExecutor: Executor;
  /** Base of relative file sensor paths. @default process.cwd() */
  cwd?: string;
}

type Poke =
  { done: true; xcom: Json | undefined; exitCode: number | null; detail: string } | { done: false; detail: string };

export function createSensorExecutor(deps: SensorExecutorDeps): Executor {
  return { name: 'sensor', execute: (req) => runSensor(deps, req) };
}

async function runSensor(deps: SensorExecutorDeps, req: ExecutionRequest): Promise<ExecutionResult> {
  const sensor = specPartOf(req, 'sensor', 'sensor');
  const key = { dag_id: req.dagId, run_id: req.runId, task_id: req.taskId, map_index: req.mapIndex };
  const started = (await firstStartOf(deps.db, key)) ?? new Date();
  const deadline = req.timeoutMs === null ? null : Date.now() + req.timeoutMs;
  const reschedule = sensor.mode === 'reschedule';
  const log = (line: string): void => req.log.write('system', line);

  for (let pokeCount = 1; ; pokeCount++) {
    const remaining = deadline === null ? null : deadline - Date.now();
    if (remaining !== null && remaining <= 0) throw softFail(sensor, executionTimeout(req));
    let poke: Poke;
    try {
      poke = await pokeOnce(deps, req, sensor, pokeCount, remaining);
    } catch (err) {
      const e = err instanceof TaskExecutionError ? err : new TaskExecutionError(String(err), 'error');
      const recovered = pokeFailure(sensor, e, log);
      if (recovered === null) throw softFail(sensor, e);
      poke = recovered;
    }
    if (poke.done) {
      log(`sensor condition met: ${poke.detail}`);
      return { returnValue: poke.xcom, exitCode: poke.exitCode };
    }
    const runDuration = (Date.now() - started.getTime()) / 1000;
    if (runDuration > sensor.timeout) {
      const message = `Sensor has timed out; run duration of ${runDuration.toFixed(3)} seconds exceeds the specified timeout of ${sensor.timeout}.`;
      log(`${poke.detail}. ${message}`);
      if (sensor.soft_fail) throw new TaskExecutionError(message, 'skip');
      throw new TaskExecutionError(`AirflowSensorTimeout: ${message}`, 'fail');
    }
    const interval = nextPokeInterval({
      dagId: req.dagId,
      taskId: req.taskId,
      startedAt: started.toISOString(),
      pokeCount,
      runDuration,
      pokeInterval: sensor.poke_interval,
      timeout: sensor.timeout,
      exponentialBackoff: sensor.exponential_backoff,
      maxWait: sensor.max_wait,
      reschedule,
    });
    if (reschedule) {
      log(`${poke.detail}; rescheduling: next poke in ${interval}s`);
      return { returnValue: undefined, exitCode: null, reschedule: { delaySeconds: interval } };
    }
    log(`poke ${pokeCount}: ${poke.detail}; next poke in ${interval}s`);
    const sleepMs = interval * 1000;
    if (remaining !== null && sleepMs >= deadline! - Date.now()) {
      await pause(Math.max(0, deadline! - Date.now()), req.signal);
      throw softFail(sensor, executionTimeout(req));
    }
    await pause(sleepMs, req.signal);
  }
}

async function pokeOnce(
  deps: SensorExecutorDeps,
  req: ExecutionRequest,
  sensor: SensorSpec,
  pokeCount: number,
  remaining: number | null,
): Promise<Poke> {
  const check = sensor.check;
  switch (check.type) {
    case 'function': {
      const result = await deps.functionExecutor.execute({ ...req, timeoutMs: remaining });
      return interpretFunctionResult(req.taskId, result.returnValue);
    }
    case 'process': {
      try {
        // Only the first poke may find an orphan of a crashed attempt to clean up.
        const result = await deps.processExecutor.execute({
          ...req,
          timeoutMs: remaining,
          previousHandle: pokeCount === 1 ? req.previousHandle : undefined,
        });
        return {
          done: true,
          xcom: result.returnValue,
          exitCode: result.exitCode,
          detail: `${req.spec.process?.argv[0] ?? 'the program'} exited with 0`,
        };
      } catch (err) {
        if (err instanceof TaskExecutionError && err.kind === 'exit')
          return { done: false, detail: `not yet: the program exited with ${err.exitCode ?? 'no code'}` };
        throw err;
      }
    }
    case 'file': {
      const match = await findFileMatch(check.filepath, check.recursive, deps.cwd);
      return match === null
        ? { done: false, detail: `no file matches ${check.filepath} yet` }
        : { done: true, xcom: undefined, exitCode: null, detail: `found ${match}` };
    }
    case 'external_task': {
      const verdict = await checkExternalTask(deps.db, check, req.run?.logicalDate ?? null);
      if ('failed' in verdict) throw new TaskExecutionError(verdict.detail, sensor.soft_fail ? 'skip' : 'error');
      if ('skipped' in verdict) throw new TaskExecutionError(verdict.detail, 'skip');
      return verdict.met
        ? { done: true, xcom: undefined, exitCode: null, detail: verdict.detail }
        : { done: false, detail: verdict.detail };
    }
  }
}

/** A sensor function returns true/false or { done, xcom } (Airflow's PokeReturnValue). */
function interpretFunctionResult(taskId: string, value: Json | undefined): Poke {
  if (value === true) return { done: true, xcom: undefined, exitCode: null, detail: 'the check returned true' };
  if (value === false) return { done: false, detail: 'the check returned false' };
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && typeof value.done === 'boolean') {
    if (!value.done) return { done: false, detail: 'the check returned done: false' };
    return { done: true, xcom: value.xcom, exitCode: null, detail: 'the check returned done: true' };
  }
  throw new TaskExecutionError(
    `the check of sensor "${taskId}" returned ${value === undefined ? 'nothing' : JSON.stringify(value)}; expected true, false or { done: boolean, xcom? }`,
    'error',
  );
}

function executionTimeout(req: ExecutionRequest): TaskExecutionError {
  return new TaskExecutionError(`execution_timeout of ${(req.timeoutMs ?? 0) / 1000}s exceeded`, 'timeout');
}

/**
 * A check that threw, under never_fail / silent_fail: an error (not a timeout, FailTask, skip or
 * cancel) is "not yet" with silent_fail; never_fail skips on any of them but skip and cancel.
 * Returns null when neither applies (soft_fail decides next).
 */
function pokeFailure(sensor: SensorSpec, err: TaskExecutionError, log: (line: string) => void): Poke | null {
  if (err.kind === 'skip' || err.kind === 'cancelled') return null;
  const plainError = err.kind !== 'fail' && err.kind !== 'timeout';
  if (plainError && sensor.silent_fail) {
    log(`Sensor poke failed (silent_fail, poking again): ${err.message}`);
    return { done: false, detail: 'the poke failed (silent_fail)' };
  }
  if (sensor.never_fail)
    throw new TaskExecutionError(
      `Skipping due to never_fail is set to True. ${err.message}`,
      'skip',
      err.exitCode,
      err.lastLines,
    );
  return null;
}

/** soft_fail: what would fail the task (a fail-kind error, execution_timeout) skips it instead. */
function softFail(sensor: SensorSpec, err: TaskExecutionError): TaskExecutionError {
  if (!sensor.soft_fail || (err.kind !== 'fail' && err.kind !== 'timeout')) return err;
  return new TaskExecutionError(
    `Skipping due to soft_fail is set to True. ${err.message}`,
    'skip',
    err.exitCode,
    err.lastLines,
  );
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return abortableSleep(ms, signal, 'the sensor was cancelled');
}
