/**
 * The DAG-run workflow: a deterministic interpreter of a DagSpec. Decisions (what may run, skips,
 * upstream_failed, retries with Airflow's backoff, timeouts, the run's result) are made from pure
 * functions (engine/); side effects happen in activities. Replay-safe: no I/O, time only via
 * Temporal. The parts: state.ts (what the run holds), load.ts, scheduling.ts, tries.ts and
 * try-outcome.ts, control.ts, mapping.ts, input.ts, operator-actions.ts, callbacks.ts, stopping.ts,
 * continue-as-new.ts, completion.ts and failure.ts, details.ts and queries.ts.
 */
import { ContinueAsNew, condition, isCancellation, upsertSearchAttributes } from '@temporalio/workflow';
import { isFinished } from '../../spec/states.js';
import { DAG_RUN_STATE } from '../search-attributes.js';
import type { DagRunInput, DagRunResult } from '../types.js';
import { awaitAdmission, wakeQueuedRuns } from './admission.js';
import { startCallbacks } from './callbacks.js';
import { complete } from './completion.js';
import { drained, draining, rollOver } from './continue-as-new.js';
import { publishDetails } from './details.js';
import { loadRun } from './load.js';
import { acceptOperatorActions, applyDeferred, deferredReady } from './operator-actions.js';
import { answerQueries } from './queries.js';
import { scheduleReady } from './scheduling.js';
import { RunState } from './state.js';
import { startDagrunTimeout, stopRun } from './stopping.js';

export type { DagRunResult } from '../types.js';

export async function dagRun(input: DagRunInput): Promise<DagRunResult> {
  // A fresh run waits in `queued` for max_active_runs and pause (admission.ts).
  await awaitAdmission(input);
  let result: DagRunResult;
  try {
    result = await interpret(input);
  } catch (err) {
    if (!(err instanceof ContinueAsNew)) await wakeQueuedRuns(input);
    throw err;
  }
  await wakeQueuedRuns(input);
  return result;
}

async function interpret(input: DagRunInput): Promise<DagRunResult> {
  const { dag, carried } = await loadRun(input);
  const run = new RunState(input, dag, carried);
  if (run.generation === 0) upsertSearchAttributes([{ key: DAG_RUN_STATE, value: 'running' }]);
  acceptOperatorActions(run);
  answerQueries(run);
  run.recordDecisions(run.graph.evaluateAll());
  startDagrunTimeout(run);
  try {
    const result = await mainLoop(run);
    if (result !== null) return result;
  } catch (err) {
    if (!isCancellation(err)) throw err;
    run.stopReason = 'the run was cancelled';
  }
  return await stopRun(run);
}

/** Schedules, records and waits until the run completes (its result) or must stop (null). */
async function mainLoop(run: RunState): Promise<DagRunResult | null> {
  for (;;) {
    if (run.stopReason !== null) return null;
    applyDeferred(run);
    // Operator changes reach Postgres before anything runs again (a cleared mapped task's old
    // instance rows must be gone before it expands anew).
    while (run.operatorWrites) {
      run.operatorWrites = false;
      await run.flush();
    }
    const rollingOver = draining(run);
    if (!rollingOver) scheduleReady(run);
    await run.flush();
    if (run.callbackQueue.length > 0) startCallbacks(run);
    // A try an operator stopped ended while we flushed: apply its change before deciding anything.
    if (deferredReady(run)) continue;
    // Instances decided inside the graph (mapped-group cascades) can finish a mapped task.
    for (const i of run.activeMapped) if (isFinished(run.graph.state[i]!)) run.activeMapped.delete(i);
    const outcome = run.graph.runOutcome(run.inFlight() + run.activeMapped.size);
    publishDetails(run);
    if (outcome.state !== 'running' && run.deferred.size === 0) {
      // last_error says why a run failed; a run marked success has none.
      if (run.forcedState !== null)
        return await complete(
          run,
          run.forcedState,
          run.forcedState === 'failed' ? 'marked failed by an operator' : null,
        );
      return await complete(run, outcome.state, outcome.reason ?? null);
    }
    if (rollingOver && drained(run)) return await rollOver(run);
    if (run.expandedInline) {
      run.expandedInline = false;
      continue;
    }
    run.changed = false;
    await condition(() => run.changed);
  }
}
