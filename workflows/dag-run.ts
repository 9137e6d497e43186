/**
 * The DAG-run workflow: a deterministic interpreter of a DagSpec. Decisions (what may run, skips,
 * upstream_failed, retries with Airflow's backoff, timeouts, the run's result) are made here from
 * pure functions; side effects happen in activities. Replay-safe: no I/O, time only via Temporal.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import { taskQueueFor } from '../sdk/queues.js';
import { RunGraph, type AutoDecision } from '../sdk/run-graph.js';
import { retryDelaySeconds } from '../sdk/semantics/index.js';
import type { DagSpec, Json, TaskSpec } from '../sdk/spec.js';
import { TaskInstanceState, isFinished } from '../sdk/states.js';
import { DAG_RUN_STATE } from './search-attributes.js';
import {
  TaskFailureType,
  type CarriedRun,
  type DagRunInput,
  type RunTaskRequest,
  type TaskStateUpdate,
  type XComEntry,
} from './types.js';

type Activities = ReturnType<typeof createActivities>;

const local = proxyLocalActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '200 ms', maximumInterval: '10 seconds', maximumAttempts: 20 },
});

/** Workflow result: the run's final state. */
export interface DagRunResult {
  state: 'success' | 'failed';
  reason?: string;
  tasks: Record<string, number>;
}

export async function dagRun(input: DagRunInput): Promise<DagRunResult> {
  const { dagId, runId, options } = input;
  const generation = input.carried?.generation ?? 0;

  // 1. Load the spec in chunks (it can exceed Temporal's 2 MB payload limit as one blob).
  const first = await local.loadRun({
    dagId, runId, dagVersionId: input.dagVersionId, specHash: input.specHash,
    offset: 0, limit: options.specChunkSize, initialize: input.carried === undefined,
  });
  const tasks: TaskSpec[] = [...first.tasks];
  while (tasks.length < first.total) {
    const chunk = await local.loadRun({
      dagId, runId, dagVersionId: input.dagVersionId, specHash: input.specHash,
      offset: tasks.length, limit: options.specChunkSize, initialize: false,
    });
    tasks.push(...chunk.tasks);
  }
  const dag: DagSpec = { ...first.dag, tasks };
  const graph = new RunGraph(dag, input.carried?.tasks);
  const xcoms = new Map<number, XComEntry>(input.carried?.xcoms ?? []);
  const startedAt = input.carried?.startedAt ?? new Date().toISOString();
  const deadline =
    input.carried?.deadline ??
    (dag.dagrun_timeout == null ? null : new Date(Date.now() + dag.dagrun_timeout * 1000).toISOString());

  if (generation === 0) upsertSearchAttributes([{ key: DAG_RUN_STATE, value: 'running' }]);

  // 2. Bookkeeping: decisions the workflow makes itself, flushed in batches.
  let pending: TaskStateUpdate[] = [];
  const recordDecisions = (decisions: AutoDecision[]): void => {
    for (const d of decisions) {
      pending.push({ task_id: graph.tasks[d.index]!.task_id, map_index: -1, state: d.state, try_number: graph.tryNumber[d.index]!, error: d.reason });
    }
  };
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    await local.recordStates({ dagId, runId, tasks: batch });
  };

  // 3. Running tasks: one cancellation scope each, so a run cancel or timeout kills them all.
  const scopes = new Map<number, CancellationScope>();
  let changed = true;
  let stopReason: string | null = null;
  let stopState: 'failed' | null = null;

  const runTask = async (index: number): Promise<void> => {
    const task = graph.tasks[index]!;
    const maxTries = task.retries + 1;
    for (;;) {
      const tryNumber = graph.tryNumber[index]! + 1;
      graph.markInFlight(index, TaskInstanceState.RUNNING, tryNumber);
      changed = true;
      const request: RunTaskRequest = {
        dagId, runId, runType: input.runType, dagVersionId: input.dagVersionId, specHash: input.specHash,
        task, mapIndex: -1, tryNumber, maxTries,
        input: task.input === null ? null : resolveInput(task.input, graph, xcoms, dagId, runId),
        logicalDate: input.logicalDate, dataIntervalStart: input.dataIntervalStart, dataIntervalEnd: input.dataIntervalEnd,
        conf: input.conf, params: { ...dag.params, ...input.conf },
        xcomInlineLimitBytes: options.xcomInlineLimitBytes,
      };
      const acts = proxyActivities<Activities>({
        taskQueue: taskQueueFor(task, options.taskQueue),
        // The executor enforces execution_timeout itself; this is the backstop if it cannot.
        startToCloseTimeout: task.execution_timeout == null ? '3650 days' : (task.execution_timeout + 60) * 1000,
        heartbeatTimeout: options.heartbeatTimeoutSeconds * 1000,
        // Temporal retries only infrastructure failures (worker death) within the same try; the
        // task's own failures are non-retryable here and retried below with Airflow's semantics.
        retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5,
          nonRetryableErrorTypes: [TaskFailureType.FAILED, TaskFailureType.FAILED_NO_RETRY] },
        summary: `${task.task_id} try ${tryNumber}`,
        // Wait for the try to stop its work and record its end before the run records final
        // states (the SDK's effective default is TRY_CANCEL, which resolves at once; the try's own
        // late write would then overwrite e.g. dagrun_timeout's `skipped` with `failed`).
        cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      });
      let failure: { message: string; retryable: boolean } | null = null;
      try {
        const result = await acts.runTask(request);
        if (result.outcome === 'success') {
          if (result.xcom) xcoms.set(index, result.xcom);
          finish(index, TaskInstanceState.SUCCESS);
        } else {
          finish(index, TaskInstanceState.SKIPPED);
        }
        return;
      } catch (err) {
        if (isCancellation(err)) throw err;
        failure = describeFailure(err);
      }
      // The activity records its own failures; a try that died (timeout, lost worker) cannot, so
      // the workflow records it. Either way the upsert converges to the same row.
      const canRetry = failure.retryable && tryNumber < maxTries;
      pending.push({ task_id: task.task_id, map_index: -1, state: canRetry ? TaskInstanceState.UP_FOR_RETRY : TaskInstanceState.FAILED,
        try_number: tryNumber, error: failure.message, end_date: new Date().toISOString() });
      if (!canRetry) {
        finish(index, TaskInstanceState.FAILED);
        return;
      }
      graph.markInFlight(index, TaskInstanceState.UP_FOR_RETRY, tryNumber);
      changed = true;
      const delay = retryDelaySeconds({
        dagId, taskId: task.task_id, logicalDate: input.logicalDate, tryNumber,
        retryDelay: task.retry_delay, exponentialBackoff: task.retry_exponential_backoff, maxRetryDelay: task.max_retry_delay,
      });
      await sleep(delay * 1000, { summary: `${task.task_id} up_for_retry (try ${tryNumber + 1} in ${delay}s)` });
    }
  };

  const finish = (index: number, state: TaskInstanceState): void => {
    recordDecisions(graph.finish(index, state));
    changed = true;
  };

  const start = (index: number): void => {
    const scope = new CancellationScope();
    scopes.set(index, scope);
    scope
      .run(() => runTask(index))
      .catch((err) => {
        // Cancelled by a run-level stop: the stop path records the final states.
        if (!isCancellation(err)) throw err;
      })
      .finally(() => {
        scopes.delete(index);
        changed = true;
      });
  };

  recordDecisions(graph.evaluateAll());

  // 4. dagrun_timeout: a timer that stops the run.
  if (deadline !== null) {
    const ms = Math.max(0, Date.parse(deadline) - Date.now());
    void CancellationScope.cancellable(async () => {
      await sleep(ms, { summary: 'dagrun_timeout' });
      stopReason = `dagrun_timeout of ${dag.dagrun_timeout}s exceeded`;
      stopState = 'failed';
      changed = true;
    }).catch(() => undefined);
  }

  let lastDetails = '';
  const maxInFlight = Math.min(options.maxInFlight, dag.max_active_tasks);
  try {
    for (;;) {
      if (stopReason !== null) break;
      const draining = workflowInfo().continueAsNewSuggested;
      if (!draining) for (const i of graph.takeReady(maxInFlight - scopes.size)) start(i);
      await flush();
      const outcome = graph.runOutcome(scopes.size);
      lastDetails = publishDetails(dagId, runId, graph, lastDetails);
      if (outcome.state !== 'running') {
        return await complete(outcome.state, outcome.reason ?? null);
      }
      if (draining && scopes.size === 0) {
        await condition(allHandlersFinished);
        const carried: CarriedRun = {
          generation: generation + 1,
          startedAt,
          deadline,
          tasks: graph.tasks.map((_, i) => ({ state: graph.state[i]!, try_number: graph.tryNumber[i]! })),
          xcoms: [...xcoms].filter(([i]) => graph.tasks[i]!.downstream.some((d) => !isFinished(graph.state[graph.indexOf.get(d)!]!))),
        };
        return await continueAsNew<typeof dagRun>({ ...input, carried });
      }
      changed = false;
      await condition(() => changed);
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    stopReason = 'the run was cancelled';
    stopState = 'failed';
  }

  // 5. Stopped (cancelled or timed out): kill what runs, record, fail the run.
  return await CancellationScope.nonCancellable(async () => {
    for (const scope of scopes.values()) scope.cancel();
    await condition(() => scopes.size === 0);
    const timedOut = stopReason?.startsWith('dagrun_timeout') ?? false;
    // Airflow (set_dag_run_state_to_failed): running tries fail, every other unfinished task is
    // skipped; on dagrun_timeout running tries are skipped too. Tasks that are not running go
    // first: failing a running task first would cascade upstream_failed onto them.
    for (const runningPass of [false, true]) {
      for (let i = 0; i < graph.size; i++) {
        const s = graph.state[i]!;
        if (isFinished(s) || (s === TaskInstanceState.RUNNING) !== runningPass) continue;
        const state = runningPass && !timedOut ? TaskInstanceState.FAILED : TaskInstanceState.SKIPPED;
        recordDecisions(graph.finish(i, state));
        pending.push({ task_id: graph.tasks[i]!.task_id, map_index: -1, state, try_number: graph.tryNumber[i]!, error: stopReason });
      }
    }
    return await complete(stopState ?? 'failed', stopReason);
  });

  async function complete(state: 'success' | 'failed', reason: string | null): Promise<DagRunResult> {
    await flush();
    await local.recordStates({ dagId, runId, tasks: [], run: { state, error: reason, end: true } });
    upsertSearchAttributes([{ key: DAG_RUN_STATE, value: state }]);
    publishDetails(dagId, runId, graph, lastDetails);
    return { state, ...(reason ? { reason } : {}), tasks: graph.countsByState() };
  }
}

/** Replaces `{$xcom: ...}` references with values (inline) or with references the activity resolves. */
function resolveInput(template: Json, graph: RunGraph, xcoms: ReadonlyMap<number, XComEntry>, dagId: string, runId: string): Json {
  if (template === null || typeof template !== 'object') return template;
  if (Array.isArray(template)) return template.map((t) => resolveInput(t, graph, xcoms, dagId, runId));
  const ref = (template as { $xcom?: { task_id: string; key: string; path: string[] } }).$xcom;
  if (ref && Object.keys(template).length === 1) {
    const entry = xcoms.get(graph.indexOf.get(ref.task_id)!);
    if (entry === undefined) return null; // upstream skipped or pushed nothing: Airflow's None
    if ('inline' in entry) return pluck(entry.inline, ref.path);
    return { $xcom_ref: { dag_id: dagId, run_id: runId, task_id: ref.task_id, map_index: -1, key: ref.key, path: ref.path } };
  }
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(template)) out[k] = resolveInput(v, graph, xcoms, dagId, runId);
  return out;
}

function pluck(value: Json, path: readonly string[]): Json {
  let current: Json = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return null;
    current = (Array.isArray(current) ? current[Number(key)] : current[key]) ?? null;
  }
  return current;
}

function describeFailure(err: unknown): { message: string; retryable: boolean } {
  if (err instanceof ActivityFailure) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure) {
      return { message: cause.message, retryable: cause.type !== TaskFailureType.FAILED_NO_RETRY };
    }
    return { message: `${cause?.name ?? 'ActivityFailure'}: ${cause?.message ?? err.message}`, retryable: true };
  }
  return { message: err instanceof Error ? err.message : String(err), retryable: true };
}

function publishDetails(dagId: string, runId: string, graph: RunGraph, last: string): string {
  const counts = graph.countsByState();
  const rows = Object.entries(counts)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([state, n]) => `| ${state} | ${n} |`)
    .join('\n');
  const md = `**${dagId}** · \`${runId}\` · ${graph.size} tasks\n\n| state | tasks |\n|---|---|\n${rows}`;
  if (md !== last) setCurrentDetails(md);
  return md;
}
