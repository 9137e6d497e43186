/**
 * The Updraft worker: one Temporal worker that runs DAG-run workflows and task activities, with
 * the functions of the DAG versions for in-process tasks. GPU and container workers reuse this with other
 * executors and task queues.
 */
import os from 'node:os';
import path from 'node:path';
import {
  Worker,
  bundleWorkflowCode,
  type NativeConnection,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import type { Kysely } from 'kysely';
import { createActivities } from '../activities/index.js';
import { createInProcessExecutor, type FunctionResolver } from '../activities/executors/in-process.js';
import { withConsoleCapture } from '../activities/executors/console-capture.js';
import { createDockerExecutor } from '../activities/executors/docker.js';
import { createKubernetesExecutor } from '../activities/executors/kubernetes.js';
import { createProcessExecutor } from '../activities/executors/process.js';
import { createSensorExecutor } from '../activities/sensors/sensor-executor.js';
import { createModelGateExecutor } from '../activities/model-gate.js';
import { createModelVersionExecutor } from '../activities/model-version.js';
import type { GpuAllocator } from '../activities/gpu-allocator.js';
import { TaskExecutionError, type Executor } from '../activities/executors/types.js';
import type { Database } from '../db/database.js';
import type { ContainerConfig } from './config.js';
import type { ArtifactStore } from '../artifacts/index.js';
import type { OpenLineageEmitter } from '../activities/lineage/openlineage-transport.js';

let bundlePromise: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundles the workflow code once per process (webpack takes seconds; tests start many workers). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundlePromise ??= bundleWorkflowCode({
    workflowsPath: path.resolve(__dirname, '..', 'workflows', 'index.js'),
    logger: {
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: console.warn,
      error: console.error,
      log: () => undefined,
    } as never,
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
  /** Task and callback functions from the code of each run's DAG version (worker/dag-functions.ts). */
  functions: FunctionResolver;
  logsFolder: string | null;
  /** Extra executors by task kind (container executors register here). */
  executors?: Partial<Record<string, Executor>>;
  maxConcurrentActivityTaskExecutions?: number;
  hostname?: string;
  heartbeatIntervalMs?: number;
  containers?: ContainerConfig;
  /** Serve a GPU queue with these devices (exclusive per try); concurrency = device count. */
  gpu?: GpuAllocator;
  /** Called after a task's outlets recorded asset events (wakes the asset-run service). */
  onAssetEvents?: () => void;
  /** Called when a DAG run ended (starts a @continuous DAG's next run). */
  onRunEnded?: (dagId: string) => void;
  /** Step outputs and the ML record (docs/step-outputs.md); absent: step output files are ignored. */
  artifactStore?: ArtifactStore | null;
  /** Where Kubernetes steps find the store (worker/config.ts artifactStoreEnv). */
  artifactStoreEnv?: Record<string, string>;
  /** The store's keys for Kubernetes steps (worker/config.ts artifactStoreCredentialEnv); never logged. */
  artifactStoreCredentials?: Record<string, string>;
  /** OpenLineage events for DAG runs and task tries; absent or null: none. */
  openLineage?: OpenLineageEmitter | null;
  /** Activities beyond the DAG run's (the scheduler's tick, which needs a Temporal client). */
  extraActivities?: object;
}

/** Container tasks go to Docker or Kubernetes by their `runtime` (default from configuration). */
export function createContainerExecutor(config: ContainerConfig): Executor {
  let docker: Executor | undefined;
  let kubernetes: Executor | undefined;
  return {
    name: 'container',
    execute: (req) => {
      const runtime = req.spec.container?.runtime ?? config.defaultRuntime;
      if (runtime === 'kubernetes') {
        kubernetes ??= createKubernetesExecutor({
          kubeconfigPath: config.kubeconfig ?? undefined,
          context: config.kubeContext ?? undefined,
          namespace: config.kubeNamespace,
          pendingTimeoutMs: config.kubePendingTimeoutSeconds * 1000,
        });
        return kubernetes.execute(req);
      }
      docker ??= createDockerExecutor({
        socketPath: config.dockerSocket ?? undefined,
        stopGraceSeconds: config.dockerStopGraceSeconds,
      });
      return docker.execute(req);
    },
  };
}

export async function createUpdraftWorker(opts: UpdraftWorkerOptions): Promise<Worker> {
  // What in-process functions print goes to their try's log, masked (console-capture.ts).
  const inProcess = withConsoleCapture(createInProcessExecutor(opts.functions));
  const processExecutor = createProcessExecutor();
  const executors: Record<string, Executor> = {
    function: inProcess,
    process: processExecutor,
    empty: emptyExecutor,
    sensor: createSensorExecutor({ db: opts.db, functionExecutor: inProcess, processExecutor }),
    model_gate: createModelGateExecutor({ db: opts.db }),
    model_version: createModelVersionExecutor({ db: opts.db }),
    ...(opts.containers ? { container: createContainerExecutor(opts.containers) } : {}),
    ...Object.fromEntries(
      Object.entries(opts.executors ?? {}).filter((e): e is [string, Executor] => e[1] !== undefined),
    ),
  };
  const activities = createActivities({
    functions: opts.functions,
    db: opts.db,
    logsFolder: opts.logsFolder,
    hostname: opts.hostname ?? os.hostname(),
    heartbeatIntervalMs: opts.heartbeatIntervalMs,
    ...(opts.onAssetEvents ? { onAssetEvents: opts.onAssetEvents } : {}),
    ...(opts.onRunEnded ? { onRunEnded: opts.onRunEnded } : {}),
    artifactStore: opts.artifactStore ?? null,
    ...(opts.artifactStoreEnv ? { artifactStoreEnv: opts.artifactStoreEnv } : {}),
    ...(opts.artifactStoreCredentials ? { artifactStoreCredentials: opts.artifactStoreCredentials } : {}),
    openLineage: opts.openLineage ?? null,
    ...(opts.gpu ? { allocateGpus: gpuAllocation(opts.gpu) } : {}),
    executorFor: (req) => {
      const executor = executors[req.task.kind];
      if (!executor) {
        throw new TaskExecutionError(
          `no executor for task kind "${req.task.kind}" on this worker (configured: ${Object.keys(executors).join(', ')})`,
          'error',
        );
      }
      return executor;
    },
  });
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: { ...activities, ...opts.extraActivities },
    maxConcurrentActivityTaskExecutions:
      opts.maxConcurrentActivityTaskExecutions ?? (opts.gpu ? Math.max(1, opts.gpu.devices.length) : 200),
    maxConcurrentLocalActivityExecutions: 50,
    // Give running tries a moment to notice shutdown; containers are left to be re-attached.
    shutdownGraceTime: '5 seconds',
  });
}

/** Allocates a try's GPUs from the worker's inventory (tasks without GPUs get none). */
function gpuAllocation(gpu: GpuAllocator) {
  return async (
    req: { task: { task_id: string; resources: { gpu: number } }; dagId: string; runId: string; tryNumber: number },
    signal?: AbortSignal,
  ) => {
    if (req.task.resources.gpu <= 0) return { devices: [], release: () => undefined };
    return gpu.acquire(
      req.task.resources.gpu,
      `${req.dagId}/${req.runId}/${req.task.task_id}#${req.tryNumber}`,
      signal,
    );
  };
}
