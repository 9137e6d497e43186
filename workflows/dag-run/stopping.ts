/**
 * Stopping a run before its tasks decide it: the dagrun_timeout timer, or a cancel. What runs is
 * killed, the unfinished tasks are recorded as Airflow's set_dag_run_state_to_failed does, and the
 * run fails with the reason.
 */
import { CancellationScope, condition, sleep } from '@temporalio/workflow';
import { TaskInstanceState, isFinished } from '../../spec/states.js';
import type { DagRunResult } from '../types.js';
import { complete } from './completion.js';
import type { RunState } from './state.js';

const DAGRUN_TIMEOUT = 'dagrun_timeout';

/** Starts the dagrun_timeout timer, if the DAG has one: when it fires, the main loop stops. */
export function startDagrunTimeout(run: RunState): void {
  if (run.deadline === null) return;
  const ms = Math.max(0, Date.parse(run.deadline) - Date.now());
  void CancellationScope.cancellable(async () => {
    await sleep(ms, { summary: DAGRUN_TIMEOUT });
    run.stopReason = `${DAGRUN_TIMEOUT} of ${run.dag.dagrun_timeout}s exceeded`;
    run.changed = true;
  }).catch(() => undefined);
}

/** Kills what runs, records every unfinished task, and fails the run with run.stopReason. */
export async function stopRun(run: RunState): Promise<DagRunResult> {
  run.accepting = false;
  return await CancellationScope.nonCancellable(async () => {
    for (const scope of run.scopes.values()) scope.cancel();
    for (const scope of run.instanceScopes.values()) scope.cancel();
    await condition(() => run.inFlight() === 0);
    const timedOut = run.stopReason?.startsWith(DAGRUN_TIMEOUT) ?? false;
    // Airflow (set_dag_run_state_to_failed): running tries fail, every other unfinished task is
    // skipped; on dagrun_timeout running tries are skipped too. Tasks that are not running go
    // first: failing a running task first would cascade upstream_failed onto them.
    for (const runningPass of [false, true]) {
      const stateFor = (s: TaskInstanceState): TaskInstanceState | null =>
        isFinished(s) || (s === TaskInstanceState.RUNNING) !== runningPass
          ? null
          : runningPass && !timedOut
            ? TaskInstanceState.FAILED
            : TaskInstanceState.SKIPPED;
      for (const i of [...run.activeMapped]) {
        const m = run.graph.mapped.get(i)!;
        for (let k = 0; k < m.n; k++) {
          const state = stateFor(m.state[k]!);
          if (state === null) continue;
          run.finishInstance(i, k, state);
          run.pending.push({
            task_id: run.graph.tasks[i]!.task_id,
            map_index: k,
            state,
            try_number: m.tryNumber[k]!,
            error: run.stopReason,
          });
        }
      }
      for (let i = 0; i < run.graph.size; i++) {
        const state = run.graph.mapped.has(i) ? null : stateFor(run.graph.state[i]!);
        if (state === null) continue;
        run.recordDecisions(run.graph.finish(i, state));
        run.pending.push({
          task_id: run.graph.tasks[i]!.task_id,
          map_index: -1,
          state,
          try_number: run.graph.tryNumber[i]!,
          error: run.stopReason,
        });
      }
    }
    return await complete(run, 'failed', run.stopReason);
  });
}
