/**
 * Control tasks (engine/control-flow.ts): what a branch, short-circuit or latest-only task skips,
 * decided from its result once it succeeded. A new control kind is one more case here.
 */
import { branchFollow, isTruthy } from '../../engine/control-flow.js';
import { gateVerdict } from '../../engine/model-gate.js';
import type { Json } from '../../spec/dag-spec.js';
import type { XComEntry } from '../types.js';
import { local } from './activities.js';
import type { RunState } from './state.js';

export interface ControlSkips {
  indices: number[];
  reason: string;
}

/** The skips a control task's result decides; undefined: none. */
export async function controlSkips(
  run: RunState,
  index: number,
  xcom: XComEntry | null,
  tryNumber: number,
): Promise<ControlSkips | undefined> {
  const { graph, dagId, runId } = run;
  const task = graph.tasks[index]!;
  const control = task.control!;
  const id = task.task_id;
  switch (control.type) {
    case 'branch': {
      const value = await resultOf(run, id, xcom);
      const follow = branchFollow(value, task.downstream, control.groups);
      return {
        indices: graph.branchSkips(index, follow),
        reason: `skipped by branch "${id}" (it followed ${follow.length > 0 ? follow.join(', ') : 'no task'})`,
      };
    }
    case 'short_circuit': {
      // A value stored by reference is over the inline limit, so it is a non-empty string, array or object: truthy.
      const truthy = xcom !== null && (!('inline' in xcom) || isTruthy(xcom.inline));
      if (truthy) return undefined;
      return {
        indices: graph.shortCircuitSkips(index, control.ignore_downstream_trigger_rules),
        reason: `skipped by short-circuit "${id}" (its result was falsy)`,
      };
    }
    case 'model_gate': {
      // Only DAGs with a model gate reach this case, so older histories replay unchanged.
      const verdict = gateVerdict(id, await resultOf(run, id, xcom));
      if (verdict.proceed) return undefined;
      return {
        indices: graph.shortCircuitSkips(index, control.ignore_downstream_trigger_rules),
        reason: verdict.reason,
      };
    }
    case 'latest_only': {
      const candidates = graph.latestOnlySkips(index);
      const answer = await local.checkLatestOnly({
        dagId,
        runId,
        runType: run.input.runType,
        logicalDate: run.input.logicalDate,
        taskId: id,
        tryNumber,
        downstream: candidates.map((i) => graph.tasks[i]!.task_id),
      });
      return answer.latest
        ? undefined
        : { indices: candidates, reason: `skipped by latest_only "${id}": ${answer.reason}` };
    }
  }
}

/** A control task's return value: inline, or read back when it was too large to travel through Temporal. */
async function resultOf(run: RunState, taskId: string, xcom: XComEntry | null): Promise<Json> {
  if (xcom === null) return null;
  return 'inline' in xcom
    ? xcom.inline
    : local.readXCom({ dagId: run.dagId, runId: run.runId, taskId, key: 'return_value' });
}
