/**
 * Why `updraft tasks logs` found no log, in words that say what is really wrong and what to do:
 * the task id is not always the problem — a mapped task needs -m, a task that never ran (skipped,
 * upstream_failed, not started yet) has no log.
 */

/** What the record says about the requested task in the run. */
export interface LogLookupFacts {
  dagId: string;
  runId: string;
  taskId: string;
  /** The -m given, or undefined without one. */
  mapIndex: number | undefined;
  runState: string;
  /** The task ids of the run's DAG version (empty when the version is not stored). */
  taskIds: readonly string[];
  /** The task's instances in the run (every map index). */
  instances: ReadonlyArray<{ map_index: number; state: string | null; try_number: number }>;
}

const WHY_NOT_RUN: Record<string, string> = {
  skipped: 'it was skipped',
  upstream_failed: 'an upstream task failed',
  removed: 'it is not in the DAG version this run uses',
  scheduled: 'it has not started yet',
  queued: 'it is waiting to start (queued: pool slots, concurrency limits or a busy worker)',
  up_for_retry: 'it is waiting for its next try',
  none: 'it has not been scheduled yet: its upstream tasks have not finished',
};

function indexRange(indexes: number[]): string {
  const sorted = [...indexes].sort((a, b) => a - b);
  return sorted.length === sorted[sorted.length - 1]! - sorted[0]! + 1
    ? `${sorted[0]}..${sorted[sorted.length - 1]}`
    : sorted.join(', ');
}

export function explainMissingLog(f: LogLookupFacts): string {
  const cmd = `updraft tasks logs ${f.dagId} ${f.runId} ${f.taskId}`;
  if (!f.taskIds.includes(f.taskId) && f.instances.length === 0) {
    return `DAG "${f.dagId}" has no task "${f.taskId}" in run "${f.runId}"; its tasks are: ${f.taskIds.join(', ')}`;
  }
  if (f.instances.length === 0) {
    return `task "${f.taskId}" has not run in run "${f.runId}" (no task instance yet; the run is ${f.runState}), so it has no log yet`;
  }
  const mapped = f.instances.filter((i) => i.map_index >= 0);
  if (mapped.length > 0 && (f.mapIndex === undefined || f.mapIndex < 0)) {
    const first = [...mapped].sort((a, b) => a.map_index - b.map_index)[0]!.map_index;
    return (
      `task "${f.taskId}" is mapped: run "${f.runId}" has ${mapped.length} instance(s) (map_index ${indexRange(mapped.map((i) => i.map_index))}); ` +
      `pick one with -m, e.g. \`${cmd} -m ${first}\``
    );
  }
  const wanted = f.mapIndex ?? -1;
  const instance = f.instances.find((i) => i.map_index === wanted);
  if (!instance) {
    return mapped.length > 0
      ? `task "${f.taskId}" has no map_index ${wanted} in run "${f.runId}" (its instances: map_index ${indexRange(mapped.map((i) => i.map_index))})`
      : `task "${f.taskId}" is not mapped: drop -m ${wanted}`;
  }
  const label = wanted >= 0 ? `task "${f.taskId}" [map_index ${wanted}]` : `task "${f.taskId}"`;
  const state = instance.state ?? 'none';
  if (instance.try_number === 0) {
    const why = WHY_NOT_RUN[state] ?? `its state is ${state}`;
    return `${label} never ran in run "${f.runId}", so it has no log: ${why} (state ${state}; see updraft tasks states-for-dag-run ${f.dagId} ${f.runId})`;
  }
  return (
    `no log is stored for ${label} of run "${f.runId}" (state ${state}, try ${instance.try_number}): its worker may not have written one yet; ` +
    `the log files are also under the logs folder (dag_id=${f.dagId}/run_id=.../task_id=${f.taskId}/)`
  );
}
