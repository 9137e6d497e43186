/**
 * Starting work: every task the graph hands out (and every mapped instance there is room for)
 * runs in its own cancellation scope, so a run cancel, a timeout or an operator action can stop
 * it alone. A new task kind is dispatched in startTask.
 */
import { CancellationScope, isCancellation } from '@temporalio/workflow';
import { expandTask } from './mapping.js';
import type { RunState } from './state.js';
import { runTries } from './tries.js';

/** Starts what is ready, within the run's in-flight budget. */
export function scheduleReady(run: RunState): void {
  for (const i of run.graph.takeReady(run.maxInFlight - run.inFlight())) startTask(run, i);
  if (run.activeMapped.size > 0) startInstances(run);
}

function startTask(run: RunState, index: number): void {
  const scope = new CancellationScope();
  run.scopes.set(index, scope);
  scope
    .run(() => (run.graph.tasks[index]!.mapped ? expandTask(run, index) : runTries(run, index)))
    .catch((err) => {
      // Cancelled by a run-level stop: the stop path records the final states.
      if (!isCancellation(err)) throw err;
    })
    .finally(() => {
      run.scopes.delete(index);
      run.changed = true;
    });
}

/** Starts expanded mapped tasks' instances in expansion and map_index order, while there is room. */
function startInstances(run: RunState): void {
  for (const index of run.activeMapped) {
    const room = run.maxInFlight - run.inFlight();
    if (room <= 0) return;
    for (const mapIndex of run.graph.takeInstances(index, room)) {
      const key = `${index}:${mapIndex}`;
      const scope = new CancellationScope();
      run.instanceScopes.set(key, scope);
      scope
        .run(() => runTries(run, index, mapIndex))
        .catch((err) => {
          if (!isCancellation(err)) throw err;
        })
        .finally(() => {
          run.instanceScopes.delete(key);
          run.changed = true;
        });
    }
  }
}
