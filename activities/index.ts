/**
 * createActivities(deps): every activity the DAG-run workflow calls, wired to their dependencies
 * (the samples' dependency-injection pattern). The workflow imports only the type of this.
 */
import { makeBookkeeping } from './bookkeeping.js';
import { makeRunCallback, type CallbackDeps } from './callbacks.js';
import { makeControlFlow } from './control-flow.js';
import { makeRunAdmission } from './run-admission.js';
import { makeRunTask, type RunTaskDeps } from './run-task.js';

/**
 * What the activities need: runTask's dependencies and runCallback's (the DAG bag's resolver among
 * them), and who to tell that a run ended (the worker's scheduler, for @continuous DAGs).
 */
export type ActivityDeps = RunTaskDeps & CallbackDeps & { onRunEnded?: (dagId: string) => void };

export function createActivities(deps: ActivityDeps) {
  const bookkeeping = makeBookkeeping(deps.db, deps.openLineage ?? null);
  const controlFlow = makeControlFlow(deps);
  const admission = makeRunAdmission(deps.db, deps.onRunEnded);
  return {
    admitRun: admission.admitRun,
    queuedRunsToWake: admission.queuedRunsToWake,
    loadRun: bookkeeping.loadRun,
    recordStates: bookkeeping.recordStates,
    expandMappedTask: bookkeeping.expandMappedTask,
    reopenRun: bookkeeping.reopenRun,
    failedTasks: bookkeeping.failedTasks,
    runTask: makeRunTask(deps),
    runCallback: makeRunCallback(deps),
    checkLatestOnly: controlFlow.checkLatestOnly,
    readXCom: controlFlow.readXCom,
  };
}
