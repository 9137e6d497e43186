/**
 * Dynamic task mapping (engine/mapping.ts): a mapped task handed out by the graph is expanded once
 * its sources' lengths are known; its instances then run in this run's in-flight budget, in
 * map_index order, each in its own cancellation scope with its own tries (scheduling.ts).
 */
import { expansionLength, isXComRef, mappedSources, pathKey, pluckPath } from '../../engine/mapping.js';
import type { TaskSpec } from '../../spec/dag-spec.js';
import { TaskInstanceState } from '../../spec/states.js';
import { local } from './activities.js';
import type { RunState } from './state.js';

/** Expands a mapped task (or resumes an expansion carried over), or decides it has nothing to run. */
export async function expandTask(run: RunState, index: number): Promise<void> {
  const { graph } = run;
  run.expandedInline = true;
  const task = graph.tasks[index]!;
  let lengths = run.mapLengths.get(index);
  if (lengths === undefined) {
    const found = sourceLengths(run, task);
    if (typeof found === 'string') {
      run.pending.push({
        task_id: task.task_id,
        map_index: -1,
        state: TaskInstanceState.UPSTREAM_FAILED,
        try_number: 0,
        error: found,
      });
      run.finish(index, TaskInstanceState.UPSTREAM_FAILED);
      return;
    }
    lengths = found;
  }
  const n = expansionLength(lengths);
  if (n === 0) {
    // Airflow: a zero-length expansion skips the (unmapped) task instance.
    run.pending.push({
      task_id: task.task_id,
      map_index: -1,
      state: TaskInstanceState.SKIPPED,
      try_number: 0,
      error: 'mapped over an empty list: nothing to run',
    });
    run.finish(index, TaskInstanceState.SKIPPED);
    return;
  }
  run.mapLengths.set(index, lengths);
  if (!graph.mapped.has(index)) {
    const tryNumber = graph.tryNumber[index]!;
    await local.expandMappedTask({
      dagId: run.dagId,
      runId: run.runId,
      task,
      count: n,
      ...(tryNumber > 0 ? { tryNumber, maxTries: run.maxTries(index) } : {}),
    });
    run.recordDecisions(graph.expandMapped(index, n));
  }
  graph.markInFlight(index, TaskInstanceState.RUNNING, graph.tryNumber[index]!);
  run.activeMapped.add(index);
  run.changed = true;
}

/** The lengths of a mapped task's sources, or why it cannot expand (Airflow: upstream_failed). */
function sourceLengths(run: RunState, task: TaskSpec): number[] | string {
  const { graph } = run;
  const lengths: number[] = [];
  for (const { arg, source } of mappedSources(task.mapped!)) {
    if (Array.isArray(source)) {
      lengths.push(source.length);
      continue;
    }
    if (!isXComRef(source)) return `expand source ${arg ?? 'expandKwargs'} is neither a list nor a task output`;
    const upstreamId = source.$xcom.task_id;
    const entry = run.xcoms.get(graph.indexOf.get(upstreamId)!);
    const known = entry?.map_lengths?.[pathKey(source.$xcom.path)];
    if (known !== undefined) {
      lengths.push(known);
      continue;
    }
    const value = entry !== undefined && 'inline' in entry ? pluckPath(entry.inline, source.$xcom.path) : undefined;
    if (!Array.isArray(value)) {
      const what = arg === null ? 'expandKwargs()' : `argument "${arg}"`;
      return `cannot expand ${what}: upstream task "${upstreamId}" did not push a list for it (state ${graph.state[graph.indexOf.get(upstreamId)!]})`;
    }
    lengths.push(value.length);
  }
  return lengths;
}
