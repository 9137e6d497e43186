/**
 * The runTask activity: one try of one task. It records the try in Postgres (start, end, state,
 * exit code, XCom, logs), heartbeats the task, its try and the executor's handle
 * (heartbeat-details.ts), turns cancellation into killing the work, and reports failures as
 * non-retryable ApplicationFailures so the workflow applies Airflow's retry rules. Temporal's own
 * retries are left for infrastructure failures only.
 */
import os from 'node:os';
import { Context, activityInfo } from '@temporalio/activity';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { recordTryEnd, recordTryStart } from '../db/task-instance.repository.js';
import { recordReschedule } from '../db/cross-run.repository.js';
import { admitTry, type Admission } from './admission/admit.js';
import { getXCom, listXComs, setXCom } from '../db/xcom.repository.js';
import { DEFAULT_MAX_MAP_LENGTH, checkMappable, pathKey } from '../engine/mapping.js';
import type { Json } from '../spec/dag-spec.js';
import { DagRunType, TaskInstanceState } from '../spec/states.js';
import type { AssetEventInfo } from '../spec/asset.js';
import { assetEventInfo, emitTaskOutletEvents } from '../db/asset-event.repository.js';
import { triggeringAssetEvents } from '../db/asset-triggered-run.repository.js';
import { TaskFailureType, type RunTaskRequest, type RunTaskResult, type XComEntry } from '../workflows/types.js';
import { TaskExecutionError, type ExecutionRequest, type Executor, type ExecutorHandle } from './executors/types.js';
import { handleFromHeartbeat, tryHeartbeat } from './heartbeat-details.js';
import { TaskLogWriter, type TaskLogDeps } from './task-log.js';
import { SecretMasker } from '../secrets/masker.js';
import { prepareTry } from './templating/prepare-try.js';
import type { ArtifactStore } from '../artifacts/index.js';
import type { OpenLineageEmitter } from './lineage/openlineage-transport.js';
import { StepIO, emptyOutputs, type StepOutputs } from './step-outputs/step-io.js';
import { InputArtifactError, StepOutputError, findArtifactRefs, resolveOutletExtras } from './step-outputs/protocol.js';
import { consumedArtifacts, markRegistered, modelVersionXCom, recordOutcome } from './step-outputs/record.js';
import type { LineageArtifactInput } from '../db/lineage.repository.js';
import type { ExecutionState } from '../db/database.js';

export interface RunTaskDeps extends TaskLogDeps {
  /** Executor by task kind ('function', 'process', 'container', 'empty'). */
  executorFor(req: RunTaskRequest): Executor;
  hostname?: string;
  /** GPU allocation hook (GPU workers); returns device ids and a release function. */
  allocateGpus?(req: RunTaskRequest, signal?: AbortSignal): Promise<{ devices: string[]; release(): void }>;
  heartbeatIntervalMs?: number;
  /** Called after a successful try's outlets recorded asset events (wakes the worker's asset-run service). */
  onAssetEvents?(): void;
  /**
   * The artifact store for step outputs (docs/step-outputs.md). With one, every try is recorded in
   * the ML record (execution, metrics, params, lineage, model versions); without one, step output
   * files are ignored and nothing is recorded.
   */
  artifactStore?: ArtifactStore | null;
  /** What a step that uses the store itself needs to find it (Kubernetes pods). */
  artifactStoreEnv?: Record<string, string>;
  /** The store's keys for such steps (AWS_ACCESS_KEY_ID, ...): they reach a pod through a Secret only. */
  artifactStoreCredentials?: Record<string, string>;
  /** OpenLineage events for each try (START, COMPLETE/FAIL); null or absent: none. */
  openLineage?: OpenLineageEmitter | null;
}

export function makeRunTask(deps: RunTaskDeps): (req: RunTaskRequest) => Promise<RunTaskResult> {
  const hostname = deps.hostname ?? os.hostname();
  return async function runTask(req: RunTaskRequest): Promise<RunTaskResult> {
    const ctx = Context.current();
    const info = activityInfo();
    const key = { dag_id: req.dagId, run_id: req.runId, task_id: req.task.task_id, map_index: req.mapIndex };
    const executor = deps.executorFor(req);
    // Secrets the try's templates touch are masked in its log lines and stored error (templating/).
    const masker = new SecretMasker(deps.mask);
    const log = new TaskLogWriter(
      deps.db,
      { ...key, try_number: req.tryNumber },
      { logsFolder: deps.logsFolder, mask: masker.mask },
    );
    // Heartbeat on a timer from the start, not only between admission polls: under load one slot
    // request or the try-start write can wait on Postgres locks longer than the heartbeat timeout,
    // and Temporal would then time the attempt out. An earlier attempt's executor handle is kept.
    const previousHandle = info.attempt > 1 ? handleFromHeartbeat(info.heartbeatDetails) : undefined;
    let handle: ExecutorHandle | undefined = previousHandle;
    const beat = (): void => ctx.heartbeat(tryHeartbeat(req, handle));
    const ticker = setInterval(beat, deps.heartbeatIntervalMs ?? 1000);
    ticker.unref();
    // Cross-run rules first (depends_on_past, pools, max_active_tasks and max_active_tis_per_dag
    // across runs, activities/admission): the try waits `queued` until admitted.
    let admission: Admission = { release: async () => undefined };
    let admissionError: Error | null = null;
    try {
      admission = await admitTry(
        {
          db: deps.db,
          hostname,
          log: (line) => log.system(line),
          signal: ctx.cancellationSignal,
          // Keep an earlier attempt's executor handle in the heartbeat details while waiting.
          heartbeat: () => ctx.heartbeat(tryHeartbeat(req, previousHandle)),
          heartbeatTimeoutMs: info.heartbeatTimeoutMs ?? 20_000,
          keepRequestOnAbort: () => !(ctx.cancellationDetails?.cancelRequested ?? false),
        },
        req,
      );
    } catch (err) {
      admissionError = err as Error;
    }
    // GPUs next: the try waits for its devices before it counts as started, and records them.
    let gpu: { devices: string[]; release(): void } = { devices: [], release: () => undefined };
    let gpuError: Error | null = null;
    if (deps.allocateGpus && req.task.resources?.gpu > 0 && admissionError === null) {
      try {
        gpu = await deps.allocateGpus(req, ctx.cancellationSignal);
      } catch (err) {
        gpuError = err as Error;
      }
    }
    const startDate = new Date();
    try {
      await recordTryStart(deps.db, {
        ...key,
        try_number: req.tryNumber,
        max_tries: req.maxTries,
        hostname,
        executor: executor.name,
        operator: req.task.operator,
        queue: req.task.queue,
        pool: req.task.pool,
        pool_slots: req.task.pool_slots,
        priority_weight: req.task.priority_weight,
        start_date: startDate,
        gpu_devices: gpu.devices,
      });
    } catch (err) {
      clearInterval(ticker);
      await admission.release();
      gpu.release();
      throw err;
    }
    log.system(
      `${req.task.task_id} try ${req.tryNumber} of ${req.maxTries} on ${hostname} with the ${executor.name} executor` +
        (info.attempt > 1 ? ` (attempt ${info.attempt}: an earlier attempt of this try was lost)` : ''),
    );

    if (gpu.devices.length > 0) log.system(`GPU devices ${gpu.devices.join(', ')} allocated to this try`);

    const finishTry = async (
      state: TaskInstanceState,
      extra: { exit_code?: number | null; error?: string | null },
    ): Promise<void> => {
      await recordTryEnd(deps.db, {
        ...key,
        try_number: req.tryNumber,
        state,
        end_date: new Date(),
        external_id: handle?.id ?? null,
        ...extra,
      });
    };
    // The ML record of this try (step outputs, lineage, OpenLineage); see docs/step-outputs.md.
    // Empty tasks (EmptyOperator) run nothing, so there is nothing to record.
    const stepIO =
      deps.artifactStore && req.task.kind !== 'empty'
        ? new StepIO(deps.artifactStore, deps.artifactStoreEnv ?? {}, deps.artifactStoreCredentials ?? {})
        : undefined;
    let consumed: LineageArtifactInput[] = [];
    const tryEvent = (
      eventType: 'START' | 'COMPLETE' | 'FAIL',
      outputs: string[] = [],
      error?: string,
    ): Promise<void> =>
      deps.openLineage?.emitTaskTry({
        eventType,
        eventTime: new Date(),
        dagId: req.dagId,
        runId: req.runId,
        taskId: req.task.task_id,
        mapIndex: req.mapIndex,
        tryNumber: req.tryNumber,
        nominalStartTime: req.dataIntervalStart,
        nominalEndTime: req.dataIntervalEnd,
        inputs: consumed.map((a) => a.uri),
        outputs,
        ...(error === undefined
          ? {}
          : {
              error: { message: error, programmingLanguage: req.task.kind === 'function' ? 'TypeScript' : 'unknown' },
            }),
      }) ?? Promise.resolve();
    /**
     * Records a successful try (execution, metrics, params, lineage, model versions) and returns the
     * return value with registered outputs marked; the model-version refs go to XCom `model_version`.
     */
    const recordSuccess = async (outputs: StepOutputs, value: Json | undefined): Promise<Json | undefined> => {
      const record = await recordOutcome(deps.db, {
        key: { ...key, try_number: req.tryNumber },
        state: 'success',
        dagVersionId: req.dagVersionId ?? null,
        codeVersion: req.specHash,
        startedAt: startDate,
        consumed,
        outputs,
      });
      for (const o of outputs.artifacts) {
        log.system(
          `output artifact "${o.declared.name}" (${o.declared.type}, ${o.size} bytes) sha256 ${o.sha256}${o.created ? '' : ' (already in the store: stored once)'} at ${o.uri}`,
        );
      }
      for (const r of record.registered) {
        const rep = r.version.reproducibility;
        log.system(
          `registered ${r.model} version ${r.version.version}${r.created ? '' : ' (by an earlier attempt of this try)'}` +
            (rep?.same_as_previous === true
              ? `; same bytes as version ${rep.previous_version} from the same inputs and params`
              : '') +
            (rep?.same_as_previous === false
              ? `; NOT the same bytes as version ${rep.previous_version} from the same inputs and params: ${rep.reason}`
              : ''),
        );
      }
      const versions = modelVersionXCom(record);
      if (versions !== undefined) await setXCom(deps.db, { ...key, key: 'model_version' }, versions);
      await tryEvent(
        'COMPLETE',
        outputs.artifacts.map((o) => o.uri),
      );
      return markRegistered(value, outputs, record);
    };
    /**
     * Records a try that did not succeed (no outputs, no registration); never hides the try's own
     * failure. A skipped try's OpenLineage event is COMPLETE without outputs (as Airflow's provider
     * reports skips), a failed one's FAIL with the (masked) error.
     */
    const recordUnsuccessful = async (state: ExecutionState, error: string): Promise<void> => {
      if (!stepIO) return;
      try {
        await recordOutcome(deps.db, {
          key: { ...key, try_number: req.tryNumber },
          state,
          dagVersionId: req.dagVersionId ?? null,
          codeVersion: req.specHash,
          startedAt: startDate,
          consumed,
          outputs: undefined,
        });
      } catch (err) {
        log.system(`could not record this try in the lineage record: ${(err as Error).message}`);
      }
      await (state === 'skipped' ? tryEvent('COMPLETE') : tryEvent('FAIL', [], error));
    };

    try {
      if (admissionError) throw admissionError;
      if (gpuError)
        throw new TaskExecutionError(gpuError.message, gpuError.name === 'GpuRequestTooLargeError' ? 'fail' : 'error');
      const input = await resolveStoredRefs(deps.db, req.input);
      if (stepIO) {
        // Every artifact reference in the input is consumed by this try (ML-DESIGN §2).
        consumed = consumedArtifacts(findArtifactRefs(input ?? undefined));
        await tryEvent('START');
      }
      const triggeringAssetEvents = await runTriggeringAssetEvents(deps.db, req);
      const request: ExecutionRequest = {
        dagId: req.dagId,
        runId: req.runId,
        taskId: req.task.task_id,
        mapIndex: req.mapIndex,
        tryNumber: req.tryNumber,
        spec: req.task,
        input: input ?? undefined,
        contextEnv: contextEnv(req),
        timeoutMs: req.task.execution_timeout == null ? null : req.task.execution_timeout * 1000,
        signal: ctx.cancellationSignal,
        heartbeat: (h) => {
          handle = h;
          beat();
        },
        previousHandle,
        log,
        gpuDevices: gpu.devices,
        ...(stepIO ? { stepIO } : {}),
        run: {
          specHash: req.specHash,
          dagVersionId: req.dagVersionId,
          runType: req.runType,
          logicalDate: req.logicalDate,
          dataIntervalStart: req.dataIntervalStart,
          dataIntervalEnd: req.dataIntervalEnd,
          runAfter: req.runAfter ?? null,
          params: req.params,
          conf: req.conf,
          triggeringAssetEvents,
        },
      };
      const result = await executor.execute(await prepareTry(deps.db, req, request, masker));
      if (result.reschedule) {
        // A sensor in reschedule mode, not met yet: the same try pokes again later (the workflow waits).
        const delay = result.reschedule.delaySeconds;
        const end = new Date();
        await recordReschedule(deps.db, {
          ...key,
          try_number: req.tryNumber,
          start_date: startDate,
          end_date: end,
          reschedule_date: new Date(end.getTime() + delay * 1000),
        });
        log.system(`${req.task.task_id} try ${req.tryNumber}: up_for_reschedule, next poke in ${delay}s`);
        await finishTry(TaskInstanceState.UP_FOR_RESCHEDULE, { exit_code: result.exitCode });
        return { outcome: 'reschedule', delaySeconds: delay };
      }
      // Mapped tasks expand over this output: check it as Airflow's pushing task does (a
      // non-list or too long a list fails this try without retries) and report the lengths.
      const mapLengths = req.task.map_sources
        ? checkMapSources(req, result.returnValue as Json | undefined)
        : undefined;
      // A process or container step's outlet_events.json: checked against the task's outlets
      // before anything of the try is recorded (a uri that is no outlet fails it without retries).
      const stepOutletEvents = result.outputs?.outletEvents;
      const outletExtras = stepOutletEvents
        ? {
            ...result.outletExtras,
            ...resolveOutletExtras(
              stepOutletEvents.extras,
              req.task.outlets ?? [],
              req.task.task_id,
              stepOutletEvents.file,
            ),
          }
        : result.outletExtras;
      let returnValue = result.returnValue;
      if (stepIO) returnValue = await recordSuccess(result.outputs ?? emptyOutputs(), returnValue);
      let xcom: XComEntry | null = null;
      if (returnValue !== undefined) {
        const size = await setXCom(deps.db, { ...key, key: 'return_value' }, returnValue);
        xcom = size <= req.xcomInlineLimitBytes ? { inline: returnValue } : { stored: true, size };
        if (!('inline' in xcom))
          log.system(`XCom return_value is ${size} bytes: stored in Postgres and passed by reference`);
      }
      if (mapLengths) {
        xcom = { ...(xcom ?? { inline: null }), map_lengths: mapLengths };
        log.system(
          `mapped task input lengths: ${Object.entries(mapLengths)
            .map(([p, n]) => `${p} → ${n}`)
            .join(', ')}`,
        );
      }
      // Airflow emits outlet events only on success; the try is their idempotency key, so an
      // activity attempt repeated after a worker crash records none twice.
      const emitted = await emitTaskOutletEvents(deps.db, {
        ...key,
        try_number: req.tryNumber,
        outlets: req.task.outlets ?? [],
        extras: outletExtras,
      });
      for (const e of emitted) {
        log.system(
          `asset event ${e.event.id} on '${e.event.uri}'${e.duplicate ? ' (recorded by an earlier attempt of this try)' : ''}` +
            (e.queued_for.length > 0 ? `, queued for ${e.queued_for.join(', ')}` : ''),
        );
      }
      log.system(`${req.task.task_id} try ${req.tryNumber}: success`);
      await finishTry(TaskInstanceState.SUCCESS, { exit_code: result.exitCode });
      if (emitted.some((e) => e.queued_for.length > 0)) deps.onAssetEvents?.();
      return { outcome: 'success', xcom };
    } catch (err) {
      const failure = toTaskFailure(err);
      if (failure.kind === 'skip') {
        log.system(`${req.task.task_id} skipped: ${failure.message}`);
        await recordUnsuccessful('skipped', masker.mask(failure.message));
        await finishTry(TaskInstanceState.SKIPPED, {
          exit_code: failure.exitCode,
          error: masker.mask(failure.message),
        });
        return { outcome: 'skipped', reason: masker.mask(failure.message) };
      }
      if (failure.kind === 'cancelled' || ctx.cancellationSignal.aborted) {
        const details = ctx.cancellationDetails;
        if (details?.workerShutdown) {
          // Not a real cancel: the worker is stopping. Leave the try running; the next attempt re-attaches.
          log.system('worker shutting down: this try continues on another attempt');
          throw err;
        }
        log.system(`${req.task.task_id} try ${req.tryNumber} was cancelled; its work was stopped`);
        await recordUnsuccessful('failed', 'cancelled');
        await finishTry(TaskInstanceState.FAILED, { exit_code: failure.exitCode, error: 'cancelled' });
        throw new CancelledFailure('task cancelled');
      }
      const noRetry = failure.kind === 'fail';
      const retrying = !noRetry && req.tryNumber < req.maxTries;
      const tail =
        failure.lastLines.length > 0 && !failure.message.includes(failure.lastLines[failure.lastLines.length - 1]!)
          ? `\nlast log lines:\n${failure.lastLines.join('\n')}`
          : '';
      const message = masker.mask(`${failure.message}${tail}`);
      log.system(
        `${req.task.task_id} try ${req.tryNumber} failed (${failure.kind}): ${failure.message}` +
          (retrying ? ' — up_for_retry' : noRetry ? ' — failing without retries' : ' — no retries left'),
      );
      await recordUnsuccessful('failed', message);
      await finishTry(retrying ? TaskInstanceState.UP_FOR_RETRY : TaskInstanceState.FAILED, {
        exit_code: failure.exitCode,
        error: message,
      });
      throw ApplicationFailure.create({
        type: noRetry ? TaskFailureType.FAILED_NO_RETRY : TaskFailureType.FAILED,
        message,
        nonRetryable: true,
        details: [{ kind: failure.kind, exitCode: failure.exitCode }],
      });
    } finally {
      clearInterval(ticker);
      await admission.release();
      gpu.release();
      await log.close();
    }
  };
}

/**
 * A try's failure as a TaskExecutionError. A step that broke the output protocol, or an input
 * artifact the store cannot give, fails without retries: running it again meets the same.
 */
function toTaskFailure(err: unknown): TaskExecutionError {
  if (err instanceof TaskExecutionError) return err;
  if (err instanceof StepOutputError) return new TaskExecutionError(`step output protocol: ${err.message}`, 'fail');
  if (err instanceof InputArtifactError) return new TaskExecutionError(err.message, 'fail');
  return new TaskExecutionError(err instanceof Error ? err.message : String(err), 'error');
}

/** An asset-triggered run's triggering_asset_events (read per try: they can be many, so they do not travel through Temporal). */
async function runTriggeringAssetEvents(
  db: Kysely<Database>,
  req: RunTaskRequest,
): Promise<Record<string, AssetEventInfo[]>> {
  if (req.runType !== DagRunType.ASSET_TRIGGERED) return {};
  const byUri = await triggeringAssetEvents(db, req.dagId, req.runId);
  return Object.fromEntries(Object.entries(byUri).map(([uri, events]) => [uri, events.map(assetEventInfo)]));
}

/** AIRFLOW_CTX_* (as Airflow exports them) and UPDRAFT_* for processes and containers. */
export function contextEnv(req: RunTaskRequest): Record<string, string> {
  const env: Record<string, string> = {
    AIRFLOW_CTX_DAG_ID: req.dagId,
    AIRFLOW_CTX_TASK_ID: req.task.task_id,
    AIRFLOW_CTX_DAG_RUN_ID: req.runId,
    AIRFLOW_CTX_TRY_NUMBER: String(req.tryNumber),
    UPDRAFT_DAG_ID: req.dagId,
    UPDRAFT_TASK_ID: req.task.task_id,
    UPDRAFT_RUN_ID: req.runId,
    UPDRAFT_TRY_NUMBER: String(req.tryNumber),
    UPDRAFT_MAP_INDEX: String(req.mapIndex),
  };
  if (req.logicalDate) {
    env.AIRFLOW_CTX_LOGICAL_DATE = req.logicalDate;
    env.UPDRAFT_LOGICAL_DATE = req.logicalDate;
  }
  if (req.dataIntervalStart) env.AIRFLOW_CTX_DATA_INTERVAL_START = req.dataIntervalStart;
  if (req.dataIntervalEnd) env.AIRFLOW_CTX_DATA_INTERVAL_END = req.dataIntervalEnd;
  const runAfter = req.runAfter ?? req.logicalDate;
  if (runAfter) env.UPDRAFT_RUN_AFTER = runAfter;
  return env;
}

/** The worker's max_map_length (UPDRAFT_MAX_MAP_LENGTH) unless the DAG sets one. */
function maxMapLength(req: RunTaskRequest): number {
  if (req.task.map_sources === undefined) return DEFAULT_MAX_MAP_LENGTH;
  const fromEnv = process.env.UPDRAFT_MAX_MAP_LENGTH;
  if (fromEnv === undefined || fromEnv === '') return DEFAULT_MAX_MAP_LENGTH;
  const n = Number(fromEnv);
  if (!Number.isInteger(n) || n < 1)
    throw new TaskExecutionError(`UPDRAFT_MAX_MAP_LENGTH must be a positive integer, got '${fromEnv}'`, 'fail');
  return n;
}

/**
 * Checks the return value against every mapped consumer (engine/mapping.ts checkMappable) and returns
 * the lengths by path; a violation is Airflow's UnmappableXComTypePushed / UnmappableXComLengthPushed
 * / XComForMappingNotPushed and fails the try without retries.
 */
function checkMapSources(req: RunTaskRequest, value: Json | undefined): Record<string, number> {
  const limit = req.maxMapLength ?? maxMapLength(req);
  const lengths: Record<string, number> = {};
  for (const source of req.task.map_sources ?? []) {
    try {
      lengths[pathKey(source.path)] = checkMappable(req.task.task_id, value, source, limit);
    } catch (err) {
      const e = err as Error;
      throw new TaskExecutionError(`${e.name}: ${e.message}`, 'fail');
    }
  }
  return lengths;
}

type StoredRef = {
  dag_id: string;
  run_id: string;
  task_id: string;
  map_index: number;
  key: string;
  path: string[];
  collect?: true;
};

/**
 * Replaces `$xcom_ref` markers (XComs too large to travel through Temporal, and the collected
 * results of mapped tasks) with stored values, and applies `$merge` (expandKwargs elements known
 * only by reference, merged over the partial arguments).
 */
async function resolveStoredRefs(db: Kysely<Database>, value: Json | null): Promise<Json | null> {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return Promise.all(value.map((v) => resolveStoredRefs(db, v))) as Promise<Json[]>;
  const merge = (value as { $merge?: Json[] }).$merge;
  if (Array.isArray(merge) && Object.keys(value).length === 1) {
    const parts = await Promise.all(merge.map((v) => resolveStoredRefs(db, v)));
    const out: Record<string, Json> = {};
    for (const part of parts)
      if (part !== null && typeof part === 'object' && !Array.isArray(part)) Object.assign(out, part);
    return out;
  }
  const ref = (value as { $xcom_ref?: StoredRef }).$xcom_ref;
  if (ref && ref.collect) {
    // Airflow's LazySelectSequence: the values the instances pushed, in map_index order.
    const rows = await listXComs(db, ref.dag_id, ref.run_id, ref.task_id);
    let current: Json = rows
      .filter((r) => r.key === ref.key && r.map_index >= 0)
      .sort((a, b) => a.map_index - b.map_index)
      .map((r) => r.value as Json);
    for (const k of ref.path) {
      if (current === null || typeof current !== 'object') return null;
      current = (Array.isArray(current) ? current[Number(k)] : current[k]) ?? null;
    }
    return current;
  }
  if (ref && Object.keys(value).length === 1) {
    const stored = await getXCom(db, {
      dag_id: ref.dag_id,
      run_id: ref.run_id,
      task_id: ref.task_id,
      map_index: ref.map_index,
      key: ref.key,
    });
    let current: Json = (stored ?? null) as Json;
    for (const k of ref.path) {
      if (current === null || typeof current !== 'object') return null;
      current = (Array.isArray(current) ? current[Number(k)] : current[k]) ?? null;
    }
    return current;
  }
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(value)) out[k] = (await resolveStoredRefs(db, v)) as Json;
  return out;
}
