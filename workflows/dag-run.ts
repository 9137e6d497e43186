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
  patched,
  setCurrentDetails,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
  allHandlersFinished,
  log,
  setHandler,
} from '@temporalio/workflow';
import type { createActivities } from '../activities/index.js';
import { callbackKey, type CallbackPayload, type DagCallbackName, type TaskCallbackName } from '../spec/callbacks.js';
import { branchFollow, isTruthy } from '../engine/control-flow.js';
import { taskQueueFor } from '../engine/queues.js';
import { RunGraph, type AutoDecision } from '../engine/run-graph.js';
import { describeAction, planAction, validateAction, OperatorActionError, type ActionResult, type OperatorAction } from '../engine/operator-actions.js';
import { aggregateState, expansionLength, instanceTemplate, isXComRef, mappedSources, pathKey, pluckPath } from '../engine/mapping.js';
import { retryDelaySeconds } from '../engine/index.js';
import type { DagSpec, Json, TaskSpec } from '../spec/dag-spec.js';
import { TaskInstanceState, isFinished } from '../spec/states.js';
import { operatorActionUpdate, RUN_FINISHING } from './messages.js';
import { DAG_RUN_STATE } from './search-attributes.js';
import {
  TaskFailureType,
  type CarriedRun,
  type DagRunInput,
  type RunCallbackRequest,
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
    offset: 0, limit: options.specChunkSize, initialize: input.carried === undefined && input.reopen === undefined,
  });
  const tasks: TaskSpec[] = [...first.tasks];
  // Later chunks are regular activities: local-activity results all travel in one workflow-task
  // completion, and 20 chunks of a 10,000-task spec exceed the server's 4 MB gRPC message limit.
  const chunkLoader = tasks.length < first.total && patched('spec-chunks-as-activities')
    ? proxyActivities<Activities>({ taskQueue: options.taskQueue, startToCloseTimeout: '1 minute',
      retry: { initialInterval: '200 ms', maximumInterval: '10 seconds', maximumAttempts: 20 } })
    : local;
  while (tasks.length < first.total) {
    const chunk = await chunkLoader.loadRun({
      dagId, runId, dagVersionId: input.dagVersionId, specHash: input.specHash,
      offset: tasks.length, limit: options.specChunkSize, initialize: false,
    });
    tasks.push(...chunk.tasks);
  }
  const dag: DagSpec = { ...first.dag, tasks };
  // A run re-opened by an operator action starts from its record in Postgres, as if continued.
  const carried = input.carried ?? (input.reopen
    ? await local.reopenRun({ dagId, runId, dagVersionId: input.dagVersionId, specHash: input.specHash, dagrunTimeoutSeconds: dag.dagrun_timeout ?? null })
    : undefined);
  // Where this generation's history starts growing from: loading a large spec alone can pass the
  // server's continue-as-new hint, and rolling over for that would reload it forever.
  const historyAfterLoad = { length: workflowInfo().historyLength, size: workflowInfo().historySize };
  const graph = new RunGraph(dag, carried?.tasks);
  const xcoms = new Map<number, XComEntry>(carried?.xcoms ?? []);
  const startedAt = carried?.startedAt ?? new Date().toISOString();
  const deadline =
    carried?.deadline ??
    (dag.dagrun_timeout == null ? null : new Date(Date.now() + dag.dagrun_timeout * 1000).toISOString());

  if (generation === 0) upsertSearchAttributes([{ key: DAG_RUN_STATE, value: 'running' }]);

  // 2. Bookkeeping: decisions the workflow makes itself, flushed in batches.
  let pending: TaskStateUpdate[] = [];
  /** Mapped tasks an operator cleared whose instance rows the next flush removes. */
  let resetMapped: string[] = [];
  const recordDecisions = (decisions: AutoDecision[]): void => {
    for (const d of decisions) {
      if (d.mapIndex !== undefined) {
        // An instance of a mapped-group member decided by its in-group upstream instance.
        pending.push({ task_id: graph.tasks[d.index]!.task_id, map_index: d.mapIndex, state: d.state, try_number: graph.mapped.get(d.index)?.tryNumber[d.mapIndex] ?? 0, error: d.reason });
        continue;
      }
      pending.push({ task_id: graph.tasks[d.index]!.task_id, map_index: -1, state: d.state, try_number: graph.tryNumber[d.index]!, error: d.reason });
    }
  };
  const flush = async (): Promise<void> => {
    if (pending.length === 0 && resetMapped.length === 0) return;
    const batch = pending;
    const reset = resetMapped;
    pending = [];
    resetMapped = [];
    await local.recordStates({ dagId, runId, tasks: batch, ...(reset.length > 0 ? { resetMapped: reset } : {}) });
  };

  // 3. Running tasks: one cancellation scope each, so a run cancel or timeout kills them all.
  const scopes = new Map<number, CancellationScope>();
  let changed = true;
  let stopReason: string | null = null;
  let stopState: 'failed' | null = null;

  // Callbacks (sdk/callbacks.ts): queued when a state is decided, started by the main loop right
  // after the next flush (so the state is recorded first), awaited before the run completes or
  // continues as new. They run non-cancellable and never change a state.
  const callbackQueue: RunCallbackRequest[] = [];
  const runningCallbacks = new Set<Promise<void>>();
  const callbackPayload = (name: TaskCallbackName | DagCallbackName, taskId: string | null, tryNumber: number, state: string, exception: string | null, mapIndex = -1): CallbackPayload => ({
    callback: name, dag_id: dagId, task_id: taskId, run_id: runId, run_type: input.runType, logical_date: input.logicalDate,
    try_number: tryNumber, map_index: mapIndex, state, exception, params: { ...dag.params, ...input.conf }, conf: input.conf,
  });
  const callbackRequest = (name: TaskCallbackName | DagCallbackName, taskId: string | null, tryNumber: number, state: string, exception: string | null, mapIndex = -1): RunCallbackRequest => ({
    dagId, runId, specHash: input.specHash, dagVersionId: input.dagVersionId, key: callbackKey(taskId, name), payload: callbackPayload(name, taskId, tryNumber, state, exception, mapIndex),
  });
  const queueCallback = (index: number, name: TaskCallbackName, tryNumber: number, state: string, exception: string | null, mapIndex = -1): void => {
    const task = graph.tasks[index]!;
    if (task.callbacks?.[name]) callbackQueue.push(callbackRequest(name, task.task_id, tryNumber, state, exception, mapIndex));
  };
  const callCallback = async (req: RunCallbackRequest): Promise<void> => {
    const what = `${req.payload.task_id ?? 'DAG run'} ${req.payload.callback} callback`;
    const acts = proxyActivities<Activities>({
      taskQueue: options.taskQueue,
      startToCloseTimeout: '10 minutes',
      // The activity returns what the callback threw; only infrastructure failures get here.
      retry: { initialInterval: '1 second', maximumAttempts: 3 },
      summary: req.payload.task_id === null ? `DAG ${req.payload.callback} callback` : `${req.payload.task_id} ${req.payload.callback} callback (try ${req.payload.try_number})`,
    });
    try {
      const result = await acts.runCallback(req);
      if (!result.ok) log.warn(`${what} failed (state unchanged): ${result.error}`);
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn(`${what} could not run: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const startCallbacks = (): void => {
    for (const req of callbackQueue.splice(0)) {
      const p: Promise<void> = CancellationScope.nonCancellable(() => callCallback(req)).finally(() => {
        runningCallbacks.delete(p);
        changed = true;
      });
      runningCallbacks.add(p);
    }
  };

  /** Skips a control task's result decides (branch, short-circuit, latest-only); undefined: none. */
  const controlSkips = async (index: number, xcom: XComEntry | null, tryNumber: number): Promise<{ indices: number[]; reason: string } | undefined> => {
    const task = graph.tasks[index]!;
    const control = task.control!;
    const id = task.task_id;
    switch (control.type) {
      case 'branch': {
        let value: Json = null;
        if (xcom !== null) {
          value = 'inline' in xcom ? xcom.inline : await local.readXCom({ dagId, runId, taskId: id, key: 'return_value' });
        }
        const follow = branchFollow(value, task.downstream, control.groups);
        return { indices: graph.branchSkips(index, follow), reason: `skipped by branch "${id}" (it followed ${follow.length > 0 ? follow.join(', ') : 'no task'})` };
      }
      case 'short_circuit': {
        // A value stored by reference is over the inline limit, so it is a non-empty string, array or object: truthy.
        const truthy = xcom !== null && (!('inline' in xcom) || isTruthy(xcom.inline));
        if (truthy) return undefined;
        return {
          indices: graph.shortCircuitSkips(index, control.ignore_downstream_trigger_rules),
          reason: `skipped by short-circuit "${id}" (its result was falsy)`,
        };
      }
      case 'latest_only': {
        const candidates = graph.latestOnlySkips(index);
        const answer = await local.checkLatestOnly({
          dagId, runId, runType: input.runType, logicalDate: input.logicalDate, taskId: id, tryNumber,
          downstream: candidates.map((i) => graph.tasks[i]!.task_id),
        });
        return answer.latest ? undefined : { indices: candidates, reason: `skipped by latest_only "${id}": ${answer.reason}` };
      }
    }
  };

  /** Runs a task's tries (mapIndex -1) or one mapped instance's tries until it is decided. */
  const runTask = async (index: number, mapIndex = -1): Promise<void> => {
    const task = graph.tasks[index]!;
    // tryBase: the tries before an operator cleared the task; a cleared task gets its retries anew.
    const maxTries = graph.tryBase[index]! + task.retries + 1;
    const instance = mapIndex >= 0 ? graph.mapped.get(index)! : null;
    const mark = (state: TaskInstanceState, tryNumber: number): void => {
      if (instance) graph.markInstance(index, mapIndex, state, tryNumber);
      else graph.markInFlight(index, state, tryNumber);
    };
    // Set when a sensor in reschedule mode asked to be poked again: the next poke is the same try.
    let rescheduledTry: number | null = null;
    for (;;) {
      const tryNumber: number = rescheduledTry ?? (instance ? instance.tryNumber[mapIndex]! : graph.tryNumber[index]!) + 1;
      rescheduledTry = null;
      mark(TaskInstanceState.RUNNING, tryNumber);
      changed = true;
      // Airflow runs on_execute_callback right before the work; so do we, awaited, per try.
      if (task.callbacks?.on_execute) await callCallback(callbackRequest('on_execute', task.task_id, tryNumber, TaskInstanceState.RUNNING, null, mapIndex));
      const template = instance ? instanceTemplate(task.mapped!, mapIndex, mapLengths.get(index)!, task.input) : task.input;
      const request: RunTaskRequest = {
        dagId, runId, runType: input.runType, dagVersionId: input.dagVersionId, specHash: input.specHash,
        task, mapIndex, tryNumber, maxTries,
        input: template === null ? null : resolveInput(template, graph, xcoms, dagId, runId),
        logicalDate: input.logicalDate, dataIntervalStart: input.dataIntervalStart, dataIntervalEnd: input.dataIntervalEnd,
        conf: input.conf, params: { ...dag.params, ...input.conf },
        xcomInlineLimitBytes: options.xcomInlineLimitBytes,
        ...(task.map_sources && dag.max_map_length !== undefined ? { maxMapLength: dag.max_map_length } : {}),
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
        summary: mapIndex >= 0 ? `${task.task_id}[${mapIndex}] try ${tryNumber}` : `${task.task_id} try ${tryNumber}`,
        // Wait for the try to stop its work and record its end before the run records final
        // states (the SDK's effective default is TRY_CANCEL, which resolves at once; the try's own
        // late write would then overwrite e.g. dagrun_timeout's `skipped` with `failed`).
        cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      });
      let failure: { message: string; retryable: boolean } | null = null;
      try {
        const result = await acts.runTask(request);
        if (result.outcome === 'reschedule') {
          // The activity recorded up_for_reschedule and gave back its slots; wait, then poke again.
          mark(TaskInstanceState.UP_FOR_RESCHEDULE, tryNumber);
          changed = true;
          await sleep(Math.max(1, result.delaySeconds * 1000), { summary: `${task.task_id} up_for_reschedule (try ${tryNumber}, next poke in ${result.delaySeconds}s)` });
          rescheduledTry = tryNumber;
          continue;
        }
        if (instance) {
          // Instances' XComs stay in Postgres: downstream tasks read the collected list by reference.
          const state = result.outcome === 'success' ? TaskInstanceState.SUCCESS : TaskInstanceState.SKIPPED;
          finishInstance(index, mapIndex, state);
          if (result.outcome === 'success') queueCallback(index, 'on_success', tryNumber, state, null, mapIndex);
          else queueCallback(index, 'on_skipped', tryNumber, state, result.reason, mapIndex);
        } else if (result.outcome === 'success') {
          if (result.xcom) xcoms.set(index, result.xcom);
          const skip = task.control ? await controlSkips(index, result.xcom ?? null, tryNumber) : undefined;
          finish(index, TaskInstanceState.SUCCESS, skip);
          queueCallback(index, 'on_success', tryNumber, TaskInstanceState.SUCCESS, null);
        } else {
          finish(index, TaskInstanceState.SKIPPED);
          queueCallback(index, 'on_skipped', tryNumber, TaskInstanceState.SKIPPED, result.reason);
        }
        return;
      } catch (err) {
        if (isCancellation(err)) throw err;
        failure = describeFailure(err);
      }
      // The activity records its own failures; a try that died (timeout, lost worker) cannot, so
      // the workflow records it. Either way the upsert converges to the same row.
      const canRetry = failure.retryable && tryNumber < maxTries;
      pending.push({ task_id: task.task_id, map_index: mapIndex, state: canRetry ? TaskInstanceState.UP_FOR_RETRY : TaskInstanceState.FAILED,
        try_number: tryNumber, error: failure.message, end_date: new Date().toISOString() });
      if (!canRetry) {
        if (instance) finishInstance(index, mapIndex, TaskInstanceState.FAILED);
        else finish(index, TaskInstanceState.FAILED);
        queueCallback(index, 'on_failure', tryNumber, TaskInstanceState.FAILED, failure.message, mapIndex);
        return;
      }
      mark(TaskInstanceState.UP_FOR_RETRY, tryNumber);
      queueCallback(index, 'on_retry', tryNumber, TaskInstanceState.UP_FOR_RETRY, failure.message, mapIndex);
      changed = true;
      const delay = retryDelaySeconds({
        dagId, taskId: task.task_id, logicalDate: input.logicalDate, tryNumber,
        retryDelay: task.retry_delay, exponentialBackoff: task.retry_exponential_backoff, maxRetryDelay: task.max_retry_delay,
      });
      await sleep(delay * 1000, { summary: `${mapIndex >= 0 ? `${task.task_id}[${mapIndex}]` : task.task_id} up_for_retry (try ${tryNumber + 1} in ${delay}s)` });
    }
  };

  const finish = (index: number, state: TaskInstanceState, skip?: { indices: number[]; reason: string }): void => {
    recordDecisions(graph.finish(index, state, skip));
    changed = true;
  };

  // Dynamic task mapping (engine/mapping.ts): a mapped task handed out by the graph is expanded once
  // its sources' lengths are known; its instances then run in this run's in-flight budget, in
  // map_index order, each in its own cancellation scope with its own tries.
  const mapLengths = new Map<number, number[]>();
  /** Expanded mapped tasks with instances not yet finished, in expansion order. */
  const activeMapped = new Set<number>();
  const instanceScopes = new Map<string, CancellationScope>();
  const inFlight = (): number => scopes.size + instanceScopes.size;
  const finishInstance = (index: number, mapIndex: number, state: TaskInstanceState): void => {
    recordDecisions(graph.finishInstance(index, mapIndex, state, (states) => aggregateState(states) as TaskInstanceState));
    if (isFinished(graph.state[index]!)) activeMapped.delete(index);
    changed = true;
  };
  /** The lengths of a mapped task's sources, or why it cannot expand (Airflow: upstream_failed). */
  const sourceLengths = (task: TaskSpec): number[] | string => {
    const lengths: number[] = [];
    for (const { arg, source } of mappedSources(task.mapped!)) {
      if (Array.isArray(source)) {
        lengths.push(source.length);
        continue;
      }
      if (!isXComRef(source)) return `expand source ${arg ?? 'expandKwargs'} is neither a list nor a task output`;
      const upstreamId = source.$xcom.task_id;
      const entry = xcoms.get(graph.indexOf.get(upstreamId)!);
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
  };
  /**
   * Set when an expansion decided something without awaiting (zero length, upstream_failed, a
   * resumed expansion): the main loop must look again before it waits, or it would sleep through
   * the change (only mapping sets it, so unmapped runs keep their recorded command order).
   */
  let expandedInline = false;
  const expandTask = async (index: number): Promise<void> => {
    expandedInline = true;
    const task = graph.tasks[index]!;
    let lengths = mapLengths.get(index);
    if (lengths === undefined) {
      const found = sourceLengths(task);
      if (typeof found === 'string') {
        pending.push({ task_id: task.task_id, map_index: -1, state: TaskInstanceState.UPSTREAM_FAILED, try_number: 0, error: found });
        finish(index, TaskInstanceState.UPSTREAM_FAILED);
        return;
      }
      lengths = found;
    }
    const n = expansionLength(lengths);
    if (n === 0) {
      // Airflow: a zero-length expansion skips the (unmapped) task instance.
      pending.push({ task_id: task.task_id, map_index: -1, state: TaskInstanceState.SKIPPED, try_number: 0, error: 'mapped over an empty list: nothing to run' });
      finish(index, TaskInstanceState.SKIPPED);
      return;
    }
    mapLengths.set(index, lengths);
    if (!graph.mapped.has(index)) {
      const tryNumber = graph.tryNumber[index]!;
      await local.expandMappedTask({ dagId, runId, task, count: n, ...(tryNumber > 0 ? { tryNumber, maxTries: graph.tryBase[index]! + task.retries + 1 } : {}) });
      recordDecisions(graph.expandMapped(index, n));
    }
    graph.markInFlight(index, TaskInstanceState.RUNNING, graph.tryNumber[index]!);
    activeMapped.add(index);
    changed = true;
  };
  const startInstances = (): void => {
    for (const index of activeMapped) {
      const room = maxInFlight - inFlight();
      if (room <= 0) return;
      for (const mapIndex of graph.takeInstances(index, room)) {
        const key = `${index}:${mapIndex}`;
        const scope = new CancellationScope();
        instanceScopes.set(key, scope);
        scope
          .run(() => runTask(index, mapIndex))
          .catch((err) => {
            if (!isCancellation(err)) throw err;
          })
          .finally(() => {
            instanceScopes.delete(key);
            changed = true;
          });
      }
    }
  };

  const start = (index: number): void => {
    const scope = new CancellationScope();
    scopes.set(index, scope);
    scope
      .run(() => (graph.tasks[index]!.mapped ? expandTask(index) : runTask(index)))
      .catch((err) => {
        // Cancelled by a run-level stop: the stop path records the final states.
        if (!isCancellation(err)) throw err;
      })
      .finally(() => {
        scopes.delete(index);
        changed = true;
      });
  };

  // 4. Operator actions (engine/operator-actions.ts): clear, mark tasks, mark the run. A task whose
  // try is in flight is stopped first (its scope cancelled, the process or container killed) and
  // changed once it has stopped; every other task changes at once. The handler is synchronous:
  // the main loop records the changes and schedules what runs again.
  /** The run completes or stops: actions now go to a re-opened run instead. */
  let accepting = true;
  /** An operator marked the run: it ends in this state once its remaining tasks finish. */
  let forcedState: 'success' | 'failed' | null = carried?.forcedState ?? null;
  /** Changes waiting for a task's try to stop, by task index. */
  const deferred = new Map<number, TaskInstanceState>();
  /** Set when operator changes are pending: flushed before anything is scheduled again. */
  let operatorWrites = false;
  const taskInFlight = (i: number): boolean => {
    if (scopes.has(i)) return true;
    for (const key of instanceScopes.keys()) if (key.startsWith(`${i}:`)) return true;
    return false;
  };
  const overrideStates = (list: Array<{ index: number; state: TaskInstanceState }>, reason: string): void => {
    if (list.length === 0) return;
    const rows: TaskStateUpdate[] = [];
    for (const { index, state } of list) {
      const task = graph.tasks[index]!;
      const m = graph.mapped.get(index);
      activeMapped.delete(index);
      if (state === TaskInstanceState.NONE) {
        xcoms.delete(index);
        mapLengths.delete(index);
        if (m) resetMapped.push(task.task_id);
      } else if (m) {
        // An expanded mapped task's record is its instances (map_index -1 is gone).
        for (let k = 0; k < m.n; k++) {
          if (m.state[k] !== state) rows.push({ task_id: task.task_id, map_index: k, state, try_number: m.tryNumber[k]!, error: reason });
        }
      }
    }
    const decisions = graph.override(list);
    for (const { index, state } of list) {
      const task = graph.tasks[index]!;
      if (state === TaskInstanceState.NONE) {
        rows.push({ task_id: task.task_id, map_index: -1, state, try_number: graph.tryNumber[index]!, error: null, max_tries: graph.tryBase[index]! + task.retries + 1 });
      } else if (!rows.some((r) => r.task_id === task.task_id)) {
        rows.push({ task_id: task.task_id, map_index: -1, state, try_number: graph.tryNumber[index]!, error: reason });
      }
    }
    pending.push(...rows);
    recordDecisions(decisions);
    operatorWrites = true;
    changed = true;
  };
  const applyDeferred = (): void => {
    if (deferred.size === 0) return;
    const ready: Array<{ index: number; state: TaskInstanceState }> = [];
    for (const [index, state] of deferred) {
      if (taskInFlight(index)) continue;
      ready.push({ index, state });
      deferred.delete(index);
    }
    overrideStates(ready, 'set by an operator while running');
  };
  const deferredReady = (): boolean => {
    // Called on every pass of the main loop: nothing to allocate when no action is waiting.
    if (deferred.size === 0) return false;
    for (const i of deferred.keys()) if (!taskInFlight(i)) return true;
    return false;
  };
  const applyAction = (action: OperatorAction): ActionResult => {
    const plan = planAction(graph.tasks, (i) => graph.state[i]!, action);
    if (action.dry_run === true) return { ...plan, dry_run: true };
    const now: Array<{ index: number; state: TaskInstanceState }> = [];
    for (const c of plan.changes) {
      const index = graph.indexOf.get(c.task_id)!;
      if (!taskInFlight(index)) {
        now.push({ index, state: c.to });
        continue;
      }
      // Airflow: a cleared running task is `restarting` until its try has stopped.
      deferred.set(index, c.to);
      scopes.get(index)?.cancel();
      for (const [key, scope] of instanceScopes) if (key.startsWith(`${index}:`)) scope.cancel();
      activeMapped.delete(index);
      if (c.to === TaskInstanceState.NONE && !graph.mapped.has(index)) {
        pending.push({ task_id: c.task_id, map_index: -1, state: TaskInstanceState.RESTARTING, try_number: graph.tryNumber[index]! });
        operatorWrites = true;
      }
    }
    if (action.kind === 'set_run_state') forcedState = action.state;
    else if (action.kind === 'clear' && plan.changes.length > 0) forcedState = null;
    const what = action.kind === 'clear' ? 'cleared by an operator' : `marked ${action.kind === 'set_task_state' ? action.state : plan.forced_run_state} by an operator`;
    overrideStates(now, what);
    changed = true;
    log.info(`operator action: ${describeAction(action)}: ${plan.changes.length} task(s) changed`);
    return { ...plan, dry_run: false };
  };
  setHandler(operatorActionUpdate, applyAction, {
    validator: (action: OperatorAction): void => {
      if (!accepting) throw new OperatorActionError(`${RUN_FINISHING}; send the action again to re-open it`);
      validateAction(graph.tasks, action);
    },
  });
  if (input.reopen) {
    // The client validated the action against the same DAG version; a bad one is logged, not fatal.
    try {
      applyAction(validateAction(graph.tasks, input.reopen.action));
    } catch (err) {
      if (!(err instanceof OperatorActionError)) throw err;
      log.error(`re-opened run: operator action refused: ${err.message}`);
    }
  }

  recordDecisions(graph.evaluateAll());
  const maxInFlight = Math.min(options.maxInFlight, dag.max_active_tasks);
  for (const [i, lengths] of carried?.mapLengths ?? []) mapLengths.set(i, lengths);

  // 5. dagrun_timeout: a timer that stops the run.
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
  try {
    for (;;) {
      if (stopReason !== null) break;
      applyDeferred();
      // Operator changes reach Postgres before anything runs again (a cleared mapped task's old
      // instance rows must be gone before it expands anew).
      while (operatorWrites) {
        operatorWrites = false;
        await flush();
      }
      const draining = shouldContinueAsNew(historyAfterLoad);
      if (!draining) for (const i of graph.takeReady(maxInFlight - inFlight())) start(i);
      if (!draining && activeMapped.size > 0) startInstances();
      await flush();
      if (callbackQueue.length > 0) startCallbacks();
      // A try an operator stopped ended while we flushed: apply its change before deciding anything.
      if (deferredReady()) continue;
      // Instances decided inside the graph (mapped-group cascades) can finish a mapped task.
      for (const i of activeMapped) if (isFinished(graph.state[i]!)) activeMapped.delete(i);
      const outcome = graph.runOutcome(inFlight() + activeMapped.size);
      lastDetails = publishDetails(dagId, runId, graph, lastDetails);
      if (outcome.state !== 'running' && deferred.size === 0) {
        // last_error says why a run failed; a run marked success has none.
        if (forcedState !== null) return await complete(forcedState, forcedState === 'failed' ? 'marked failed by an operator' : null);
        return await complete(outcome.state, outcome.reason ?? null);
      }
      if (draining && inFlight() === 0 && runningCallbacks.size === 0 && deferred.size === 0) {
        await condition(allHandlersFinished);
        const next: CarriedRun = {
          generation: generation + 1,
          startedAt,
          deadline,
          tasks: graph.tasks.map((_, i) => {
            const mapped = graph.carriedMapped(i);
            const base = graph.tryBase[i]!;
            return { state: graph.state[i]!, try_number: graph.tryNumber[i]!, ...(mapped ? { mapped } : {}), ...(base > 0 ? { try_base: base } : {}) };
          }),
          xcoms: [...xcoms].filter(([i]) => graph.tasks[i]!.downstream.some((d) => !isFinished(graph.state[graph.indexOf.get(d)!]!))),
          ...(mapLengths.size > 0 ? { mapLengths: [...mapLengths].filter(([i]) => !isFinished(graph.state[i]!)) } : {}),
          ...(forcedState !== null ? { forcedState } : {}),
        };
        // The action that re-opened the run is applied; the next generation must not apply it again.
        const { reopen: _applied, ...rest } = input;
        return await continueAsNew<typeof dagRun>({ ...rest, carried: next });
      }
      if (expandedInline) {
        expandedInline = false;
        continue;
      }
      changed = false;
      await condition(() => changed);
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    stopReason = 'the run was cancelled';
    stopState = 'failed';
  }

  // 6. Stopped (cancelled or timed out): kill what runs, record, fail the run.
  accepting = false;
  return await CancellationScope.nonCancellable(async () => {
    for (const scope of scopes.values()) scope.cancel();
    for (const scope of instanceScopes.values()) scope.cancel();
    await condition(() => inFlight() === 0);
    const timedOut = stopReason?.startsWith('dagrun_timeout') ?? false;
    // Airflow (set_dag_run_state_to_failed): running tries fail, every other unfinished task is
    // skipped; on dagrun_timeout running tries are skipped too. Tasks that are not running go
    // first: failing a running task first would cascade upstream_failed onto them.
    for (const runningPass of [false, true]) {
      for (const i of [...activeMapped]) {
        const m = graph.mapped.get(i)!;
        for (let k = 0; k < m.n; k++) {
          const s = m.state[k]!;
          if (isFinished(s) || (s === TaskInstanceState.RUNNING) !== runningPass) continue;
          const state = runningPass && !timedOut ? TaskInstanceState.FAILED : TaskInstanceState.SKIPPED;
          finishInstance(i, k, state);
          pending.push({ task_id: graph.tasks[i]!.task_id, map_index: k, state, try_number: m.tryNumber[k]!, error: stopReason });
        }
      }
      for (let i = 0; i < graph.size; i++) {
        const s = graph.state[i]!;
        if (isFinished(s) || (s === TaskInstanceState.RUNNING) !== runningPass || graph.mapped.has(i)) continue;
        const state = runningPass && !timedOut ? TaskInstanceState.FAILED : TaskInstanceState.SKIPPED;
        recordDecisions(graph.finish(i, state));
        pending.push({ task_id: graph.tasks[i]!.task_id, map_index: -1, state, try_number: graph.tryNumber[i]!, error: stopReason });
      }
    }
    return await complete(stopState ?? 'failed', stopReason);
  });

  async function complete(state: 'success' | 'failed', reason: string | null): Promise<DagRunResult> {
    accepting = false;
    await flush();
    await local.recordStates({ dagId, runId, tasks: [], run: { state, error: reason, end: true } });
    const dagCallback = state === 'success' ? 'on_success' : 'on_failure';
    if (dag.callbacks?.[dagCallback]) callbackQueue.push(callbackRequest(dagCallback, null, 0, state, reason));
    if (callbackQueue.length > 0) startCallbacks();
    if (runningCallbacks.size > 0) await CancellationScope.nonCancellable(() => Promise.all([...runningCallbacks]));
    upsertSearchAttributes([{ key: DAG_RUN_STATE, value: state }]);
    publishDetails(dagId, runId, graph, lastDetails);
    return { state, ...(reason ? { reason } : {}), tasks: graph.countsByState() };
  }
}

/** Replaces `{$xcom: ...}` references with values (inline) or with references the activity resolves. */
function resolveInput(template: Json, graph: RunGraph, xcoms: ReadonlyMap<number, XComEntry>, dagId: string, runId: string): Json {
  if (template === null || typeof template !== 'object') return template;
  if (Array.isArray(template)) return template.map((t) => resolveInput(t, graph, xcoms, dagId, runId));
  const ref = (template as { $xcom?: { task_id: string; key: string; path: string[]; map_index?: number } }).$xcom;
  if (ref && Object.keys(template).length === 1) {
    if (ref.map_index !== undefined) {
      // The same instance of an upstream task in this task's mapped group: read from Postgres.
      return { $xcom_ref: { dag_id: dagId, run_id: runId, task_id: ref.task_id, map_index: ref.map_index, key: ref.key, path: ref.path } };
    }
    const index = graph.indexOf.get(ref.task_id)!;
    if (graph.tasks[index]!.mapped) {
      // A mapped task's output is the list of its instances' values (map_index order), read by the activity.
      return { $xcom_ref: { dag_id: dagId, run_id: runId, task_id: ref.task_id, map_index: -1, key: ref.key, path: ref.path, collect: true } };
    }
    const entry = xcoms.get(index);
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

/**
 * Roll over (continue-as-new) when this generation's own progress made history large — not merely
 * because the server suggests it, which a 10,000-task spec load alone can trigger. Absolute caps stay
 * well under Temporal's hard limits (51,200 events, 50 MB).
 */
function shouldContinueAsNew(start: { length: number; size: number }): boolean {
  const info = workflowInfo();
  const grownEvents = info.historyLength - start.length;
  const grownBytes = info.historySize - start.size;
  if (info.historyLength > 40_000 || info.historySize > 40 * 1024 * 1024) return true;
  return info.continueAsNewSuggested && (grownEvents >= 3_000 || grownBytes >= 4 * 1024 * 1024);
}
