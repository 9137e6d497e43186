/**
 * The run's queries: `taskStates` answers every task's state from the workflow's record, so the
 * Temporal UI (Queries tab) and `temporal workflow query` show skipped and upstream_failed tasks
 * and mapped instances too, while the run runs and after it ended.
 */
import { setHandler } from '@temporalio/workflow';
import { taskStatesQuery } from '../messages.js';
import type { TaskStateView, TaskStatesView } from '../types.js';
import type { RunState } from './state.js';

export function answerQueries(run: RunState): void {
  setHandler(taskStatesQuery, () => taskStatesView(run), {
    description:
      "Every task's state and try number (skipped and upstream_failed included); mapped tasks with their instances counted by state",
  });
}

export function taskStatesView(run: RunState): TaskStatesView {
  const { graph } = run;
  const tasks = graph.tasks.map((task, i): TaskStateView => {
    const view: TaskStateView = { task_id: task.task_id, state: graph.state[i]!, try_number: graph.tryNumber[i]! };
    const m = graph.mapped.get(i);
    if (m) {
      const counts = new Map<string, number>();
      for (let k = 0; k < m.n; k++) counts.set(m.state[k]!, (counts.get(m.state[k]!) ?? 0) + 1);
      // By state name, so the answer reads the same however the instances finished.
      view.instances = { count: m.n, states: Object.fromEntries([...counts].sort(([a], [b]) => (a < b ? -1 : 1))) };
    }
    return view;
  });
  return {
    dag_id: run.dagId,
    run_id: run.runId,
    state: run.result?.state ?? 'running',
    reason: run.result?.reason ?? null,
    counts: graph.countsByState(),
    tasks,
  };
}
