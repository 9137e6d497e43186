/**
 * Operator actions (engine/operator-actions.ts): clear, mark tasks, mark the run. A task whose try
 * is in flight is stopped first (its scope cancelled, the process or container killed) and changed
 * once it has stopped; every other task changes at once. The update handler is synchronous: the
 * main loop records the changes and schedules what runs again.
 */
import { log, setHandler } from '@temporalio/workflow';
import {
  describeAction,
  planAction,
  validateAction,
  OperatorActionError,
  type ActionResult,
  type OperatorAction,
} from '../../engine/operator-actions.js';
import { TaskInstanceState } from '../../spec/states.js';
import { operatorActionUpdate, RUN_FINISHING } from '../messages.js';
import type { TaskStateUpdate } from '../types.js';
import type { RunState } from './state.js';

/** Accepts actions while the run is open, and applies the action that re-opened it, if any. */
export function acceptOperatorActions(run: RunState): void {
  setHandler(operatorActionUpdate, (action) => applyAction(run, action), {
    validator: (action: OperatorAction): void => {
      if (!run.accepting) throw new OperatorActionError(`${RUN_FINISHING}; send the action again to re-open it`);
      validateAction(run.graph.tasks, action);
    },
  });
  const reopen = run.input.reopen;
  if (reopen) {
    // The client validated the action against the same DAG version; a bad one is logged, not fatal.
    try {
      applyAction(run, validateAction(run.graph.tasks, reopen.action));
    } catch (err) {
      if (!(err instanceof OperatorActionError)) throw err;
      log.error(`re-opened run: operator action refused: ${err.message}`);
    }
  }
}

function applyAction(run: RunState, action: OperatorAction): ActionResult {
  const { graph } = run;
  const plan = planAction(graph.tasks, (i) => graph.state[i]!, action);
  if (action.dry_run === true) return { ...plan, dry_run: true };
  const now: Array<{ index: number; state: TaskInstanceState }> = [];
  for (const c of plan.changes) {
    const index = graph.indexOf.get(c.task_id)!;
    if (!run.taskInFlight(index)) {
      now.push({ index, state: c.to });
      continue;
    }
    // Airflow: a cleared running task is `restarting` until its try has stopped.
    run.deferred.set(index, c.to);
    run.scopes.get(index)?.cancel();
    for (const [key, scope] of run.instanceScopes) if (key.startsWith(`${index}:`)) scope.cancel();
    run.activeMapped.delete(index);
    if (c.to === TaskInstanceState.NONE && !graph.mapped.has(index)) {
      run.pending.push({
        task_id: c.task_id,
        map_index: -1,
        state: TaskInstanceState.RESTARTING,
        try_number: graph.tryNumber[index]!,
      });
      run.operatorWrites = true;
    }
  }
  if (action.kind === 'set_run_state') run.forcedState = action.state;
  else if (action.kind === 'clear' && plan.changes.length > 0) run.forcedState = null;
  const what =
    action.kind === 'clear'
      ? 'cleared by an operator'
      : `marked ${action.kind === 'set_task_state' ? action.state : plan.forced_run_state} by an operator`;
  overrideStates(run, now, what);
  run.changed = true;
  log.info(`operator action: ${describeAction(action)}: ${plan.changes.length} task(s) changed`);
  return { ...plan, dry_run: false };
}

/** Applies changes deferred until their tries stopped (called by the main loop). */
export function applyDeferred(run: RunState): void {
  if (run.deferred.size === 0) return;
  const ready: Array<{ index: number; state: TaskInstanceState }> = [];
  for (const [index, state] of run.deferred) {
    if (run.taskInFlight(index)) continue;
    ready.push({ index, state });
    run.deferred.delete(index);
  }
  overrideStates(run, ready, 'set by an operator while running');
}

/** A deferred change can be applied now. Called on every pass of the main loop: no allocation when none waits. */
export function deferredReady(run: RunState): boolean {
  if (run.deferred.size === 0) return false;
  for (const i of run.deferred.keys()) if (!run.taskInFlight(i)) return true;
  return false;
}

function overrideStates(run: RunState, list: Array<{ index: number; state: TaskInstanceState }>, reason: string): void {
  if (list.length === 0) return;
  const { graph } = run;
  const rows: TaskStateUpdate[] = [];
  for (const { index, state } of list) {
    const task = graph.tasks[index]!;
    const m = graph.mapped.get(index);
    run.activeMapped.delete(index);
    if (state === TaskInstanceState.NONE) {
      run.xcoms.delete(index);
      run.mapLengths.delete(index);
      if (m) run.resetMapped.push(task.task_id);
    } else if (m) {
      // An expanded mapped task's record is its instances (map_index -1 is gone).
      for (let k = 0; k < m.n; k++) {
        if (m.state[k] !== state)
          rows.push({ task_id: task.task_id, map_index: k, state, try_number: m.tryNumber[k]!, error: reason });
      }
    }
  }
  const decisions = graph.override(list);
  for (const { index, state } of list) {
    const task = graph.tasks[index]!;
    if (state === TaskInstanceState.NONE) {
      rows.push({
        task_id: task.task_id,
        map_index: -1,
        state,
        try_number: graph.tryNumber[index]!,
        error: null,
        max_tries: run.maxTries(index),
      });
    } else if (!rows.some((r) => r.task_id === task.task_id)) {
      rows.push({ task_id: task.task_id, map_index: -1, state, try_number: graph.tryNumber[index]!, error: reason });
    }
  }
  run.pending.push(...rows);
  run.recordDecisions(decisions);
  run.operatorWrites = true;
  run.changed = true;
}
