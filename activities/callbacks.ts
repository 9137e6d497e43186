/**
 * The runCallback activity: runs one task or DAG-run callback from the DAG file (Airflow's
 * on_*_callback) after the workflow recorded the state change. The function comes from the
 * code of the run's DAG version through the same resolver as task functions (key:
 * sdk/callbacks.ts callbackKey). Whatever the callback throws is written to the try's log (stream 'system') and
 * returned as `{ ok: false }`: a callback never changes a task's or a run's state, and a user
 * error is never retried.
 */
import { Context } from '@temporalio/activity';
import type { CallbackContext } from '../sdk/callbacks.js';
import type { RunCallbackRequest, RunCallbackResult } from '../workflows/types.js';
import type { FunctionResolver } from './executors/in-process.js';
import { TaskLogWriter, type TaskLogDeps } from './task-log.js';

export interface CallbackDeps extends TaskLogDeps {
  /** The DAG bag's resolver; a worker without one logs that it cannot run callbacks. */
  functions?: FunctionResolver;
  /** A callback that runs longer is abandoned (it cannot be killed in-process) and logged. */
  callbackTimeoutMs?: number;
}

export function makeRunCallback(deps: CallbackDeps): (req: RunCallbackRequest) => Promise<RunCallbackResult> {
  return async function runCallback(req: RunCallbackRequest): Promise<RunCallbackResult> {
    const p = req.payload;
    const name = p.task_id === null ? `DAG ${p.callback}` : p.callback;
    const where =
      p.task_id === null ? `DAG "${req.dagId}" run "${req.runId}"` : `task "${p.task_id}" try ${p.try_number}`;
    // Task callbacks write into the try's log; DAG-run callbacks have no task log: the worker's log.
    const taskLog =
      p.task_id === null
        ? null
        : new TaskLogWriter(
            deps.db,
            {
              dag_id: req.dagId,
              run_id: req.runId,
              task_id: p.task_id,
              map_index: p.map_index,
              try_number: p.try_number,
            },
            { logsFolder: deps.logsFolder, ...(deps.mask ? { mask: deps.mask } : {}) },
          );
    const activityLog = Context.current().log;
    const system = (line: string, level: 'info' | 'warn' = 'info'): void => {
      if (taskLog) taskLog.system(line);
      else activityLog[level](line, { dagId: req.dagId, runId: req.runId });
    };
    const out = (stream: 'stdout' | 'stderr', line: string): void => {
      if (taskLog) taskLog.write(stream, `${name} callback: ${line}`);
      else activityLog.info(`${name} callback: ${line}`, { dagId: req.dagId, runId: req.runId });
    };
    let timer: NodeJS.Timeout | undefined;
    try {
      if (!deps.functions) throw new Error('this worker has no DAG bag to resolve callbacks from');
      const { fn, note } = await deps.functions.resolve({
        dagId: req.dagId,
        dagVersionId: req.dagVersionId ?? null,
        specHash: req.specHash,
        key: req.key,
      });
      if (note) system(note);
      const ctx: CallbackContext = {
        callback: p.callback,
        dagId: p.dag_id,
        taskId: p.task_id,
        runId: p.run_id,
        runType: p.run_type,
        logicalDate: p.logical_date ? new Date(p.logical_date) : null,
        tryNumber: p.try_number,
        mapIndex: p.map_index,
        state: p.state,
        exception: p.exception,
        params: p.params,
        conf: p.conf,
        log: {
          info: (m) => out('stdout', m),
          warn: (m) => out('stdout', `WARNING ${m}`),
          error: (m) => out('stderr', m),
        },
      };
      // Compiled callbacks take the context as their one argument (sdk/compile.ts combineCallbacks).
      const call = fn as unknown as (c: CallbackContext) => unknown;
      const limit = deps.callbackTimeoutMs ?? 5 * 60_000;
      await Promise.race([
        Promise.resolve().then(() => call(ctx)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the callback did not finish within ${limit / 1000}s; abandoned`)),
            limit,
          );
        }),
      ]);
      system(`${name} callback for ${where} ran`);
      return { ok: true };
    } catch (err) {
      const message = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      const masked = deps.mask ? deps.mask(message) : message;
      system(`${name} callback for ${where} failed (the state is unchanged): ${masked}`, 'warn');
      return { ok: false, error: masked };
    } finally {
      if (timer) clearTimeout(timer);
      await taskLog?.close();
    }
  };
}
