/**
 * Runs a container task as one batch/v1 Job per try on a Kubernetes cluster. The Job's name is
 * deterministic per try, so creating it is idempotent: a second execute() of the same try (worker
 * crash, Temporal re-attempt) re-attaches to the running Job instead of starting another one.
 *
 * The executor polls the Job and its pod (no watch: a poll loop survives API server restarts and
 * needs no resourceVersion bookkeeping; one GET per interval per running task is cheap), streams
 * the pod's log into the task log, surfaces scheduling problems (GPU shortage, untolerated taints)
 * in the task log, and deletes the Job (with its pods) on timeout, cancellation and unschedulable.
 * The XCom return value is the container's termination message: see XCOM_RETURN_PATH.
 */
import type { V1Job, V1Pod, V1ContainerStateTerminated } from '@kubernetes/client-node' with {
  'resolution-mode': 'import',
};
import type { Json } from '../../spec/dag-spec.js';
import { apiErrorMessage, apiStatus, makeKubernetesClients, type KubernetesClients } from './kubernetes-client.js';
import { PodLogFollower } from './kubernetes-logs.js';
import {
  buildJobManifest,
  DEFAULT_GPU_TYPE_LABEL,
  identityAnnotations,
  KubernetesSpecError,
  TASK_CONTAINER_NAME,
  XCOM_RETURN_PATH,
  storeSecretFor,
  type JobManifestOptions,
} from './kubernetes-manifest.js';
import { exitCodeFailure, type ExitFailureKind } from './exit-code.js';
import {
  FAIL_EXIT_CODE,
  SKIP_EXIT_CODE,
  TaskExecutionError,
  type ExecutionRequest,
  type ExecutionResult,
  type Executor,
  type ExecutorHandle,
} from './types.js';
import { parseReturnJson } from './return-json.js';
import { isManifest } from '../step-outputs/protocol.js';

export {
  buildJobManifest,
  jobNameFor,
  labelValue,
  storeSecretFor,
  XCOM_RETURN_PATH,
  KubernetesSpecError,
} from './kubernetes-manifest.js';
export type { JobManifestOptions } from './kubernetes-manifest.js';

export interface KubernetesExecutorOptions {
  /** kubeconfig file; default: KUBECONFIG, ~/.kube/config, then the in-cluster service account. */
  kubeconfigPath?: string;
  /** kubeconfig context; default: the file's current-context. */
  context?: string;
  /** Namespace for tasks whose spec names none. */
  namespace: string;
  /** How long a try's pod may stay Pending (unschedulable, image pull...) before the try fails. */
  pendingTimeoutMs: number;
  /** Poll interval for the Job, its pod and its log (default 1000). */
  pollIntervalMs?: number;
  /** Grace period of a deleted (cancelled/timed-out) pod, in seconds (default 30). */
  deleteGraceSeconds?: number;
  /** Finished Jobs are garbage-collected after this (default 86400 s; null keeps them). */
  ttlSecondsAfterFinished?: number | null;
  /** Node label that resources.gpu_type selects on (default updraft.dev/gpu-type). */
  gpuTypeLabel?: string;
  /** Extra annotations for every pod (e.g. `sidecar.istio.io/inject: "false"`). */
  podAnnotations?: Record<string, string>;
  /** How long API errors may persist while a Job is watched before the try errors (default 60000). */
  apiErrorToleranceMs?: number;
}

const DEFAULT_POLL_MS = 1000;
const DEFAULT_GRACE_S = 30;
const DEFAULT_TTL_S = 86_400;
const DEFAULT_API_ERROR_TOLERANCE_MS = 60_000;
const LAST_LINES = 20;

export function createKubernetesExecutor(opts: KubernetesExecutorOptions): Executor {
  // Clients are made on first use so a worker that never runs a Kubernetes task needs no kubeconfig.
  let clients: KubernetesClients | undefined;
  return {
    name: 'kubernetes',
    execute(request: ExecutionRequest): Promise<ExecutionResult> {
      clients ??= makeKubernetesClients(opts);
      return new JobRun(clients, opts, request).run();
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function terminalCondition(job: V1Job): { type: 'Complete' | 'Failed'; reason?: string; message?: string } | undefined {
  // Only Complete/Failed are terminal; 1.31+ first adds SuccessCriteriaMet/FailureTarget while the
  // pods' finalizers are still being processed.
  for (const c of job.status?.conditions ?? []) {
    if ((c.type === 'Complete' || c.type === 'Failed') && c.status === 'True') {
      return { type: c.type, ...(c.reason ? { reason: c.reason } : {}), ...(c.message ? { message: c.message } : {}) };
    }
  }
  return undefined;
}

function podStarted(pod: V1Pod | undefined): boolean {
  const phase = pod?.status?.phase;
  return phase === 'Running' || phase === 'Succeeded' || phase === 'Failed';
}

function taskTermination(pod: V1Pod | undefined): V1ContainerStateTerminated | undefined {
  return pod?.status?.containerStatuses?.find((s) => s.name === TASK_CONTAINER_NAME)?.state?.terminated;
}

class JobRun {
  private readonly namespace: string;
  private readonly name: string;
  private readonly ref: string;
  private readonly handle: ExecutorHandle;
  private readonly manifest: V1Job;
  private readonly pollMs: number;
  private readonly graceS: number;
  private readonly pendingTimeoutMs: number;
  private readonly startedAt = Date.now();
  /** Distinct scheduling/waiting messages already written to the task log. */
  private readonly reported = new Set<string>();
  private lastPendingReason: string | undefined;
  private follower: { pod: string; follower: PodLogFollower } | undefined;
  private logErrorReported = false;

  constructor(
    private readonly c: KubernetesClients,
    private readonly opts: KubernetesExecutorOptions,
    private readonly request: ExecutionRequest,
  ) {
    const manifestOpts: JobManifestOptions = {
      namespace: opts.namespace,
      deleteGraceSeconds: opts.deleteGraceSeconds ?? DEFAULT_GRACE_S,
      ttlSecondsAfterFinished:
        opts.ttlSecondsAfterFinished === undefined ? DEFAULT_TTL_S : opts.ttlSecondsAfterFinished,
      gpuTypeLabel: opts.gpuTypeLabel ?? DEFAULT_GPU_TYPE_LABEL,
      podAnnotations: opts.podAnnotations ?? {},
    };
    try {
      this.manifest = buildJobManifest(request, manifestOpts);
    } catch (err) {
      if (err instanceof KubernetesSpecError) throw new TaskExecutionError(err.message, 'error');
      throw err;
    }
    this.name = this.manifest.metadata?.name ?? '';
    this.namespace = this.manifest.metadata?.namespace ?? opts.namespace;
    this.ref = `${this.namespace}/${this.name}`;
    this.handle = { executor: 'kubernetes', id: this.name, namespace: this.namespace };
    this.pollMs = opts.pollIntervalMs ?? DEFAULT_POLL_MS;
    this.graceS = manifestOpts.deleteGraceSeconds;
    const specPending = request.spec.container?.kubernetes.pending_timeout;
    this.pendingTimeoutMs = specPending != null ? specPending * 1000 : opts.pendingTimeoutMs;
  }

  async run(): Promise<ExecutionResult> {
    const { signal } = this.request;
    if (signal.aborted) {
      // A re-attempt of a cancelled try may find the earlier attempt's Job still there.
      if (this.request.previousHandle) await this.deleteJob();
      throw this.cancelled();
    }
    let job = await this.createOrAttach();
    this.request.heartbeat(this.handle);

    let pendingSince = Date.now();
    let started = false;
    let apiFailingSince: number | undefined;
    for (;;) {
      if (signal.aborted) {
        await this.deleteJob();
        throw this.cancelled();
      }
      if (this.request.timeoutMs !== null && Date.now() - this.startedAt >= this.request.timeoutMs) {
        await this.deleteJob();
        throw new TaskExecutionError(
          `Kubernetes Job ${this.ref} timed out after ${this.request.timeoutMs / 1000}s; deleted it`,
          'timeout',
          null,
          this.request.log.tail(LAST_LINES),
        );
      }

      let pod: V1Pod | undefined;
      try {
        job = await this.c.batch.readNamespacedJob({ name: this.name, namespace: this.namespace });
        pod = await this.currentPod(job);
        apiFailingSince = undefined;
      } catch (err) {
        if (apiStatus(err) === 404) {
          throw new TaskExecutionError(
            `Kubernetes Job ${this.ref} was deleted by someone else while running`,
            'error',
            null,
            this.request.log.tail(LAST_LINES),
          );
        }
        apiFailingSince ??= Date.now();
        this.reportOnce(`Kubernetes API error while watching Job ${this.ref}: ${apiErrorMessage(err)} (retrying)`);
        if (Date.now() - apiFailingSince > (this.opts.apiErrorToleranceMs ?? DEFAULT_API_ERROR_TOLERANCE_MS)) {
          // Not deleted: the next attempt re-attaches through the heartbeated handle.
          throw new TaskExecutionError(
            `Kubernetes API unreachable while watching Job ${this.ref}: ${apiErrorMessage(err)}`,
            'error',
          );
        }
        await sleep(this.pollMs, signal);
        continue;
      }

      const terminal = terminalCondition(job);
      if (!started && (podStarted(pod) || terminal)) started = true;
      if (started && pod) await this.pollLogs(pod, terminal !== undefined);
      if (terminal) return this.collect(this.finish(job, terminal, pod));

      this.request.heartbeat(this.handle);
      if (!started) {
        if (pod) this.reportPending(pod);
        if (Date.now() - pendingSince >= this.pendingTimeoutMs) {
          await this.deleteJob();
          const why =
            this.lastPendingReason ??
            (pod ? `pod ${pod.metadata?.name ?? '?'} is still Pending` : 'the Job controller created no pod');
          throw new TaskExecutionError(
            `Kubernetes Job ${this.ref} was not scheduled within ${this.pendingTimeoutMs / 1000}s: ${why}`,
            'unschedulable',
            null,
            this.request.log.tail(LAST_LINES),
          );
        }
      } else {
        pendingSince = Date.now();
      }
      const untilTimeout =
        this.request.timeoutMs === null ? Infinity : this.startedAt + this.request.timeoutMs - Date.now();
      await sleep(Math.min(this.pollMs, Math.max(untilTimeout, 0)), signal);
    }
  }

  private cancelled(): TaskExecutionError {
    return new TaskExecutionError(
      `Kubernetes Job ${this.ref} cancelled; deleted it`,
      'cancelled',
      null,
      this.request.log.tail(LAST_LINES),
    );
  }

  /**
   * Creates or replaces the Secret with the artifact store's keys that the Job's env refers to
   * (kubernetes-manifest.ts storeSecretFor); nothing when the worker has no keys to give.
   */
  private async ensureStoreSecret(): Promise<void> {
    const secret = storeSecretFor(this.request, this.namespace);
    if (secret === null) return;
    const name = secret.metadata!.name!;
    const where = `Secret ${this.namespace}/${name} (the artifact store's keys for step pods)`;
    try {
      await this.c.core.createNamespacedSecret({ namespace: this.namespace, body: secret });
      this.request.log.write('system', `created ${where}`);
      return;
    } catch (err) {
      if (apiStatus(err) !== 409) {
        throw new TaskExecutionError(
          `creating ${where} failed: ${apiErrorMessage(err)}; the worker needs create and update on secrets in namespace ${this.namespace} (docs/kubernetes.md)`,
          'error',
        );
      }
    }
    try {
      // The keys may have been rotated since: write what this worker has (a 409 carries no body to compare).
      await this.c.core.replaceNamespacedSecret({ name, namespace: this.namespace, body: secret });
    } catch (err) {
      throw new TaskExecutionError(
        `updating ${where} failed: ${apiErrorMessage(err)}; the worker needs create and update on secrets in namespace ${this.namespace} (docs/kubernetes.md)`,
        'error',
      );
    }
  }

  /** Creates the try's Job, or re-attaches to it when it already exists (same deterministic name). */
  private async createOrAttach(): Promise<V1Job> {
    await this.ensureStoreSecret();
    const deadline = Date.now() + Math.max(this.pendingTimeoutMs, 60_000);
    for (;;) {
      try {
        const job = await this.c.batch.createNamespacedJob({ namespace: this.namespace, body: this.manifest });
        this.request.log.write('system', `created Kubernetes Job ${this.ref}`);
        return job;
      } catch (err) {
        if (apiStatus(err) !== 409) {
          throw new TaskExecutionError(`creating Kubernetes Job ${this.ref} failed: ${apiErrorMessage(err)}`, 'error');
        }
      }
      let existing: V1Job;
      try {
        existing = await this.c.batch.readNamespacedJob({ name: this.name, namespace: this.namespace });
      } catch (err) {
        if (apiStatus(err) === 404) continue; // deleted in between: create again
        throw new TaskExecutionError(
          `reading existing Kubernetes Job ${this.ref} failed: ${apiErrorMessage(err)}`,
          'error',
        );
      }
      const want = identityAnnotations(this.request);
      const have = existing.metadata?.annotations ?? {};
      const mismatch = Object.keys(want).filter((k) => have[k] !== want[k]);
      if (mismatch.length > 0) {
        throw new TaskExecutionError(
          `Kubernetes Job ${this.ref} already exists but belongs to another task try (annotations ${mismatch.join(', ')} differ); refusing to re-attach`,
          'error',
        );
      }
      if (!existing.metadata?.deletionTimestamp) {
        this.request.log.write('system', `re-attached to existing Kubernetes Job ${this.ref}`);
        return existing;
      }
      // A Job from a cancelled attempt of this try is still being deleted: wait for it to go.
      if (Date.now() > deadline) {
        throw new TaskExecutionError(
          `Kubernetes Job ${this.ref} from an earlier attempt is still being deleted; cannot start this try`,
          'error',
        );
      }
      await sleep(this.pollMs, this.request.signal);
      if (this.request.signal.aborted) throw this.cancelled();
    }
  }

  /** The Job's pod (the newest, should the Job controller ever have made more than one). */
  private async currentPod(job: V1Job): Promise<V1Pod | undefined> {
    const uid = job.metadata?.uid;
    if (!uid) return undefined;
    const list = await this.c.core.listNamespacedPod({
      namespace: this.namespace,
      labelSelector: `batch.kubernetes.io/controller-uid=${uid}`,
    });
    let newest: V1Pod | undefined;
    for (const p of list.items) {
      const t = p.metadata?.creationTimestamp ? new Date(p.metadata.creationTimestamp).getTime() : 0;
      const n = newest?.metadata?.creationTimestamp ? new Date(newest.metadata.creationTimestamp).getTime() : -1;
      if (t >= n) newest = p;
    }
    return newest;
  }

  private reportOnce(line: string): void {
    if (this.reported.has(line)) return;
    this.reported.add(line);
    this.request.log.write('system', line);
  }

  /** Writes why the pod is not running yet (scheduler verdict, image pull problems), once per message. */
  private reportPending(pod: V1Pod): void {
    const podName = pod.metadata?.name ?? '?';
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False') {
      const why = `${scheduled.message ?? scheduled.reason ?? 'not scheduled'}`;
      this.lastPendingReason = why;
      this.reportOnce(`pod ${podName} ${scheduled.reason ?? 'Unschedulable'}: ${why}`);
    }
    for (const s of pod.status?.containerStatuses ?? []) {
      const waiting = s.state?.waiting;
      if (waiting?.reason && waiting.reason !== 'ContainerCreating') {
        const why = `container ${s.name} waiting (${waiting.reason})${waiting.message ? `: ${waiting.message}` : ''}`;
        this.lastPendingReason = why;
        this.reportOnce(`pod ${podName} ${why}`);
      }
    }
  }

  private async pollLogs(pod: V1Pod, final: boolean): Promise<void> {
    const podName = pod.metadata?.name;
    if (!podName) return;
    if (this.follower?.pod !== podName) {
      const follower = new PodLogFollower(
        (sinceEpochSeconds) =>
          this.c.core.readNamespacedPodLog({
            name: podName,
            namespace: this.namespace,
            container: TASK_CONTAINER_NAME,
            timestamps: true,
            // The API's sinceSeconds is relative to the node's clock: ask for a minute more than our
            // clock says to absorb skew; the follower drops what it already delivered.
            ...(sinceEpochSeconds !== undefined
              ? { sinceSeconds: Math.max(1, Math.ceil(Date.now() / 1000 - sinceEpochSeconds) + 60) }
              : {}),
          }),
        (line) => this.request.log.write('stdout', line),
      );
      this.follower = { pod: podName, follower };
    }
    try {
      await this.follower.follower.poll(final);
    } catch (err) {
      // Logs are best effort (the node may be gone, the runtime may have rotated them); the Job's
      // outcome does not depend on them. Said once, so a broken log endpoint does not flood.
      if (final && !this.logErrorReported) {
        this.logErrorReported = true;
        this.request.log.write('system', `could not read the log of pod ${podName}: ${apiErrorMessage(err)}`);
      }
    }
  }

  private finish(
    job: V1Job,
    terminal: NonNullable<ReturnType<typeof terminalCondition>>,
    pod: V1Pod | undefined,
  ): ExecutionResult {
    const term = taskTermination(pod);
    const exitCode = term?.exitCode ?? null;
    const lastLines = this.request.log.tail(LAST_LINES);
    if (terminal.type === 'Complete') {
      return { returnValue: this.parseXCom(term?.message), exitCode: exitCode ?? 0, handle: this.handle };
    }
    if (terminal.reason === 'DeadlineExceeded') {
      throw new TaskExecutionError(
        `Kubernetes Job ${this.ref} exceeded its activeDeadlineSeconds (${job.spec?.activeDeadlineSeconds ?? '?'}s)`,
        'timeout',
        exitCode,
        lastLines,
      );
    }
    if (term?.reason === 'OOMKilled') {
      throw new TaskExecutionError(
        `Kubernetes Job ${this.ref}: container was OOMKilled (exit code ${exitCode ?? '?'})`,
        'oom',
        exitCode,
        lastLines,
      );
    }
    if (exitCode !== null) {
      const describe = (kind: ExitFailureKind): string => {
        if (kind === 'skip')
          return `Kubernetes Job ${this.ref}: container exited with code ${SKIP_EXIT_CODE} (skip requested)`;
        if (kind === 'fail')
          return `Kubernetes Job ${this.ref}: container exited with code ${FAIL_EXIT_CODE} (fail without retry requested)`;
        return `Kubernetes Job ${this.ref} failed: container exited with code ${exitCode}${term?.reason ? ` (${term.reason})` : ''}`;
      };
      // A failed Job whose container exited 0 (stopped from outside) is still a failure.
      throw (
        exitCodeFailure(exitCode, lastLines, describe) ??
        new TaskExecutionError(describe('exit'), 'exit', exitCode, lastLines)
      );
    }
    throw new TaskExecutionError(
      `Kubernetes Job ${this.ref} failed (${terminal.reason ?? 'Failed'})${terminal.message ? `: ${terminal.message}` : ''}`,
      'exit',
      null,
      lastLines,
    );
  }

  /** A manifest termination message (step output protocol v1) becomes the return value and the try's outputs. */
  private async collect(result: ExecutionResult): Promise<ExecutionResult> {
    const io = this.request.stepIO;
    if (!io || !isManifest(result.returnValue)) return result;
    const collected = await io.collectManifest(result.returnValue as Json);
    return { ...result, returnValue: collected.returnValue, outputs: collected.outputs };
  }

  private parseXCom(message: string | undefined): Json | undefined {
    if (message === undefined || message.trim() === '') return undefined;
    try {
      return parseReturnJson(message, `${XCOM_RETURN_PATH} (the termination message)`);
    } catch (err) {
      throw new TaskExecutionError(
        `Kubernetes Job ${this.ref}: ${(err as Error).message}`,
        'error',
        0,
        this.request.log.tail(LAST_LINES),
      );
    }
  }

  /** Deletes the Job and, through the garbage collector, its pods. Idempotent; errors are logged. */
  private async deleteJob(): Promise<void> {
    const ns = this.namespace;
    try {
      // The API's default for Jobs is to orphan the pods; Background lets the GC remove them.
      await this.c.batch.deleteNamespacedJob({
        name: this.name,
        namespace: ns,
        propagationPolicy: 'Background',
        gracePeriodSeconds: this.graceS,
      });
      this.request.log.write('system', `deleted Kubernetes Job ${ns}/${this.name}`);
    } catch (err) {
      if (apiStatus(err) === 404) return;
      this.request.log.write('system', `deleting Kubernetes Job ${ns}/${this.name} failed: ${apiErrorMessage(err)}`);
    }
  }
}
