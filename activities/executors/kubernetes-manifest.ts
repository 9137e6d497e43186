/**
 * Pure translation of an ExecutionRequest into the batch/v1 Job the Kubernetes executor creates for
 * one try. No I/O: unit-tested on its own and reused by the executor.
 */
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { V1Job, V1Secret, V1Toleration, V1Volume, V1VolumeMount, V1EnvVar } from '@kubernetes/client-node' with {
  'resolution-mode': 'import',
};
import type { ExecutionRequest } from './types.js';

/** The container's name inside the Job's pod (logs and statuses are read for it). */
export const TASK_CONTAINER_NAME = 'task';
/**
 * Where the container writes its XCom return value as JSON. Kubernetes copies the file into the
 * container's terminated state (`terminationMessagePath`, at most 4096 bytes), so no volume or
 * sidecar is needed to get it out.
 */
export const XCOM_RETURN_PATH = '/updraft/xcom/return.json';
/** Default node label that `resources.gpu_type` selects on. */
export const DEFAULT_GPU_TYPE_LABEL = 'updraft.dev/gpu-type';
export const GPU_RESOURCE = 'nvidia.com/gpu';

export const LABEL_DAG_ID = 'updraft.dev/dag-id';
export const LABEL_TASK_ID = 'updraft.dev/task-id';
export const LABEL_RUN_ID = 'updraft.dev/run-id';
export const LABEL_TRY_NUMBER = 'updraft.dev/try-number';
export const LABEL_MAP_INDEX = 'updraft.dev/map-index';

/** A container spec that cannot be turned into a Job (reported as a task failure of kind 'error'). */
export class KubernetesSpecError extends Error {
  override readonly name = 'KubernetesSpecError';
}

export interface JobManifestOptions {
  /** Namespace used when the task's spec names none. */
  namespace: string;
  /** Pod terminationGracePeriodSeconds: how long a cancelled/timed-out pod gets to stop. */
  deleteGraceSeconds: number;
  /** Finished Jobs are garbage-collected after this many seconds (null: kept). */
  ttlSecondsAfterFinished: number | null;
  /** Node label `resources.gpu_type` selects on. */
  gpuTypeLabel: string;
  /** Extra annotations on every pod (e.g. sidecar injection switches, or the test cluster's kwok outcome). */
  podAnnotations: Record<string, string>;
}

const MAX_NAME = 63;
const HASH_LEN = 10;

/** A DNS-1123 label fragment: lowercase alphanumerics and '-', no leading/trailing '-'. */
function dnsFragment(value: string): string {
  return value
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * The Job's name: deterministic per (dag, run, task, map index, try), so a re-attempt of the same
 * try after a worker crash finds the Job instead of starting a second one. Readable prefix plus a
 * hash of the exact identity (the prefix alone is lossy: sanitised and truncated to fit 63 chars).
 */
export function jobNameFor(
  request: Pick<ExecutionRequest, 'dagId' | 'runId' | 'taskId' | 'mapIndex' | 'tryNumber'>,
): string {
  const hash = createHash('sha256')
    .update(
      [request.dagId, request.runId, request.taskId, String(request.mapIndex), String(request.tryNumber)].join(
        '\u0000',
      ),
    )
    .digest('hex')
    .slice(0, HASH_LEN);
  const mapPart = request.mapIndex >= 0 ? `-m${request.mapIndex}` : '';
  const readable = dnsFragment(`${request.dagId}-${request.taskId}${mapPart}-t${request.tryNumber}`);
  const prefix = readable.slice(0, MAX_NAME - HASH_LEN - 1).replace(/-+$/, '');
  return prefix ? `${prefix}-${hash}` : `updraft-${hash}`;
}

/**
 * A label value: at most 63 chars of [A-Za-z0-9-_.], starting and ending alphanumeric. Lossy, so
 * the exact values are also written as annotations.
 */
export function labelValue(value: string): string {
  const cleaned = value.replace(/[^A-Za-z0-9._-]+/g, '_');
  return cleaned
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
}

function identityLabels(request: ExecutionRequest): Record<string, string> {
  return {
    'app.kubernetes.io/managed-by': 'updraft',
    [LABEL_DAG_ID]: labelValue(request.dagId),
    [LABEL_TASK_ID]: labelValue(request.taskId),
    [LABEL_RUN_ID]: labelValue(request.runId),
    [LABEL_TRY_NUMBER]: String(request.tryNumber),
    // -1 (not mapped) is not a valid label value (must start alphanumeric).
    [LABEL_MAP_INDEX]: request.mapIndex >= 0 ? String(request.mapIndex) : 'none',
  };
}

/** The exact identity, which the executor checks before re-attaching to an existing Job. */
export function identityAnnotations(
  request: Pick<ExecutionRequest, 'dagId' | 'runId' | 'taskId' | 'mapIndex' | 'tryNumber'>,
): Record<string, string> {
  return {
    [LABEL_DAG_ID]: request.dagId,
    [LABEL_TASK_ID]: request.taskId,
    [LABEL_RUN_ID]: request.runId,
    [LABEL_TRY_NUMBER]: String(request.tryNumber),
    [LABEL_MAP_INDEX]: String(request.mapIndex),
  };
}

const PULL_POLICY = { never: 'Never', if_not_present: 'IfNotPresent', always: 'Always' } as const;

/** Namespace the try's Job lives in: the task's own, else the executor's default. */
export function namespaceFor(request: ExecutionRequest, defaultNamespace: string): string {
  return request.spec.container?.kubernetes.namespace ?? defaultNamespace;
}

/** The folder of the worker's artifact store when the step output protocol is on and the store is local (file://); else null. */
export function localStoreRoot(request: Pick<ExecutionRequest, 'stepIO'>): string | null {
  const store = request.stepIO?.storeEnv['UPDRAFT_ARTIFACT_STORE'];
  if (store === undefined || !store.startsWith('file://')) return null;
  return fileURLToPath(store);
}

/**
 * The Secret that carries the worker's artifact store keys to step pods (null when the worker has
 * none to give: a local store, or S3 through the pods' own identity). Named after the access key
 * id (public: it is in every signed request), so workers with other keys do not overwrite each
 * other; the executor creates it, or replaces it when it exists (a rotated secret key). The Job
 * refers to it by name, so the keys are in no Job spec, pod spec, argv or log.
 */
export function storeSecretFor(request: Pick<ExecutionRequest, 'stepIO'>, namespace: string): V1Secret | null {
  const credentials = request.stepIO?.storeCredentials() ?? {};
  const keyId = credentials['AWS_ACCESS_KEY_ID'];
  if (keyId === undefined) return null;
  const name = `updraft-artifact-store-${createHash('sha256').update(keyId).digest('hex').slice(0, HASH_LEN)}`;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: { name, namespace, labels: { 'app.kubernetes.io/managed-by': 'updraft' } },
    stringData: { ...credentials },
  };
}

export function buildJobManifest(request: ExecutionRequest, opts: JobManifestOptions): V1Job {
  const container = request.spec.container;
  if (!container) {
    throw new KubernetesSpecError(
      `task "${request.spec.task_id}": the kubernetes executor needs spec.container (task kind is "${request.spec.kind}")`,
    );
  }
  if (!container.image) {
    throw new KubernetesSpecError(
      `task "${request.spec.task_id}": spec.container.image is empty; expected an image reference`,
    );
  }
  const k8s = container.kubernetes;
  const resources = request.spec.resources;

  // Context variables win over the task's own env so a task cannot spoof its identity; the input
  // goes last because it is the executor's to set. Sorted for a deterministic manifest.
  // With the step output protocol on (request.stepIO), the step puts its outputs into the shared
  // store itself and writes a manifest as its termination message (a pod's files are gone after
  // it ends); the store's location goes with it as values, its keys (when the worker has explicit
  // ones) as references to the store Secret (storeSecretFor), winning over the task's own.
  const stepEnv: Record<string, string> = request.stepIO
    ? { ...request.stepIO.storeEnv, UPDRAFT_OUTPUT_MANIFEST: '1' }
    : {};
  const envMap: Record<string, string> = {
    ...container.env,
    ...stepEnv,
    ...request.contextEnv,
    UPDRAFT_INPUT: JSON.stringify(request.input ?? null),
  };
  const storeSecret = storeSecretFor(request, namespaceFor(request, opts.namespace));
  const secretKeys = Object.keys(storeSecret?.stringData ?? {});
  const env: V1EnvVar[] = [
    ...Object.keys(envMap)
      .filter((name) => !secretKeys.includes(name))
      .map((name): V1EnvVar => ({ name, value: envMap[name] ?? '' })),
    ...secretKeys.map((key): V1EnvVar => ({
      name: key,
      valueFrom: { secretKeyRef: { name: storeSecret!.metadata!.name!, key } },
    })),
  ].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const limits: Record<string, string> = {};
  if (resources.cpu) limits['cpu'] = resources.cpu;
  if (resources.memory) limits['memory'] = resources.memory;
  // requests = limits (Guaranteed QoS for cpu/memory). Extended resources cannot be overcommitted:
  // the API defaults their request to the limit, so the GPU count goes in limits only.
  const requests: Record<string, string> = { ...limits };
  if (resources.gpu > 0) limits[GPU_RESOURCE] = String(resources.gpu);

  const nodeSelector: Record<string, string> = { ...k8s.node_selector };
  if (resources.gpu_type) nodeSelector[opts.gpuTypeLabel] = resources.gpu_type;

  const tolerations: V1Toleration[] = k8s.tolerations.map((t) => {
    const out: V1Toleration = { key: t.key, operator: t.operator };
    if (t.value !== undefined) out.value = t.value;
    if (t.effect !== undefined) out.effect = t.effect;
    return out;
  });

  const volumes: V1Volume[] = [];
  const volumeMounts: V1VolumeMount[] = [];
  container.mounts.forEach((m, i) => {
    const name = `mount-${i}`;
    if (m.source.startsWith('pvc:')) {
      const claimName = m.source.slice('pvc:'.length);
      if (!claimName)
        throw new KubernetesSpecError(
          `task "${request.spec.task_id}": spec.container.mounts[${i}].source "pvc:" names no PersistentVolumeClaim`,
        );
      volumes.push({ name, persistentVolumeClaim: { claimName, readOnly: m.read_only } });
    } else if (m.source.startsWith('/')) {
      volumes.push({ name, hostPath: { path: m.source } });
    } else {
      throw new KubernetesSpecError(
        `task "${request.spec.task_id}": spec.container.mounts[${i}].source "${m.source}" must be "pvc:<claim name>" or an absolute host path`,
      );
    }
    volumeMounts.push({ name, mountPath: m.target, readOnly: m.read_only });
  });
  const localStore = localStoreRoot(request);
  if (localStore !== null && !volumeMounts.some((m) => m.mountPath === localStore)) {
    // A local (file://) store reaches the pod only where the node shares the worker's disk (the
    // test cluster's real node): the same folder at the same path, read-write, so the step reads
    // its inputs from their file:// uris and puts its outputs where the worker checks them. On a
    // node that does not share the disk the folder is empty there and the manifest check fails,
    // naming the missing output, as it would without the mount.
    volumes.push({ name: 'artifact-store', hostPath: { path: localStore, type: 'DirectoryOrCreate' } });
    volumeMounts.push({ name: 'artifact-store', mountPath: localStore, readOnly: false });
  }

  const labels = identityLabels(request);
  const annotations = identityAnnotations(request);
  const job: V1Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: jobNameFor(request), namespace: namespaceFor(request, opts.namespace), labels, annotations },
    spec: {
      // One pod per try: Updraft owns retries (each try is its own Job).
      backoffLimit: 0,
      completions: 1,
      parallelism: 1,
      ...(opts.ttlSecondsAfterFinished !== null ? { ttlSecondsAfterFinished: opts.ttlSecondsAfterFinished } : {}),
      // Backstop for a timeout the executor could not enforce (worker gone): Kubernetes stops the
      // Job itself a little after the executor would have.
      ...(request.timeoutMs !== null ? { activeDeadlineSeconds: Math.ceil(request.timeoutMs / 1000) + 30 } : {}),
      template: {
        metadata: {
          labels: { ...labels },
          annotations: { ...opts.podAnnotations, ...(container.kubernetes.pod_annotations ?? {}), ...annotations },
        },
        spec: {
          restartPolicy: 'Never',
          terminationGracePeriodSeconds: opts.deleteGraceSeconds,
          containers: [
            {
              name: TASK_CONTAINER_NAME,
              image: container.image,
              ...(container.command !== null ? { command: container.command } : {}),
              ...(container.args.length > 0 ? { args: container.args } : {}),
              env,
              ...(container.working_dir !== null ? { workingDir: container.working_dir } : {}),
              imagePullPolicy: PULL_POLICY[container.pull_policy],
              terminationMessagePath: XCOM_RETURN_PATH,
              terminationMessagePolicy: 'File',
              ...(Object.keys(limits).length > 0
                ? { resources: { limits, ...(Object.keys(requests).length > 0 ? { requests } : {}) } }
                : {}),
              ...(volumeMounts.length > 0 ? { volumeMounts } : {}),
            },
          ],
          ...(volumes.length > 0 ? { volumes } : {}),
          ...(Object.keys(nodeSelector).length > 0 ? { nodeSelector } : {}),
          ...(tolerations.length > 0 ? { tolerations } : {}),
          ...(k8s.service_account !== null ? { serviceAccountName: k8s.service_account } : {}),
          ...(k8s.image_pull_secrets.length > 0
            ? { imagePullSecrets: k8s.image_pull_secrets.map((name) => ({ name })) }
            : {}),
          ...(container.network_mode === 'host' ? { hostNetwork: true } : {}),
        },
      },
    },
  };
  return job;
}
