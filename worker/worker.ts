/**
 * The Updraft worker: one Temporal worker that runs DAG-run workflows and task activities, with
 * the DAG bag loaded for in-process tasks. GPU and container workers reuse this with other
 * executors and task queues.
 */
import os from 'node:os';
import path from 'node:path';
import { Worker, bundleWorkflowCode, type NativeConnection, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import { createActivities } from '../activities/index.js';
import { createInProcessExecutor } from '../activities/executors/in-process.js';
import { createProcessExecutor } from '../activities/executors/process.js';
import { TaskExecutionError, type Executor } from '../activities/executors/types.js';
import type { Database } from '../db/database.js';
import type { DagBag } from './dag-bag.js';

let bundlePromise: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundles the workflow code once per process (webpack takes seconds; tests start many workers). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundlePromise ??= bundleWorkflowCode({
    workflowsPath: path.resolve(__dirname, '..', 'workflows', 'index.js'),
    logger: { trace: () => undefined, debug: () => undefined, info: () => undefined, warn: console.warn, error: console.error, log: () => undefined } as never,
  });
  return bundlePromise;
}

const emptyExecutor: Executor = {
  name: 'empty',
  execute: async () => ({ returnValue: undefined, exitCode: null }),
};

export interface UpdraftWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  db: Kysely<Database>;
  dagBag: DagBag;
  logsFolder: string | null;
  /** Extra executors by task kind (container executors register here). */
  executors?: Partial<Record<string, Executor>>;
  maxConcurrentActivityTaskExecutions?: number;
  hostname?: string;
  heartbeatIntervalMs?: number;
}

export async function createUpdraftWorker(opts: UpdraftWorkerOptions): Promise<Worker> {
  const inProcess = createInProcessExecutor(opts.dagBag.functionResolver());
  const executors: Record<string, Executor> = {
    function: inProcess,
    process: createProcessExecutor(),
    empty: emptyExecutor,
    ...Object.fromEntries(Object.entries(opts.executors ?? {}).filter((e): e is [string, Executor] => e[1] !== undefined)),
  };
  const activities = createActivities({
    db: opts.db,
    logsFolder: opts.logsFolder,
    hostname: opts.hostname ?? os.hostname(),
    heartbeatIntervalMs: opts.heartbeatIntervalMs,
    executorFor: (req) => {
      const executor = executors[req.task.kind];
      if (!executor) {
        throw new TaskExecutionError(`no executor for task kind "${req.task.kind}" on this worker (configured: ${Object.keys(executors).join(', ')})`, 'error');
      }
      return executor;
    },
  });
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions ?? 200,
    maxConcurrentLocalActivityExecutions: 50,
    // Give running tries a moment to notice shutdown; containers are left to be re-attached.
    shutdownGraceTime: '5 seconds',
  });
}
