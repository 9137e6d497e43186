/**
 * The Docker executor: runs a container task as one container per try on a Docker daemon.
 *
 * - The container name is deterministic (dag, run, task, map index, try), so after a worker crash
 *   the next attempt of the same try attaches to the container that is already running (or has
 *   exited) instead of starting the work twice; Docker's unique names make racing workers safe.
 * - The task's input is a file (/updraft/input.json, plus UPDRAFT_INPUT for small inputs) in a
 *   per-try host directory bind-mounted at /updraft; the step's XCom return value is what it
 *   writes to /updraft/xcom/return.json, read from the host side of the bind.
 * - Logs stream live into the task log; heartbeats carry the container id and the timestamp of the
 *   last log line seen, so a re-attaching worker resumes the log where the crashed one stopped.
 * - Timeouts and cancellation stop the container (SIGTERM, SIGKILL after the grace period) and
 *   remove it; after a normal end it is removed once its logs and XCom have been collected.
 */
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Dockerode from 'dockerode';
import type { ContainerOperatorSpec, Json } from '../../spec/dag-spec.js';
import {
  DockerSpecError,
  ARTIFACTS_MOUNT,
  IO_MOUNT,
  RETURN_FILE,
  buildCreateOptions,
  containerSpecOf,
  inputJson,
} from './docker-create-options.js';
import { DockerLogDecoder, compareTimestamps, timestampToSince } from './docker-logs.js';
import { containerName } from './docker-naming.js';
import { QuantityError } from './docker-quantity.js';
import { exitCodeFailure } from './exit-code.js';
import {
  TaskExecutionError,
  type ExecutionRequest,
  type ExecutionResult,
  type Executor,
  type ExecutorHandle,
} from './types.js';
import { parseReturnJson } from './return-json.js';

export { buildCreateOptions, DockerSpecError } from './docker-create-options.js';
export type { CreateOptionsSettings } from './docker-create-options.js';
export { containerName, containerLabels, LABELS } from './docker-naming.js';
export { parseQuantity, cpuToNanoCpus, memoryToBytes, QuantityError } from './docker-quantity.js';

export interface DockerExecutorOptions {
  /** The daemon's unix socket; else DOCKER_HOST, else /var/run/docker.sock (dockerode's rules). */
  socketPath?: string;
  /** Seconds between SIGTERM and SIGKILL when a container is stopped (default 10). */
  stopGraceSeconds?: number;
  /** Network mode for tasks that name none (default 'none'). */
  defaultNetworkMode?: string;
  /**
   * Host directory under which each try gets its /updraft directory (default $UPDRAFT_DOCKER_IO_DIR
   * or <tmpdir>/updraft-docker). It must be visible to the daemon at the same path: the worker and
   * the daemon share a filesystem.
   */
  ioRoot?: string;
  /** How often a running container's handle is heartbeated (default 10 s). */
  heartbeatIntervalMs?: number;
  /** A ready client (tests, or a remote daemon with TLS); overrides socketPath. */
  docker?: Dockerode;
}

/**
 * What the executor heartbeats: the container id and name, and from the first log line on
 * `logsUntil`, the RFC3339Nano timestamp of the last line written to the task log, so that a
 * re-attaching worker skips the lines already logged.
 */
export interface DockerHandle extends ExecutorHandle {
  executor: 'docker';
  id: string;
  name: string;
}

const DEFAULT_STOP_GRACE_SECONDS = 10;
const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;
/** How long to wait for the log stream to drain after the container has exited. */
const LOG_DRAIN_MS = 5_000;
const LAST_LINES = 20;

export function createDockerExecutor(opts: DockerExecutorOptions = {}): Executor {
  const docker =
    opts.docker ?? (opts.socketPath !== undefined ? new Dockerode({ socketPath: opts.socketPath }) : new Dockerode());
  const settings: ResolvedSettings = {
    docker,
    stopGraceSeconds: opts.stopGraceSeconds ?? DEFAULT_STOP_GRACE_SECONDS,
    defaultNetworkMode: opts.defaultNetworkMode ?? 'none',
    ioRoot: opts.ioRoot ?? process.env['UPDRAFT_DOCKER_IO_DIR'] ?? join(tmpdir(), 'updraft-docker'),
    heartbeatIntervalMs: opts.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
  };
  return {
    name: 'docker',
    execute: (request) => execute(settings, request),
  };
}

interface ResolvedSettings {
  docker: Dockerode;
  stopGraceSeconds: number;
  defaultNetworkMode: string;
  ioRoot: string;
  heartbeatIntervalMs: number;
}

/** One try's container, whether this worker created it or attached to it. */
interface Attempt {
  request: ExecutionRequest;
  spec: ContainerOperatorSpec;
  container: Dockerode.Container;
  info: Dockerode.ContainerInspectInfo;
  handle: DockerHandle;
  ioDir: string;
  attached: boolean;
}

async function execute(settings: ResolvedSettings, request: ExecutionRequest): Promise<ExecutionResult> {
  const name = containerName(request);
  const settingsFor = (ioHostDir: string) => ({ ioHostDir, defaultNetworkMode: settings.defaultNetworkMode });
  let spec: ContainerOperatorSpec;
  try {
    spec = containerSpecOf(request);
    // Validate the whole spec before touching the daemon or the disk.
    buildCreateOptions(request, settingsFor(join(settings.ioRoot, name)));
  } catch (err) {
    if (err instanceof DockerSpecError || err instanceof QuantityError) {
      throw new TaskExecutionError(`task ${request.spec.task_id}: ${err.message}`, 'error');
    }
    throw err;
  }

  let found = await findExisting(settings.docker, request, name);
  let attached = found !== null;
  if (!found) {
    if (request.signal.aborted) throw cancelled(name, []);
    await ensureImage(settings.docker, spec, request);
    // A fresh directory per created container: a racing attempt's container keeps its own.
    const { dir: ioDir, input, artifactsDir } = await createIoDir(settings.ioRoot, name, request);
    let container: Dockerode.Container;
    try {
      container = await settings.docker.createContainer(
        buildCreateOptions({ ...request, input }, { ...settingsFor(ioDir), artifactsHostDir: artifactsDir }),
      );
    } catch (err) {
      await rm(ioDir, { recursive: true, force: true });
      // 409: a container with this name appeared since we looked (a racing attempt); use it.
      if (dockerStatus(err) !== 409) throw dockerError(`could not create container ${name}`, err);
      container = settings.docker.getContainer(name);
      attached = true;
    }
    found = { container, info: await container.inspect() };
  }

  const { container, info } = found;
  const handle: DockerHandle = { executor: 'docker', id: info.Id, name };
  request.heartbeat(handle);
  // The container says where its /updraft is; that is where its return value will be.
  const ioDir = info.Mounts.find((m) => m.Destination === IO_MOUNT)?.Source;
  if (ioDir === undefined)
    throw new Error(`container ${name} has no ${IO_MOUNT} mount; it was not created by the docker executor`);
  const attempt: Attempt = { request, spec, container, info, handle, ioDir, attached };
  if (attached) {
    request.log.write(
      'system',
      `attaching to existing container ${name} (${info.Id.slice(0, 12)}, ${info.State.Status})`,
    );
  }
  return run(settings, attempt);
}

async function findExisting(
  docker: Dockerode,
  request: ExecutionRequest,
  name: string,
): Promise<{ container: Dockerode.Container; info: Dockerode.ContainerInspectInfo } | null> {
  const candidates: string[] = [];
  const previous = request.previousHandle;
  if (previous?.executor === 'docker' && typeof previous.id === 'string') candidates.push(previous.id);
  candidates.push(name);
  for (const id of candidates) {
    const container = docker.getContainer(id);
    try {
      const info = await container.inspect();
      // A stale handle could name some other container; only ours (by name) is attached to.
      if (info.Name === `/${name}`) return { container, info };
    } catch (err) {
      if (dockerStatus(err) !== 404) throw dockerError(`could not inspect container ${id}`, err);
    }
  }
  return null;
}

async function ensureImage(docker: Dockerode, spec: ContainerOperatorSpec, request: ExecutionRequest): Promise<void> {
  const present = await imagePresent(docker, spec.image);
  if (spec.pull_policy === 'never') {
    if (!present) {
      throw new TaskExecutionError(
        `image "${spec.image}" is not present on the Docker daemon and pull_policy is "never": ` +
          'build or load it locally (deploy/images/build.sh, or docker load -i <tarball>), or set pull_policy to "if_not_present"',
        'error',
      );
    }
    return;
  }
  if (spec.pull_policy === 'if_not_present' && present) return;
  request.log.write('system', `pulling image ${spec.image} (pull_policy ${spec.pull_policy})`);
  try {
    const stream = await docker.pull(spec.image);
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()));
    });
  } catch (err) {
    throw new TaskExecutionError(`could not pull image "${spec.image}": ${dockerMessage(err)}`, 'error');
  }
}

async function imagePresent(docker: Dockerode, image: string): Promise<boolean> {
  try {
    await docker.getImage(image).inspect();
    return true;
  } catch (err) {
    if (dockerStatus(err) === 404) return false;
    throw dockerError(`could not inspect image ${image}`, err);
  }
}

/**
 * The try's /updraft on the host: input.json, xcom/ (the output folder) and, when the input names
 * artifacts, artifacts/ (mounted read-only at /updraft/artifacts; the refs the step sees get `path`).
 */
async function createIoDir(
  ioRoot: string,
  name: string,
  request: ExecutionRequest,
): Promise<{ dir: string; input: Json | undefined; artifactsDir: string | null }> {
  await mkdir(ioRoot, { recursive: true });
  const dir = await mkdtemp(join(ioRoot, `${name}.`));
  try {
    await mkdir(join(dir, 'xcom'));
    // The step may run as any user: it must be able to read its input and write its return value.
    await chmod(dir, 0o755);
    await chmod(join(dir, 'xcom'), 0o777);
    let input = request.input;
    let artifactsDir: string | null = null;
    if (request.stepIO) {
      const hostDir = join(dir, 'artifacts');
      input = await request.stepIO.materialize(request.input, hostDir, ARTIFACTS_MOUNT);
      if (input !== request.input) {
        artifactsDir = hostDir;
        await chmod(hostDir, 0o755);
      }
    }
    await writeFile(join(dir, 'input.json'), inputJson(input), { mode: 0o644 });
    return { dir, input, artifactsDir };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function run(settings: ResolvedSettings, attempt: Attempt): Promise<ExecutionResult> {
  const { request, container, handle } = attempt;
  let state = attempt.info.State;
  if (request.signal.aborted && state.Status === 'created') {
    await removeQuietly(container);
    await rm(attempt.ioDir, { recursive: true, force: true });
    throw cancelled(handle.name, []);
  }
  if (state.Status === 'created') {
    // Ours, or created by a worker that crashed before starting it.
    try {
      await container.start();
    } catch (err) {
      await removeQuietly(container);
      await rm(attempt.ioDir, { recursive: true, force: true });
      throw new TaskExecutionError(startFailureMessage(attempt, err), 'error', null, request.log.tail(LAST_LINES));
    }
    state = (await container.inspect()).State;
  } else if (state.Status === 'paused') {
    await container.unpause();
  }

  // A re-attached container's timeout counts from when it really started, not from now; one that
  // has already exited is collected as it is (its time limit no longer matters).
  const startedAtMs = Date.parse(state.StartedAt);
  const startedAt = Number.isNaN(startedAtMs) || startedAtMs <= 0 ? Date.now() : startedAtMs;
  const deadline = state.Running && request.timeoutMs !== null ? startedAt + request.timeoutMs : null;

  const logs = followLogs(container, request, attempt.attached ? request.previousHandle?.['logsUntil'] : undefined);
  const beat = (): void => {
    const current: DockerHandle = { ...handle };
    if (logs.lastTimestamp() !== '') current['logsUntil'] = logs.lastTimestamp();
    request.heartbeat(current);
  };
  const heartbeats = setInterval(beat, settings.heartbeatIntervalMs);
  heartbeats.unref();
  try {
    return await awaitOutcome(settings, attempt, logs, deadline);
  } finally {
    clearInterval(heartbeats);
  }
}

async function awaitOutcome(
  settings: ResolvedSettings,
  attempt: Attempt,
  logs: LogFollower,
  deadline: number | null,
): Promise<ExecutionResult> {
  const { request, container, handle } = attempt;
  let outcome: 'exited' | 'timeout' | 'cancelled';
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    const interrupted = new Promise<'timeout' | 'cancelled'>((resolve) => {
      if (deadline !== null) timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - Date.now()));
      onAbort = () => resolve('cancelled');
      if (request.signal.aborted) onAbort();
      else request.signal.addEventListener('abort', onAbort, { once: true });
    });
    // Settles either way, so losing the race never leaves an unhandled rejection behind.
    const exited = container.wait().then(
      () => ({ kind: 'exited' as const, error: null }),
      (err: unknown) => ({ kind: 'exited' as const, error: err }),
    );
    const first = await Promise.race([exited, interrupted]);
    if (typeof first === 'string') outcome = first;
    else if (first.error !== null && dockerStatus(first.error) !== 404) {
      throw dockerError(`could not wait for container ${handle.name}`, first.error);
    } else outcome = 'exited';
  } finally {
    if (timer) clearTimeout(timer);
    if (onAbort) request.signal.removeEventListener('abort', onAbort);
  }

  if (outcome !== 'exited') {
    request.log.write(
      'system',
      `${outcome === 'timeout' ? 'timed out' : 'cancelled'}: stopping container ${handle.name}`,
    );
    await stopQuietly(container, settings.stopGraceSeconds);
    await logs.drain(LOG_DRAIN_MS);
    await removeQuietly(container);
    await rm(attempt.ioDir, { recursive: true, force: true });
    const lastLines = request.log.tail(LAST_LINES);
    if (outcome === 'timeout') {
      throw new TaskExecutionError(
        `container ${handle.name} timed out after ${formatSeconds(request.timeoutMs ?? 0)} and was stopped`,
        'timeout',
        null,
        lastLines,
      );
    }
    throw cancelled(handle.name, lastLines);
  }

  await logs.drain(LOG_DRAIN_MS);
  let final: Dockerode.ContainerInspectInfo;
  try {
    final = await container.inspect();
  } catch (err) {
    if (dockerStatus(err) !== 404) throw dockerError(`could not inspect container ${handle.name}`, err);
    // Removed under us: by another attempt of this try (a worker presumed dead that was not), or by hand.
    throw new TaskExecutionError(
      `container ${handle.name} was removed (by another attempt of this try, or by hand) before its result could be collected`,
      'error',
      null,
      request.log.tail(LAST_LINES),
    );
  }
  let returnValue: Json | undefined;
  let returnError: string | null = null;
  try {
    returnValue = await readReturnValue(attempt.ioDir);
  } catch (err) {
    returnError = (err as Error).message;
  }
  const exitCode = final.State.ExitCode;
  // The output folder is read before the directory goes (a failed exit is reported below, first).
  let collected: Awaited<ReturnType<NonNullable<ExecutionRequest['stepIO']>['collectFolder']>> | null = null;
  let collectError: unknown = null;
  if (request.stepIO && returnError === null && exitCode === 0 && !final.State.OOMKilled) {
    try {
      collected = await request.stepIO.collectFolder(join(attempt.ioDir, 'xcom'), returnValue);
    } catch (err) {
      collectError = err;
    }
  }
  await removeQuietly(container);
  await rm(attempt.ioDir, { recursive: true, force: true });

  const lastLines = request.log.tail(LAST_LINES);
  if (final.State.OOMKilled) {
    const limit = request.spec.resources.memory;
    throw new TaskExecutionError(
      `container ${handle.name} was OOM-killed (exit code ${exitCode}): ` +
        (limit
          ? `it exceeded its memory limit of ${limit} (resources.memory)`
          : 'it had no memory limit; the host ran out of memory'),
      'oom',
      exitCode,
      lastLines,
    );
  }
  const failure = exitCodeFailure(exitCode, lastLines, (kind) => {
    if (kind === 'skip') return `container ${handle.name} exited with code ${exitCode}: the task asked to be skipped`;
    if (kind === 'fail')
      return `container ${handle.name} exited with code ${exitCode}: the task asked to fail without retries`;
    return (
      `container ${handle.name} (image ${attempt.spec.image}) exited with code ${exitCode}` +
      (lastLines.length > 0 ? `; last lines:\n${lastLines.join('\n')}` : '')
    );
  });
  if (failure) throw failure;
  if (returnError !== null) throw new TaskExecutionError(returnError, 'error', exitCode, lastLines);
  if (collectError !== null) throw collectError;
  if (collected !== null)
    return { returnValue: collected.returnValue, exitCode, handle: { ...handle }, outputs: collected.outputs };
  return { returnValue, exitCode, handle: { ...handle } };
}

async function readReturnValue(ioDir: string): Promise<Json | undefined> {
  let text: string;
  try {
    text = await readFile(join(ioDir, 'xcom', 'return.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return parseReturnJson(text, RETURN_FILE);
}

interface LogFollower {
  /** Timestamp of the last line written to the task log ('' before the first). */
  lastTimestamp(): string;
  /** Resolves when the stream has ended, or after `ms` (then the stream is dropped). */
  drain(ms: number): Promise<void>;
}

/**
 * Follows the container's logs into the task log. `skipUntil` (from the crashed worker's last
 * heartbeat) asks the daemon for logs from that instant on and drops lines at or before it.
 */
function followLogs(
  container: Dockerode.Container,
  request: ExecutionRequest,
  skipUntil: Json | undefined,
): LogFollower {
  const since = typeof skipUntil === 'string' && skipUntil !== '' ? skipUntil : null;
  let last = since ?? '';
  let stream: NodeJS.ReadableStream | null = null;
  const decoder = new DockerLogDecoder();
  const emit = (lines: ReturnType<DockerLogDecoder['push']>): void => {
    for (const line of lines) {
      if (since !== null && line.timestamp !== '' && compareTimestamps(line.timestamp, since) <= 0) continue;
      request.log.write(line.stream, line.line);
      if (line.timestamp !== '') last = line.timestamp;
    }
  };
  const done = (async () => {
    try {
      stream = await container.logs({
        follow: true,
        stdout: true,
        stderr: true,
        timestamps: true,
        ...(since !== null ? { since: timestampToSince(since) } : {}),
      });
    } catch (err) {
      request.log.write('system', `could not read the container's logs: ${dockerMessage(err)}`);
      return;
    }
    const s = stream;
    await new Promise<void>((resolve) => {
      s.on('data', (chunk: Buffer) => emit(decoder.push(chunk)));
      s.on('end', resolve);
      s.on('close', resolve);
      s.on('error', (err: Error) => {
        request.log.write('system', `container log stream failed: ${err.message}`);
        resolve();
      });
    });
    emit(decoder.end());
  })();
  return {
    lastTimestamp: () => last,
    drain: async (ms) => {
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), ms);
      });
      const outcome = await Promise.race([done.then(() => 'done' as const), timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout' && stream) {
        (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
        emit(decoder.end());
      }
    },
  };
}

function startFailureMessage(attempt: Attempt, err: unknown): string {
  const message = dockerMessage(err);
  const gpu = attempt.request.spec.resources.gpu;
  let hint = '';
  if (gpu > 0 && /device driver|nvidia|gpu/i.test(message)) {
    hint =
      ` (resources.gpu=${gpu}, devices ${attempt.request.gpuDevices.join(',')}: ` +
      'the daemon cannot give containers GPUs; install and configure the NVIDIA Container Toolkit for this Docker daemon)';
  }
  return `container ${attempt.handle.name} (image ${attempt.spec.image}) could not start: ${message}${hint}`;
}

async function stopQuietly(container: Dockerode.Container, graceSeconds: number): Promise<void> {
  try {
    await container.stop({ t: graceSeconds });
  } catch (err) {
    // 304: already stopped; 404: already gone.
    const status = dockerStatus(err);
    if (status !== 304 && status !== 404) throw dockerError('could not stop container', err);
  }
}

async function removeQuietly(container: Dockerode.Container): Promise<void> {
  try {
    await container.remove({ force: true, v: true });
  } catch (err) {
    const status = dockerStatus(err);
    // 404: gone; 409: removal already in progress (another attempt is cleaning up).
    if (status !== 404 && status !== 409) throw dockerError('could not remove container', err);
  }
}

function cancelled(name: string, lastLines: string[]): TaskExecutionError {
  return new TaskExecutionError(`container ${name} was cancelled and stopped`, 'cancelled', null, lastLines);
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

function dockerStatus(err: unknown): number | undefined {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

function dockerMessage(err: unknown): string {
  const json = (err as { json?: { message?: unknown } } | null)?.json;
  if (json && typeof json.message === 'string') return json.message.trim();
  return err instanceof Error ? err.message : String(err);
}

function dockerError(what: string, err: unknown): Error {
  return new Error(`${what}: ${dockerMessage(err)}`);
}
