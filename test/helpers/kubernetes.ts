/** What the Kubernetes executor tests share: a recording task log, failure expectation, cluster polling. */
import { expect } from 'chai';
import type { V1Pod } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import { apiStatus, type KubernetesClients } from '../../activities/executors/kubernetes-client.js';
import { TaskExecutionError } from '../../activities/executors/types.js';
import type { ExecutionRequest, ExecutorHandle, LogStream, TaskLogSink } from '../../activities/executors/types.js';
import type { TaskSpec } from '../../spec/dag-spec.js';

/** A task log that keeps every line with the time it arrived. */
export class RecordingSink implements TaskLogSink {
  readonly lines: Array<{ stream: LogStream; line: string; at: number }> = [];
  write(stream: LogStream, line: string): void {
    this.lines.push({ stream, line, at: Date.now() });
  }
  tail(n: number): string[] {
    return this.lines.slice(-n).map((l) => l.line);
  }
  of(stream: LogStream): string[] {
    return this.lines.filter((l) => l.stream === stream).map((l) => l.line);
  }
}

export interface TestRequest extends ExecutionRequest {
  log: RecordingSink;
  heartbeats: ExecutorHandle[];
}

let runCounter = 0;

/** A try of `spec` in DAG `dagId` with input {rows: [1, 2]}, recording its log and heartbeats. */
export function testRequest(
  dagId: string,
  spec: TaskSpec,
  overrides: Partial<Omit<ExecutionRequest, 'log' | 'heartbeat'>> = {},
): TestRequest {
  const heartbeats: ExecutorHandle[] = [];
  runCounter += 1;
  return {
    dagId,
    // Unique per test and per test process, so Jobs of earlier runs never collide.
    runId: `manual__2026-01-01T00:00:00+00:00_${process.pid}_${Date.now()}_${runCounter}`,
    taskId: spec.task_id,
    mapIndex: -1,
    tryNumber: 1,
    spec,
    input: { rows: [1, 2] },
    contextEnv: { UPDRAFT_DAG_ID: dagId, AIRFLOW_CTX_TASK_ID: spec.task_id },
    timeoutMs: null,
    signal: new AbortController().signal,
    previousHandle: undefined,
    gpuDevices: [],
    ...overrides,
    log: new RecordingSink(),
    heartbeats,
    heartbeat: (handle) => heartbeats.push(handle),
  };
}

export async function expectFailure(promise: Promise<unknown>): Promise<TaskExecutionError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(TaskExecutionError);
    return err as TaskExecutionError;
  }
  throw new Error('expected the execution to fail, but it succeeded');
}

export async function waitFor(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

export async function podsOf(clients: KubernetesClients, namespace: string, labelSelector: string): Promise<V1Pod[]> {
  return (await clients.core.listNamespacedPod({ namespace, labelSelector })).items;
}

/** True once the Job is deleted or being deleted. */
export async function jobGone(clients: KubernetesClients, namespace: string, name: string): Promise<boolean> {
  try {
    const job = await clients.batch.readNamespacedJob({ name, namespace });
    return job.metadata?.deletionTimestamp !== undefined && job.metadata.deletionTimestamp !== null;
  } catch (err) {
    if (apiStatus(err) === 404) return true;
    throw err;
  }
}
