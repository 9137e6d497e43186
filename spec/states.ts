/** Task-instance states (Airflow `TaskInstanceState`); `none` is Airflow's null state. */
export const TaskInstanceState = {
  NONE: 'none',
  SCHEDULED: 'scheduled',
  QUEUED: 'queued',
  RUNNING: 'running',
  SUCCESS: 'success',
  FAILED: 'failed',
  SKIPPED: 'skipped',
  UPSTREAM_FAILED: 'upstream_failed',
  UP_FOR_RETRY: 'up_for_retry',
  UP_FOR_RESCHEDULE: 'up_for_reschedule',
  REMOVED: 'removed',
  DEFERRED: 'deferred',
  RESTARTING: 'restarting',
} as const;
export type TaskInstanceState = (typeof TaskInstanceState)[keyof typeof TaskInstanceState];

/** Terminal ("finished") states: the scheduler never moves a task out of these on its own. */
export const FINISHED_STATES: ReadonlySet<TaskInstanceState> = new Set<TaskInstanceState>([
  TaskInstanceState.SUCCESS,
  TaskInstanceState.FAILED,
  TaskInstanceState.SKIPPED,
  TaskInstanceState.UPSTREAM_FAILED,
  TaskInstanceState.REMOVED,
]);

export function isFinished(state: TaskInstanceState): boolean {
  return FINISHED_STATES.has(state);
}

/** DAG-run states (Airflow `DagRunState`). */
export const DagRunState = {
  QUEUED: 'queued',
  RUNNING: 'running',
  SUCCESS: 'success',
  FAILED: 'failed',
} as const;
export type DagRunState = (typeof DagRunState)[keyof typeof DagRunState];

/** How a run was started (Airflow `DagRunType`). */
export const DagRunType = {
  MANUAL: 'manual',
  SCHEDULED: 'scheduled',
  BACKFILL: 'backfill',
  ASSET_TRIGGERED: 'asset_triggered',
} as const;
export type DagRunType = (typeof DagRunType)[keyof typeof DagRunType];

/** Who asked for a run (Airflow 3's `DagRunTriggeredByType`, the values Updraft records). */
export const DagRunTriggeredBy = {
  CLI: 'cli',
  /** `dags test`: runs at once, even on a paused DAG (Airflow's dag.test() bypasses the scheduler). */
  TEST: 'test',
  TIMETABLE: 'timetable',
  ASSET: 'asset',
  BACKFILL: 'backfill',
} as const;
export type DagRunTriggeredBy = (typeof DagRunTriggeredBy)[keyof typeof DagRunTriggeredBy];

/** The triggered_by of a run nobody named one for: what its run type implies (manual: the CLI, today's only manual path). */
export function defaultTriggeredBy(runType: DagRunType): DagRunTriggeredBy {
  switch (runType) {
    case DagRunType.SCHEDULED:
      return DagRunTriggeredBy.TIMETABLE;
    case DagRunType.BACKFILL:
      return DagRunTriggeredBy.BACKFILL;
    case DagRunType.ASSET_TRIGGERED:
      return DagRunTriggeredBy.ASSET;
    case DagRunType.MANUAL:
      return DagRunTriggeredBy.CLI;
  }
}
