/**
 * createActivities(deps): every activity the DAG-run workflow calls, wired to their dependencies
 * (the samples' dependency-injection pattern). The workflow imports only the type of this.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import type { RunTaskRequest } from '../workflows/types.js';
import { makeBookkeeping } from './bookkeeping.js';
import { makeRunCallback } from './callbacks.js';
import { makeControlFlow } from './control-flow.js';
import type { FunctionResolver } from './executors/in-process.js';
import type { Executor } from './executors/types.js';
import { makeRunTask } from './run-task.js';
import type { Masker } from './task-log.js';

export interface ActivityDeps {
  db: Kysely<Database>;
  executorFor(req: RunTaskRequest): Executor;
  logsFolder: string | null;
  mask?: Masker;
  hostname?: string;
  allocateGpus?(req: RunTaskRequest, signal?: AbortSignal): Promise<{ devices: string[]; release(): void }>;
  heartbeatIntervalMs?: number;
  /** The DAG bag's function resolver: callbacks (runCallback) are resolved through it. */
  functions?: FunctionResolver;
}

export function createActivities(deps: ActivityDeps) {
  const bookkeeping = makeBookkeeping(deps.db);
  const controlFlow = makeControlFlow(deps);
  return {
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
