/**
 * The pure half of the Docker executor: an ExecutionRequest in, the Docker Engine API's container
 * create body out. No I/O, so every mapping (env, mounts, resources, GPUs) is unit-tested directly.
 */
import type Dockerode from 'dockerode';
import type { ContainerOperatorSpec, Json } from '../../spec/dag-spec.js';
import { containerLabels, containerName } from './docker-naming.js';
import { cpuToNanoCpus, memoryToBytes } from './docker-quantity.js';
import type { ExecutionRequest } from './types.js';

/** Where the per-try I/O directory is mounted inside every container. */
export const IO_MOUNT = '/updraft';
export const INPUT_FILE = `${IO_MOUNT}/input.json`;
export const RETURN_FILE = `${IO_MOUNT}/xcom/return.json`;
/** The step's output folder (return.json, metrics.jsonl, params.json, artifacts.json). */
export const OUTPUT_DIR = `${IO_MOUNT}/xcom`;
/** Input artifacts, read-only: `/updraft/artifacts/<sha256>`. */
export const ARTIFACTS_MOUNT = `${IO_MOUNT}/artifacts`;
/** Inputs larger than this are passed through the file only: env vars count against ARG_MAX. */
export const MAX_INPUT_ENV_BYTES = 32 * 1024;
/** Docker refuses memory limits below 6 MiB. */
export const MIN_MEMORY_BYTES = 6 * 1024 * 1024;

/** A task spec the Docker executor cannot run as given; the message names the field. */
export class DockerSpecError extends Error {
  override readonly name = 'DockerSpecError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export interface CreateOptionsSettings {
  /** Host directory bind-mounted at /updraft (holds input.json and xcom/). */
  ioHostDir: string;
  /** Network mode when the task names none; default 'none' (the test daemon has no bridge). */
  defaultNetworkMode?: string;
  /** Host folder of the try's input artifacts, mounted read-only at /updraft/artifacts; null/absent: none. */
  artifactsHostDir?: string | null;
}

export function containerSpecOf(request: ExecutionRequest): ContainerOperatorSpec {
  const spec = request.spec.container;
  if (request.spec.kind !== 'container' || !spec) {
    throw new DockerSpecError(
      `tasks.${request.spec.task_id}.container`,
      `the docker executor runs container tasks only, got kind "${request.spec.kind}"${spec ? '' : ' without a container spec'}`,
    );
  }
  return spec;
}

/** The JSON text of the task's input as the step sees it (undefined input is JSON null). */
export function inputJson(input: Json | undefined): string {
  return JSON.stringify(input === undefined ? null : input);
}

export function buildEnv(request: ExecutionRequest, spec: ContainerOperatorSpec): string[] {
  const env = new Map<string, string>();
  for (const [k, v] of Object.entries(spec.env)) env.set(k, v);
  // Context and I/O variables win over the task's own env: a step must be able to trust them.
  for (const [k, v] of Object.entries(request.contextEnv)) env.set(k, v);
  const input = inputJson(request.input);
  if (Buffer.byteLength(input) <= MAX_INPUT_ENV_BYTES) env.set('UPDRAFT_INPUT', input);
  else env.delete('UPDRAFT_INPUT');
  env.set('UPDRAFT_INPUT_FILE', INPUT_FILE);
  env.set('UPDRAFT_RETURN_FILE', RETURN_FILE);
  env.set('UPDRAFT_OUTPUT_DIR', OUTPUT_DIR);
  // GPU exclusivity must not depend on the image: CUDA images set NVIDIA_VISIBLE_DEVICES=all, which
  // the NVIDIA runtime honours. Pin it to the allocated devices, or to none.
  env.set('NVIDIA_VISIBLE_DEVICES', request.spec.resources.gpu > 0 ? request.gpuDevices.join(',') : 'void');
  return [...env].map(([k, v]) => `${k}=${v}`);
}

function binds(
  request: ExecutionRequest,
  spec: ContainerOperatorSpec,
  ioHostDir: string,
  artifactsHostDir: string | null,
): string[] {
  const result = [`${ioHostDir}:${IO_MOUNT}`];
  if (artifactsHostDir !== null) result.push(`${artifactsHostDir}:${ARTIFACTS_MOUNT}:ro`);
  spec.mounts.forEach((mount, i) => {
    const field = `tasks.${request.spec.task_id}.container.mounts[${i}]`;
    if (mount.source.startsWith('pvc:')) {
      throw new DockerSpecError(
        `${field}.source`,
        `"${mount.source}" is a Kubernetes PVC; the docker runtime mounts host paths only`,
      );
    }
    if (!mount.source.startsWith('/')) {
      throw new DockerSpecError(`${field}.source`, `expected an absolute host path, got "${mount.source}"`);
    }
    if (!mount.target.startsWith('/')) {
      throw new DockerSpecError(`${field}.target`, `expected an absolute container path, got "${mount.target}"`);
    }
    if (mount.target === IO_MOUNT || mount.target.startsWith(`${IO_MOUNT}/`)) {
      throw new DockerSpecError(`${field}.target`, `${IO_MOUNT} is reserved for the task's input and XCom`);
    }
    result.push(`${mount.source}:${mount.target}${mount.read_only ? ':ro' : ''}`);
  });
  return result;
}

function resources(request: ExecutionRequest): Dockerode.HostConfig {
  const { cpu, memory, gpu } = request.spec.resources;
  const prefix = `tasks.${request.spec.task_id}.resources`;
  const host: Dockerode.HostConfig = {};
  if (cpu !== null) host.NanoCpus = cpuToNanoCpus(cpu, `${prefix}.cpu`);
  if (memory !== null) {
    const bytes = memoryToBytes(memory, `${prefix}.memory`);
    if (bytes < MIN_MEMORY_BYTES) {
      throw new DockerSpecError(`${prefix}.memory`, `"${memory}" is below Docker's minimum of 6Mi`);
    }
    host.Memory = bytes;
    // No swap beyond the limit, so the limit is what the step gets and exceeding it is an OOM kill.
    host.MemorySwap = bytes;
  }
  if (gpu > 0) {
    if (request.gpuDevices.length !== gpu) {
      throw new DockerSpecError(
        `${prefix}.gpu`,
        `the task asks for ${gpu} GPU(s) but the worker allocated ${request.gpuDevices.length} (${request.gpuDevices.join(', ') || 'none'}); ` +
          'GPU tasks must run on a GPU worker queue that allocates devices',
      );
    }
    host.DeviceRequests = [{ Driver: 'nvidia', DeviceIDs: [...request.gpuDevices], Capabilities: [['gpu']] }];
  }
  return host;
}

/** The container create body for a request. Throws DockerSpecError for specs Docker cannot run. */
export function buildCreateOptions(
  request: ExecutionRequest,
  settings: CreateOptionsSettings,
): Dockerode.ContainerCreateOptions {
  const spec = containerSpecOf(request);
  if (spec.image.trim() === '')
    throw new DockerSpecError(`tasks.${request.spec.task_id}.container.image`, 'must not be empty');
  const options: Dockerode.ContainerCreateOptions = {
    name: containerName(request),
    Image: spec.image,
    Env: buildEnv(request, spec),
    Labels: containerLabels(request),
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    HostConfig: {
      Binds: binds(request, spec, settings.ioHostDir, settings.artifactsHostDir ?? null),
      NetworkMode: spec.network_mode ?? settings.defaultNetworkMode ?? 'none',
      // The executor removes the container itself, after it has read the logs and the XCom.
      AutoRemove: false,
      ...resources(request),
    },
  };
  // Kubernetes semantics: command replaces the entrypoint (and drops the image's CMD); args replace CMD.
  if (spec.command !== null) options.Entrypoint = [...spec.command];
  if (spec.args.length > 0) options.Cmd = [...spec.args];
  if (spec.working_dir !== null) options.WorkingDir = spec.working_dir;
  return options;
}
