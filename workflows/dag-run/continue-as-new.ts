/**
 * Continue-as-new: a long run rolls over to a fresh history, carrying its state (task states and
 * tries, mapped instances, inline XComs still needed, map lengths, a forced run state). The main
 * loop stops scheduling once draining() says so and rolls over when nothing is in flight.
 */
import { allHandlersFinished, condition, continueAsNew, workflowInfo } from '@temporalio/workflow';
import { isFinished } from '../../spec/states.js';
import type { CarriedRun, DagRunWorkflow } from '../types.js';
import type { RunState } from './state.js';

/**
 * Roll over when this generation's own progress made history large — not merely because the
 * server suggests it, which a 10,000-task spec load alone can trigger. Absolute caps stay well
 * under Temporal's hard limits (51,200 events, 50 MB).
 */
export function draining(run: RunState): boolean {
  const info = workflowInfo();
  const start = run.historyAfterLoad;
  const grownEvents = info.historyLength - start.length;
  const grownBytes = info.historySize - start.size;
  if (info.historyLength > 40_000 || info.historySize > 40 * 1024 * 1024) return true;
  return info.continueAsNewSuggested && (grownEvents >= 3_000 || grownBytes >= 4 * 1024 * 1024);
}

/** Nothing the next generation could not pick up is in flight. */
export function drained(run: RunState): boolean {
  return run.inFlight() === 0 && run.runningCallbacks.size === 0 && run.deferred.size === 0;
}

/** Waits for running message handlers, then continues as new with the run's state. */
export async function rollOver(run: RunState): Promise<never> {
  await condition(allHandlersFinished);
  const { graph } = run;
  const next: CarriedRun = {
    generation: run.generation + 1,
    startedAt: run.startedAt,
    deadline: run.deadline,
    tasks: graph.tasks.map((_, i) => {
      const mapped = graph.carriedMapped(i);
      const base = graph.tryBase[i]!;
      return {
        state: graph.state[i]!,
        try_number: graph.tryNumber[i]!,
        ...(mapped ? { mapped } : {}),
        ...(base > 0 ? { try_base: base } : {}),
      };
    }),
    xcoms: [...run.xcoms].filter(([i]) =>
      graph.tasks[i]!.downstream.some((d) => !isFinished(graph.state[graph.indexOf.get(d)!]!)),
    ),
    ...(run.mapLengths.size > 0
      ? { mapLengths: [...run.mapLengths].filter(([i]) => !isFinished(graph.state[i]!)) }
      : {}),
    ...(run.forcedState !== null ? { forcedState: run.forcedState } : {}),
  };
  // The action that re-opened the run is applied; the next generation must not apply it again.
  const { reopen: _applied, ...rest } = run.input;
  return await continueAsNew<DagRunWorkflow>({ ...rest, carried: next });
}
