/**
 * Runs a TypeScript task function in the worker process. The function comes from the code of the
 * run's DAG version (the resolver); its return value is the XCom. SkipTask/FailTask map to skip and no-retry failure.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ArtifactRef, TaskContext } from '../../sdk/context.js';
import type { TaskFunction } from '../../sdk/task.js';
import type { Json } from '../../spec/dag-spec.js';
import { outletEvents } from './outlet-events.js';
import { InputArtifactError, StepOutputError } from '../step-outputs/protocol.js';
import {
  TaskExecutionError,
  type ExecutionRequest,
  type ExecutionResult,
  type Executor,
  type RunContext,
} from './types.js';

/**
 * Which function to run: a task's (key: its task id) or a callback's (key: sdk/callbacks.ts
 * callbackKey), in the code of the run's DAG version.
 */
export interface FunctionRef {
  dagId: string;
  /** The run's dag_version id; null for requests that name only the spec hash (older workflows). */
  dagVersionId: number | null;
  specHash: string;
  key: string;
}

export interface FunctionLookup {
  fn: TaskFunction<unknown, unknown>;
  /** Said in the try's log: e.g. that the run executes an earlier version's stored code. */
  note?: string;
}

/** Resolves functions from the code of a run's DAG version (worker/dag-functions.ts). */
export interface FunctionResolver {
  resolve(ref: FunctionRef): Promise<FunctionLookup>;
}

/**
 * The function cannot be had: its DAG version's code is not stored, does not load, or does not
 * define it. The try fails at once, without retries (retrying cannot bring the code back).
 */
export class TaskFunctionNotFoundError extends Error {
  override readonly name = 'TaskFunctionNotFoundError';
}

export function createInProcessExecutor(resolver: FunctionResolver): Executor {
  return {
    name: 'in_process',
    async execute(req: ExecutionRequest): Promise<ExecutionResult> {
      const x: RunContext = req.run ?? {
        specHash: '',
        runType: 'manual',
        logicalDate: null,
        dataIntervalStart: null,
        dataIntervalEnd: null,
        params: {},
        conf: {},
      };
      // Input artifacts ctx.artifactPath fetched, removed when the try ends.
      let inputsDir: Promise<string> | undefined;
      const { fn, note } = await resolver
        .resolve({ dagId: req.dagId, dagVersionId: x.dagVersionId ?? null, specHash: x.specHash, key: req.taskId })
        .catch((err: unknown) => {
          throw err instanceof TaskFunctionNotFoundError ? new TaskExecutionError(err.message, 'fail') : err;
        });
      if (note) req.log.write('system', note);
      const logicalDate = x.logicalDate ? new Date(x.logicalDate) : null;
      const outlets = outletEvents(req.taskId, req.spec.outlets ?? []);
      const ctx: TaskContext = {
        dagId: req.dagId,
        taskId: req.taskId,
        runId: req.runId,
        logicalDate,
        ds: logicalDate ? logicalDate.toISOString().slice(0, 10) : null,
        dataIntervalStart: x.dataIntervalStart ? new Date(x.dataIntervalStart) : null,
        dataIntervalEnd: x.dataIntervalEnd ? new Date(x.dataIntervalEnd) : null,
        runAfter: x.runAfter ? new Date(x.runAfter) : logicalDate,
        tryNumber: req.tryNumber,
        mapIndex: req.mapIndex,
        params: x.params,
        conf: x.conf,
        log: {
          info: (m) => req.log.write('stdout', m),
          warn: (m) => req.log.write('stdout', `WARNING ${m}`),
          error: (m) => req.log.write('stderr', m),
        },
        signal: req.signal,
        heartbeat: () => req.heartbeat({ executor: 'in_process', id: `${req.taskId}#${req.tryNumber}` }),
        triggeringAssetEvents: x.triggeringAssetEvents ?? {},
        outletEvents: outlets.accessors,
        ...outputMethods(req, () => (inputsDir ??= mkdtemp(path.join(tmpdir(), 'updraft-inputs-')))),
      };
      req.heartbeat({ executor: 'in_process', id: `${req.taskId}#${req.tryNumber}` });

      // A function cannot be killed; on timeout or cancel we stop waiting for it and say so.
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const stop = new Promise<never>((_, reject) => {
        if (req.timeoutMs !== null) {
          timer = setTimeout(
            () => reject(new TaskExecutionError(`execution_timeout of ${req.timeoutMs! / 1000}s exceeded`, 'timeout')),
            req.timeoutMs,
          );
        }
        onAbort = () => reject(new TaskExecutionError('the task was cancelled', 'cancelled'));
        if (req.signal.aborted) onAbort();
        else req.signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        const value = await Promise.race([Promise.resolve().then(() => fn(req.input as never, ctx)), stop]);
        const returnValue = toJsonValue(value, req.taskId);
        return {
          returnValue,
          exitCode: null,
          outletExtras: outlets.extras(),
          ...(req.stepIO ? { outputs: req.stepIO.logged } : {}),
        };
      } catch (err) {
        throw toExecutionError(err);
      } finally {
        if (timer) clearTimeout(timer);
        if (onAbort) req.signal.removeEventListener('abort', onAbort);
        if (inputsDir) await rm(await inputsDir, { recursive: true, force: true });
      }
    },
  };
}

function toJsonValue(value: unknown, taskId: string): Json | undefined {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(value)) as Json;
  } catch (err) {
    throw new TaskExecutionError(
      `task "${taskId}" returned a value that is not JSON-serialisable: ${(err as Error).message}`,
      'error',
    );
  }
}

function toExecutionError(err: unknown): TaskExecutionError {
  if (err instanceof TaskExecutionError) return err;
  // Match by name: the DAG file may carry its own copy of the SDK classes.
  const name = (err as { name?: unknown })?.name;
  const message = err instanceof Error ? err.message : String(err);
  if (name === 'SkipTask') return new TaskExecutionError(message || 'skipped by the task', 'skip');
  if (name === 'FailTask') return new TaskExecutionError(message || 'failed by the task', 'fail');
  // A metric, param or artifact the step output protocol refuses: running again logs the same.
  if (err instanceof StepOutputError) return new TaskExecutionError(`step output protocol: ${message}`, 'fail');
  if (err instanceof InputArtifactError) return new TaskExecutionError(message, 'fail');
  const stack = err instanceof Error && err.stack ? err.stack.split('\n').slice(0, 8) : [];
  return new TaskExecutionError(`${err instanceof Error ? err.name : 'Error'}: ${message}`, 'error', null, stack);
}

type OutputMethods = Pick<TaskContext, 'logMetric' | 'logParam' | 'logParams' | 'logArtifact' | 'artifactPath'>;

/** ctx.logMetric & co. over the try's StepIO; without one (an executor driven directly) they say so. */
function outputMethods(req: ExecutionRequest, inputsDir: () => Promise<string>): OutputMethods {
  const io = req.stepIO;
  const none = (): never => {
    throw new Error(
      'this worker has no artifact store configured for tasks (runTask passes one; see docs/step-outputs.md)',
    );
  };
  if (!io) return { logMetric: none, logParam: none, logParams: none, logArtifact: none, artifactPath: none };
  return {
    logMetric: (name, value, step) => io.logMetric(name, value, step),
    logParam: (name, value) => io.logParams({ [name]: value }),
    logParams: (params) => io.logParams(params),
    logArtifact: async (artifact) => (await io.logArtifact(artifact)) as unknown as ArtifactRef,
    artifactPath: async (ref) => {
      const isRef = typeof ref === 'object' && ref !== null && Object.keys(ref).length === 1 && '$artifact' in ref;
      if (!isRef)
        throw new StepOutputError(
          'ctx.artifactPath',
          'ref',
          'expected an artifact reference {"$artifact": {...}} (from the task input)',
        );
      const seen = (await io.materialize({ ref } as unknown as Json, await inputsDir())) as unknown as {
        ref: { $artifact: { path: string } };
      };
      return seen.ref.$artifact.path;
    },
  };
}
