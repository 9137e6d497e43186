/// <reference types="mocha" />
/**
 * The Docker executor against a real Docker daemon (scripts/services/dockerd.sh) and the local
 * busybox test image; no mocks of dockerode. What the daemon did is checked with the daemon itself
 * (inspect, events, container listings), independently of the executor's own bookkeeping.
 *
 * The pure parts (create options, quantities, names, log decoding) are unit-tested first; they need
 * no daemon.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Dockerode from 'dockerode';
import {
  buildCreateOptions,
  DockerSpecError,
  MIN_MEMORY_BYTES,
} from '../../activities/executors/docker-create-options.js';
import { compareTimestamps, DockerLogDecoder, timestampToSince } from '../../activities/executors/docker-logs.js';
import { containerLabels, containerName, MAX_CONTAINER_NAME_LENGTH } from '../../activities/executors/docker-naming.js';
import {
  cpuToNanoCpus,
  memoryToBytes,
  parseQuantity,
  QuantityError,
} from '../../activities/executors/docker-quantity.js';
import { createDockerExecutor } from '../../activities/executors/docker.js';
import type { DockerExecutorOptions } from '../../activities/executors/docker.js';
import { TaskExecutionError } from '../../activities/executors/types.js';
import type { ExecutionRequest, ExecutorHandle, LogStream, TaskLogSink } from '../../activities/executors/types.js';
import type { ContainerOperatorSpec, TaskSpec } from '../../spec/dag-spec.js';
import { baseTaskSpec } from '../helpers/task-spec.js';

const TEST_IMAGE = 'updraft/test-busybox:latest';
const DOCKER_JS = resolve(__dirname, '../../activities/executors/docker.js');

class RecordingSink implements TaskLogSink {
  readonly lines: Array<{ stream: LogStream; line: string }> = [];
  private readonly waiters: Array<{ text: string; resolve: () => void }> = [];

  write(stream: LogStream, line: string): void {
    this.lines.push({ stream, line });
    for (const w of [...this.waiters]) {
      if (w.text === line) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  }

  tail(n: number): string[] {
    return this.lines.slice(-n).map((l) => l.line);
  }

  waitFor(text: string): Promise<void> {
    if (this.lines.some((l) => l.line === text)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ text, resolve }));
  }

  of(stream: LogStream): string[] {
    return this.lines.filter((l) => l.stream === stream).map((l) => l.line);
  }
}

function containerSpec(overrides: Partial<ContainerOperatorSpec> = {}): ContainerOperatorSpec {
  return {
    image: TEST_IMAGE,
    command: null,
    args: [],
    env: {},
    working_dir: null,
    mounts: [],
    runtime: 'docker',
    pull_policy: 'never',
    network_mode: null,
    kubernetes: {
      namespace: null,
      service_account: null,
      image_pull_secrets: [],
      node_selector: {},
      tolerations: [],
      pending_timeout: null,
    },
    ...overrides,
  };
}

function taskSpec(container: ContainerOperatorSpec, resources: Partial<TaskSpec['resources']> = {}): TaskSpec {
  return baseTaskSpec({
    task_id: 'step',
    kind: 'container',
    operator: 'ContainerOperator',
    resources: { cpu: null, memory: null, gpu: 0, gpu_type: null, ...resources },
    container,
  });
}

interface TestRequest extends ExecutionRequest {
  log: RecordingSink;
  heartbeats: ExecutorHandle[];
}

let runCounter = 0;
/** A run id unique to this test process, so containers of earlier test runs never collide. */
function uniqueRunId(): string {
  runCounter += 1;
  return `manual__test-${process.pid}-${Date.now()}-${runCounter}`;
}

function request(
  container: Partial<ContainerOperatorSpec> = {},
  overrides: Partial<Omit<ExecutionRequest, 'log' | 'heartbeat' | 'spec'>> & {
    resources?: Partial<TaskSpec['resources']>;
  } = {},
): TestRequest {
  const heartbeats: ExecutorHandle[] = [];
  const { resources, ...rest } = overrides;
  return {
    dagId: 'docker_dag',
    runId: uniqueRunId(),
    taskId: 'step',
    mapIndex: -1,
    tryNumber: 1,
    spec: taskSpec(containerSpec(container), resources),
    input: null,
    contextEnv: {},
    timeoutMs: null,
    signal: new AbortController().signal,
    previousHandle: undefined,
    gpuDevices: [],
    ...rest,
    log: new RecordingSink(),
    heartbeats,
    heartbeat: (handle) => heartbeats.push(handle),
  };
}

async function expectFailure(promise: Promise<unknown>): Promise<TaskExecutionError> {
  try {
    await promise;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(TaskExecutionError);
    return err as TaskExecutionError;
  }
  throw new Error('expected the execution to fail, but it succeeded');
}

function sh(script: string): Partial<ContainerOperatorSpec> {
  return { command: ['/bin/sh', '-c'], args: [script] };
}

// ---------------------------------------------------------------------------------------------
// Pure parts
// ---------------------------------------------------------------------------------------------

describe('docker executor: quantities', () => {
  it('parses Kubernetes quantities', () => {
    expect(parseQuantity('2')).to.equal(2);
    expect(parseQuantity('0.5')).to.equal(0.5);
    expect(parseQuantity('500m')).to.equal(0.5);
    expect(parseQuantity('512Mi')).to.equal(512 * 1024 * 1024);
    expect(parseQuantity('2Gi')).to.equal(2 * 1024 ** 3);
    expect(parseQuantity('1.5Gi')).to.equal(1.5 * 1024 ** 3);
    expect(parseQuantity('1k')).to.equal(1000);
    expect(parseQuantity('128M')).to.equal(128e6);
    expect(parseQuantity('1e3')).to.equal(1000);
    expect(parseQuantity('250u')).to.be.closeTo(0.00025, 1e-12);
  });

  it('converts cpu to NanoCpus and memory to bytes', () => {
    expect(cpuToNanoCpus('500m')).to.equal(500_000_000);
    expect(cpuToNanoCpus('0.1')).to.equal(100_000_000);
    expect(cpuToNanoCpus('2')).to.equal(2_000_000_000);
    expect(memoryToBytes('512Mi')).to.equal(536_870_912);
    expect(memoryToBytes('2Gi')).to.equal(2_147_483_648);
    // Fractional bytes round up, as Kubernetes does.
    expect(memoryToBytes('0.5')).to.equal(1);
    expect(memoryToBytes('500m')).to.equal(1);
  });

  it('rejects malformed, negative and zero quantities naming the field', () => {
    expect(() => parseQuantity('12 Gi', 'resources.memory')).to.throw(
      QuantityError,
      'resources.memory: invalid quantity "12 Gi": expected a number with an optional suffix (m, k, M, G, Ki, Mi, Gi, ...) or exponent',
    );
    expect(() => parseQuantity('1GB', 'resources.memory')).to.throw(
      QuantityError,
      'resources.memory: invalid quantity "1GB"',
    );
    expect(() => parseQuantity('-1', 'resources.cpu')).to.throw(
      QuantityError,
      'resources.cpu: invalid quantity "-1": must not be negative',
    );
    expect(() => cpuToNanoCpus('0')).to.throw(
      QuantityError,
      'resources.cpu: invalid quantity "0": must be greater than zero',
    );
    expect(() => memoryToBytes('')).to.throw(QuantityError, 'resources.memory: invalid quantity ""');
  });
});

describe('docker executor: names and labels', () => {
  const id = { dagId: 'dag', runId: 'manual__2024-01-01T00:00:00+00:00', taskId: 'train', mapIndex: -1, tryNumber: 2 };

  it('is deterministic, sanitised and distinct per identity', () => {
    const name = containerName(id);
    expect(name).to.equal(containerName({ ...id }));
    expect(name).to.match(/^updraft-dag-train-t2-manual__2024-01-01T00_00_00_00_00-[0-9a-f]{12}$/);
    expect(containerName({ ...id, tryNumber: 3 })).to.not.equal(name);
    expect(containerName({ ...id, mapIndex: 0 })).to.match(/^updraft-dag-train-m0-t2-/);
    // Ids that sanitise to the same text still get different names (the hash is of the raw ids).
    expect(containerName({ ...id, taskId: 'a:b' })).to.not.equal(containerName({ ...id, taskId: 'a/b' }));
  });

  it('stays within 128 characters of [a-zA-Z0-9_.-]', () => {
    const long = {
      dagId: 'd'.repeat(200),
      runId: 'r'.repeat(250),
      taskId: 'group.t'.repeat(40),
      mapIndex: 12345,
      tryNumber: 17,
    };
    for (const variant of [long, { ...long, dagId: 'short' }, { ...long, runId: 'x' }, { ...long, taskId: 'é' }]) {
      const name = containerName(variant);
      expect(name.length, name).to.be.at.most(MAX_CONTAINER_NAME_LENGTH);
      expect(name).to.match(/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/);
      expect(name).to.match(/-m12345-t17-/);
    }
  });

  it('labels the container with its task instance', () => {
    expect(containerLabels({ ...id, mapIndex: 3 })).to.deep.equal({
      'updraft.dag_id': 'dag',
      'updraft.run_id': 'manual__2024-01-01T00:00:00+00:00',
      'updraft.task_id': 'train',
      'updraft.map_index': '3',
      'updraft.try_number': '2',
      'updraft.managed': 'true',
    });
  });
});

describe('docker executor: buildCreateOptions', () => {
  const settings = { ioHostDir: '/var/tmp/io/x' };

  it('maps image, command, args, env, working dir, mounts and network', () => {
    const req = request(
      {
        command: ['python3', '-m'],
        args: ['steps.train', '--epochs', '3'],
        env: { A: '1', UPDRAFT_INPUT: 'user value loses' },
        working_dir: '/work',
        mounts: [
          { source: '/data', target: '/mnt/data', read_only: true },
          { source: '/models', target: '/mnt/models', read_only: false },
        ],
        network_mode: 'host',
      },
      { input: { rows: [1, 2] }, contextEnv: { AIRFLOW_CTX_DAG_ID: 'docker_dag', A: 'context wins' } },
    );
    const options = buildCreateOptions(req, settings);
    expect(options.name).to.equal(containerName(req));
    expect(options.Image).to.equal(TEST_IMAGE);
    expect(options.Entrypoint).to.deep.equal(['python3', '-m']);
    expect(options.Cmd).to.deep.equal(['steps.train', '--epochs', '3']);
    expect(options.WorkingDir).to.equal('/work');
    expect(options.Env).to.deep.equal([
      'A=context wins',
      'UPDRAFT_INPUT={"rows":[1,2]}',
      'AIRFLOW_CTX_DAG_ID=docker_dag',
      'UPDRAFT_INPUT_FILE=/updraft/input.json',
      'UPDRAFT_RETURN_FILE=/updraft/xcom/return.json',
      'UPDRAFT_OUTPUT_DIR=/updraft/xcom',
      'NVIDIA_VISIBLE_DEVICES=void',
    ]);
    expect(options.Labels).to.deep.equal(containerLabels(req));
    expect(options.HostConfig).to.deep.equal({
      Binds: ['/var/tmp/io/x:/updraft', '/data:/mnt/data:ro', '/models:/mnt/models'],
      NetworkMode: 'host',
      AutoRemove: false,
    });
  });

  it("keeps the image's entrypoint and CMD when command and args are unset; network defaults to none", () => {
    const options = buildCreateOptions(request(), settings);
    expect(options).to.not.have.property('Entrypoint');
    expect(options).to.not.have.property('Cmd');
    expect(options).to.not.have.property('WorkingDir');
    expect(options.HostConfig?.NetworkMode).to.equal('none');
    expect(
      buildCreateOptions(request(), { ...settings, defaultNetworkMode: 'bridge' }).HostConfig?.NetworkMode,
    ).to.equal('bridge');
    expect(options.Env).to.include('UPDRAFT_INPUT=null');
  });

  it('passes inputs over 32 KiB through the file only', () => {
    const options = buildCreateOptions(request({}, { input: 'x'.repeat(40_000) }), settings);
    expect((options.Env ?? []).some((e) => e.startsWith('UPDRAFT_INPUT='))).to.equal(false);
    expect(options.Env).to.include('UPDRAFT_INPUT_FILE=/updraft/input.json');
  });

  it('maps cpu and memory to NanoCpus, Memory and MemorySwap', () => {
    const options = buildCreateOptions(request({}, { resources: { cpu: '1500m', memory: '512Mi' } }), settings);
    expect(options.HostConfig).to.include({ NanoCpus: 1_500_000_000, Memory: 536_870_912, MemorySwap: 536_870_912 });
  });

  it('requests exactly the allocated GPUs', () => {
    const options = buildCreateOptions(
      request({}, { resources: { gpu: 2, gpu_type: 'h100' }, gpuDevices: ['1', 'GPU-3f2a'] }),
      settings,
    );
    expect(options.HostConfig?.DeviceRequests).to.deep.equal([
      { Driver: 'nvidia', DeviceIDs: ['1', 'GPU-3f2a'], Capabilities: [['gpu']] },
    ]);
    expect(options.Env).to.include('NVIDIA_VISIBLE_DEVICES=1,GPU-3f2a');
    expect(buildCreateOptions(request(), settings).HostConfig).to.not.have.property('DeviceRequests');
  });

  it('rejects specs Docker cannot run, naming the field', () => {
    const cases: Array<[TestRequest, string]> = [
      [
        request({ mounts: [{ source: 'pvc:data', target: '/data', read_only: false }] }),
        'tasks.step.container.mounts[0].source: "pvc:data" is a Kubernetes PVC; the docker runtime mounts host paths only',
      ],
      [
        request({ mounts: [{ source: 'data', target: '/data', read_only: false }] }),
        'tasks.step.container.mounts[0].source: expected an absolute host path, got "data"',
      ],
      [
        request({ mounts: [{ source: '/data', target: 'data', read_only: false }] }),
        'tasks.step.container.mounts[0].target: expected an absolute container path, got "data"',
      ],
      [
        request({ mounts: [{ source: '/data', target: '/updraft/xcom', read_only: false }] }),
        "tasks.step.container.mounts[0].target: /updraft is reserved for the task's input and XCom",
      ],
      [request({ image: ' ' }), 'tasks.step.container.image: must not be empty'],
      [
        request({}, { resources: { memory: '4Mi' } }),
        `tasks.step.resources.memory: "4Mi" is below Docker's minimum of 6Mi`,
      ],
      [
        request({}, { resources: { gpu: 1 }, gpuDevices: [] }),
        'tasks.step.resources.gpu: the task asks for 1 GPU(s) but the worker allocated 0 (none); GPU tasks must run on a GPU worker queue that allocates devices',
      ],
    ];
    for (const [req, message] of cases) {
      expect(() => buildCreateOptions(req, settings)).to.throw(DockerSpecError, message);
    }
    expect(MIN_MEMORY_BYTES).to.equal(6 * 1024 * 1024);
    expect(() => buildCreateOptions(request({}, { resources: { cpu: 'lots' } }), settings)).to.throw(
      QuantityError,
      'tasks.step.resources.cpu: invalid quantity "lots"',
    );
    const notContainer = request();
    notContainer.spec = { ...notContainer.spec, kind: 'process' };
    expect(() => buildCreateOptions(notContainer, settings)).to.throw(
      DockerSpecError,
      'tasks.step.container: the docker executor runs container tasks only, got kind "process"',
    );
  });
});

describe('docker executor: log stream decoding', () => {
  function frame(kind: number, text: string): Buffer {
    const payload = Buffer.from(text, 'utf8');
    const header = Buffer.alloc(8);
    header[0] = kind;
    header.writeUInt32BE(payload.length, 4);
    return Buffer.concat([header, payload]);
  }

  it('demultiplexes stdout and stderr, strips timestamps and splits lines across chunks', () => {
    const bytes = Buffer.concat([
      frame(1, '2024-05-01T10:00:00.000000001Z hello\n'),
      frame(2, '2024-05-01T10:00:00.000000002Z oops\r\n'),
      frame(1, '2024-05-01T10:00:01.000000000Z part one '),
      frame(1, '2024-05-01T10:00:01.000000001Z part two\n'),
      frame(1, '2024-05-01T10:00:02.000000000Z no newline'),
    ]);
    const decoder = new DockerLogDecoder();
    const lines = [];
    // Feed byte by byte: frame headers and UTF-8 must survive any chunking.
    for (let i = 0; i < bytes.length; i += 7) lines.push(...decoder.push(bytes.subarray(i, i + 7)));
    lines.push(...decoder.end());
    expect(lines).to.deep.equal([
      { stream: 'stdout', line: 'hello', timestamp: '2024-05-01T10:00:00.000000001Z' },
      { stream: 'stderr', line: 'oops', timestamp: '2024-05-01T10:00:00.000000002Z' },
      { stream: 'stdout', line: 'part one part two', timestamp: '2024-05-01T10:00:01.000000000Z' },
      { stream: 'stdout', line: 'no newline', timestamp: '2024-05-01T10:00:02.000000000Z' },
    ]);
  });

  it('orders timestamps to the nanosecond and formats `since`', () => {
    expect(compareTimestamps('2024-05-01T10:00:00.000000001Z', '2024-05-01T10:00:00.000000002Z')).to.be.below(0);
    expect(compareTimestamps('2024-05-01T10:00:01Z', '2024-05-01T10:00:00.999999999Z')).to.be.above(0);
    expect(compareTimestamps('2024-05-01T10:00:00.5Z', '2024-05-01T10:00:00.500000000Z')).to.equal(0);
    expect(timestampToSince('2024-05-01T10:00:00.000000042Z')).to.equal('1714557600.000000042');
  });
});

// ---------------------------------------------------------------------------------------------
// Against the real daemon
// ---------------------------------------------------------------------------------------------

describe('docker executor against a real Docker daemon', function () {
  this.timeout(120_000);
  let docker: Dockerode;
  let ioRoot: string;
  const started = Math.floor(Date.now() / 1000);

  before(async () => {
    if (!process.env['DOCKER_HOST']) {
      throw new Error('DOCKER_HOST is not set: run `eval "$(scripts/services/dockerd.sh start)"` first');
    }
    docker = new Dockerode();
    try {
      await docker.ping();
    } catch (err) {
      throw new Error(
        `no Docker daemon at DOCKER_HOST=${process.env['DOCKER_HOST']} (${String(err)}): run \`eval "$(scripts/services/dockerd.sh start)"\``,
      );
    }
    try {
      await docker.getImage(TEST_IMAGE).inspect();
    } catch {
      throw new Error(`the test image ${TEST_IMAGE} is missing: run scripts/services/dockerd.sh start (it builds it)`);
    }
    ioRoot = mkdtempSync(join(tmpdir(), 'updraft-docker-test-'));
  });

  after(() => {
    if (ioRoot) rmSync(ioRoot, { recursive: true, force: true });
  });

  function executor(opts: DockerExecutorOptions = {}) {
    return createDockerExecutor({ ioRoot, stopGraceSeconds: 1, heartbeatIntervalMs: 200, ...opts });
  }

  async function containersOf(runId: string): Promise<Dockerode.ContainerInfo[]> {
    return docker.listContainers({ all: true, filters: { label: [`updraft.run_id=${runId}`] } });
  }

  /** Container create events for a run since the suite started, as the daemon recorded them. */
  async function createEventsOf(runId: string): Promise<number> {
    const stream = await docker.getEvents({
      since: started,
      until: Math.ceil(Date.now() / 1000) + 1,
      filters: { type: ['container'], event: ['create'], label: [`updraft.run_id=${runId}`] } as never,
    });
    let text = '';
    for await (const chunk of stream as AsyncIterable<Buffer>) text += chunk.toString('utf8');
    return text.split('\n').filter((l) => l.trim() !== '').length;
  }

  it('runs a container, streams its logs and removes it', async () => {
    const req = request(sh('echo hello from busybox; echo to stderr >&2; echo "ctx=$AIRFLOW_CTX_TASK_ID"; pwd'), {
      contextEnv: { AIRFLOW_CTX_TASK_ID: 'step' },
    });
    const result = await executor().execute(req);
    expect(result.exitCode).to.equal(0);
    expect(result.returnValue).to.equal(undefined);
    expect(req.log.of('stdout')).to.deep.equal(['hello from busybox', 'ctx=step', '/']);
    expect(req.log.of('stderr')).to.deep.equal(['to stderr']);
    const name = containerName(req);
    expect(result.handle).to.deep.include({ executor: 'docker', name });
    expect(req.heartbeats[0]).to.deep.equal({ executor: 'docker', id: result.handle?.id, name });
    expect(await containersOf(req.runId)).to.deep.equal([]);
    expect(
      readdirSync(ioRoot).filter((d) => d.startsWith(name)),
      'the per-try /updraft directory is removed',
    ).to.deep.equal([]);
  });

  it('passes the input in and reads the XCom return value out', async () => {
    const script =
      'test "$UPDRAFT_INPUT" = "$(cat $UPDRAFT_INPUT_FILE)" || exit 3; ' +
      'printf \'{"got": %s, "ok": true}\' "$(cat /updraft/input.json)" > "$UPDRAFT_RETURN_FILE"';
    const req = request(sh(script), { input: { rows: [1, 2, 3], name: 'x y' } });
    const result = await executor().execute(req);
    expect(result.returnValue).to.deep.equal({ got: { rows: [1, 2, 3], name: 'x y' }, ok: true });
  });

  it('reports invalid JSON in return.json by size and reason, never quoting it', async () => {
    const req = request(sh('echo "{not json" > /updraft/xcom/return.json'));
    const err = await expectFailure(executor().execute(req));
    expect(err.kind).to.equal('error');
    expect(err.message).to.equal(
      "/updraft/xcom/return.json is not valid JSON (10 bytes): expected a property name or '}' at position 1",
    );
  });

  it('fails on a non-zero exit with the code and the last lines', async () => {
    // The pause keeps the two streams in order: the daemon reads stdout and stderr independently.
    const req = request(sh('echo first; sleep 0.2; echo "something broke" >&2; exit 3'));
    const err = await expectFailure(executor().execute(req));
    expect(err.kind).to.equal('exit');
    expect(err.exitCode).to.equal(3);
    expect(err.lastLines).to.deep.equal(['first', 'something broke']);
    expect(err.message).to.equal(
      `container ${containerName(req)} (image ${TEST_IMAGE}) exited with code 3; last lines:\nfirst\nsomething broke`,
    );
    expect(await containersOf(req.runId)).to.deep.equal([]);
  });

  it('maps exit codes 99 and 98 to skip and fail', async () => {
    const skip = await expectFailure(executor().execute(request(sh('exit 99'))));
    expect([skip.kind, skip.exitCode]).to.deep.equal(['skip', 99]);
    const fail = await expectFailure(executor().execute(request(sh('exit 98'))));
    expect([fail.kind, fail.exitCode]).to.deep.equal(['fail', 98]);
  });

  it('fails clearly when the image is not present and pull_policy is never', async () => {
    const req = request({ image: 'updraft/not-built-here:1' });
    const err = await expectFailure(executor().execute(req));
    expect(err.kind).to.equal('error');
    expect(err.message).to.equal(
      'image "updraft/not-built-here:1" is not present on the Docker daemon and pull_policy is "never": ' +
        'build or load it locally (deploy/images/build.sh, or docker load -i <tarball>), or set pull_policy to "if_not_present"',
    );
    expect(await containersOf(req.runId)).to.deep.equal([]);
  });

  it('kills the container on timeout (SIGTERM first) and removes it', async () => {
    const req = request(sh("trap 'echo got TERM; exit 0' TERM; echo started; while true; do sleep 0.1; done"), {
      timeoutMs: 1500,
    });
    const t0 = Date.now();
    const err = await expectFailure(executor({ stopGraceSeconds: 5 }).execute(req));
    expect(err.kind).to.equal('timeout');
    expect(err.message).to.equal(`container ${containerName(req)} timed out after 1.5s and was stopped`);
    expect(req.log.of('stdout')).to.deep.equal(['started', 'got TERM']);
    expect(Date.now() - t0).to.be.below(10_000);
    expect(await containersOf(req.runId)).to.deep.equal([]);
  });

  it('kills a container that ignores SIGTERM after the grace period', async () => {
    // PID 1 ignores signals it has no handler for, so only the SIGKILL after the grace ends it.
    const req = request(sh('echo started; while true; do sleep 0.1; done'), { timeoutMs: 1000 });
    const t0 = Date.now();
    const err = await expectFailure(executor({ stopGraceSeconds: 1 }).execute(req));
    expect(err.kind).to.equal('timeout');
    expect(Date.now() - t0)
      .to.be.at.least(2000)
      .and.below(10_000);
    expect(await containersOf(req.runId)).to.deep.equal([]);
  });

  it('stops and removes the container on cancellation', async () => {
    const controller = new AbortController();
    const req = request(sh('echo started; while true; do sleep 0.1; done'), { signal: controller.signal });
    const running = executor().execute(req);
    await req.log.waitFor('started');
    expect(await containersOf(req.runId)).to.have.length(1);
    controller.abort();
    const err = await expectFailure(running);
    expect(err.kind).to.equal('cancelled');
    expect(err.message).to.equal(`container ${containerName(req)} was cancelled and stopped`);
    expect(await containersOf(req.runId)).to.deep.equal([]);
  });

  it('sets cpu and memory limits on the container', async () => {
    const req = request(sh('echo ok'), { resources: { cpu: '500m', memory: '64Mi' } });
    let inspected: Promise<Dockerode.ContainerInspectInfo> | undefined;
    const heartbeat = req.heartbeat;
    req.heartbeat = (handle) => {
      inspected ??= docker.getContainer(handle.id).inspect();
      heartbeat(handle);
    };
    await executor().execute(req);
    const info = await inspected;
    expect(info?.HostConfig.NanoCpus).to.equal(500_000_000);
    expect(info?.HostConfig.Memory).to.equal(64 * 1024 * 1024);
    expect(info?.HostConfig.MemorySwap).to.equal(64 * 1024 * 1024);
    expect(info?.HostConfig.NetworkMode).to.equal('none');
    expect(info?.Config.Labels).to.deep.equal(containerLabels(req));
  });

  it('reports an OOM kill with the memory limit', async () => {
    const req = request(sh('echo filling; x=0123456789; while true; do x="$x$x"; done'), {
      resources: { memory: '16Mi' },
    });
    const err = await expectFailure(executor().execute(req));
    expect(err.kind).to.equal('oom');
    expect(err.exitCode).to.equal(137);
    expect(err.message).to.equal(
      `container ${containerName(req)} was OOM-killed (exit code 137): it exceeded its memory limit of 16Mi (resources.memory)`,
    );
    expect(await containersOf(req.runId)).to.deep.equal([]);
  });

  it('requests the allocated GPUs and reports clearly that this daemon cannot provide them', async () => {
    const req = request(sh('echo never runs'), { resources: { gpu: 2, gpu_type: 'h100' }, gpuDevices: ['1', '3'] });
    let inspected: Promise<Dockerode.ContainerInspectInfo> | undefined;
    const heartbeat = req.heartbeat;
    req.heartbeat = (handle) => {
      inspected ??= docker.getContainer(handle.id).inspect();
      heartbeat(handle);
    };
    const err = await expectFailure(executor().execute(req));
    const info = await inspected;
    expect(info?.HostConfig.DeviceRequests).to.have.length(1);
    expect(info?.HostConfig.DeviceRequests?.[0]).to.deep.include({
      Driver: 'nvidia',
      DeviceIDs: ['1', '3'],
      Capabilities: [['gpu']],
    });
    expect(info?.Config.Env).to.include('NVIDIA_VISIBLE_DEVICES=1,3');
    expect(err.kind).to.equal('error');
    expect(err.message).to.equal(
      `container ${containerName(req)} (image ${TEST_IMAGE}) could not start: could not select device driver "nvidia" with capabilities: [[gpu]]` +
        ' (resources.gpu=2, devices 1,3: the daemon cannot give containers GPUs; install and configure the NVIDIA Container Toolkit for this Docker daemon)',
    );
    expect(await containersOf(req.runId)).to.deep.equal([]);
  });

  describe('after a worker crash', () => {
    interface ChildEvent {
      type: 'log' | 'heartbeat';
      line?: string;
      handle?: ExecutorHandle;
    }

    /**
     * Runs execute() in a separate Node process (the "worker") that prints its log lines and
     * heartbeats; `killWhen` decides, event by event, when to SIGKILL it. Nothing is cancelled: the
     * worker simply dies, as in a crash.
     */
    function crashingWorker(req: TestRequest, killWhen: (events: ChildEvent[]) => boolean): Promise<ChildEvent[]> {
      const payload = JSON.stringify({
        dagId: req.dagId,
        runId: req.runId,
        taskId: req.taskId,
        mapIndex: req.mapIndex,
        tryNumber: req.tryNumber,
        spec: req.spec,
        input: req.input,
        contextEnv: req.contextEnv,
        ioRoot,
      });
      const code = `
        const { createDockerExecutor } = require(${JSON.stringify(DOCKER_JS)});
        const r = JSON.parse(process.env.REQUEST);
        const out = (e) => process.stdout.write(JSON.stringify(e) + '\\n');
        const lines = [];
        createDockerExecutor({ ioRoot: r.ioRoot, heartbeatIntervalMs: 100, stopGraceSeconds: 1 }).execute({
          ...r, timeoutMs: null, signal: new AbortController().signal, previousHandle: undefined, gpuDevices: [],
          heartbeat: (handle) => out({ type: 'heartbeat', handle }),
          log: { write: (stream, line) => { lines.push(line); out({ type: 'log', line }); }, tail: (n) => lines.slice(-n) },
        }).then(() => out({ type: 'finished' }), (err) => out({ type: 'failed', line: String(err) }));
      `;
      return new Promise((resolvePromise, reject) => {
        const child = spawn(process.execPath, ['-e', code], {
          env: { ...process.env, REQUEST: payload },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        const events: ChildEvent[] = [];
        let buffered = '';
        let killed = false;
        child.stdout.on('data', (chunk: Buffer) => {
          buffered += chunk.toString('utf8');
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const event = JSON.parse(buffered.slice(0, nl)) as ChildEvent & { type: string };
            buffered = buffered.slice(nl + 1);
            if (killed) continue;
            if (event.type !== 'log' && event.type !== 'heartbeat') {
              reject(new Error(`the worker ended before it was killed: ${JSON.stringify(event)}`));
              return;
            }
            events.push(event);
            if (killWhen(events)) {
              killed = true;
              child.kill('SIGKILL');
            }
          }
        });
        child.on('exit', (_code, signal) => {
          if (signal === 'SIGKILL') resolvePromise(events);
          else reject(new Error(`the worker exited by itself (signal ${String(signal)})`));
        });
      });
    }

    const STEP =
      'for i in 1 2 3 4 5 6 7 8; do echo "line $i"; sleep 0.4; done; printf \'{"lines": 8}\' > /updraft/xcom/return.json';
    const ALL_LINES = ['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6', 'line 7', 'line 8'];

    it('re-attaches to the running container, resumes its log and never creates a second one', async () => {
      const req = request(sh(STEP));
      const events = await crashingWorker(req, (evs) => {
        const last = evs[evs.length - 1];
        return (
          last?.type === 'heartbeat' &&
          typeof last.handle?.['logsUntil'] === 'string' &&
          evs.filter((e) => e.type === 'log').length >= 3
        );
      });
      const lastHeartbeatAt = events.map((e) => e.type).lastIndexOf('heartbeat');
      const lastHeartbeat = events[lastHeartbeatAt]?.handle;
      // Lines the crashed worker logged before its last heartbeat are covered by that heartbeat.
      const covered = events
        .slice(0, lastHeartbeatAt)
        .filter((e) => e.type === 'log')
        .map((e) => e.line);
      expect(covered.length).to.be.at.least(3);
      const before = await containersOf(req.runId);
      expect(before, 'the container outlives the crashed worker').to.have.length(1);
      expect(before[0]?.State).to.equal('running');

      const retry = request(sh(STEP), { runId: req.runId, previousHandle: lastHeartbeat });
      const result = await executor().execute(retry);

      expect(result.returnValue).to.deep.equal({ lines: 8 });
      expect(result.handle?.id).to.equal(lastHeartbeat?.id);
      expect(retry.log.of('system')[0]).to.match(
        /^attaching to existing container updraft-docker_dag-step-t1-.* \([0-9a-f]{12}, running\)$/,
      );
      expect(retry.log.of('stdout')).to.deep.equal(ALL_LINES.slice(covered.length));
      expect(await createEventsOf(req.runId)).to.equal(1);
      expect(await containersOf(req.runId)).to.deep.equal([]);
    });

    it('collects the result of a container that finished while no worker was watching', async () => {
      const req = request(sh(STEP));
      // Dies at its second heartbeat (the first periodic one), so the container has been started.
      const events = await crashingWorker(req, (evs) => evs.filter((e) => e.type === 'heartbeat').length >= 2);
      const id = events.find((e) => e.type === 'heartbeat')?.handle?.id as string;
      await docker.getContainer(id).wait();

      // The try's time limit is long past, but the work finished: its result is collected, not
      // turned into a timeout.
      const retry = request(sh(STEP), { runId: req.runId, timeoutMs: 1000 });
      const result = await executor().execute(retry);
      expect(result.returnValue).to.deep.equal({ lines: 8 });
      expect(result.exitCode).to.equal(0);
      expect(retry.log.of('system')[0]).to.match(/\(([0-9a-f]{12}), exited\)$/);
      // No heartbeat carried a log position, so the whole log is replayed.
      expect(retry.log.of('stdout')).to.deep.equal(ALL_LINES);
      expect(await createEventsOf(req.runId)).to.equal(1);
      expect(await containersOf(req.runId)).to.deep.equal([]);
      expect(readdirSync(ioRoot).filter((d) => d.startsWith(containerName(req)))).to.deep.equal([]);
    });

    it("counts a re-attached container's timeout from when it started", async () => {
      const forever = sh('echo started; while true; do sleep 0.1; done');
      const req = request(forever);
      await crashingWorker(req, (evs) => evs.filter((e) => e.type === 'heartbeat').length >= 2);
      await new Promise((r) => setTimeout(r, 2000));
      const retry = request(forever, { runId: req.runId, timeoutMs: 2500 });
      const t0 = Date.now();
      const err = await expectFailure(executor({ stopGraceSeconds: 1 }).execute(retry));
      expect(err.kind).to.equal('timeout');
      // ~0.3 s left of the 2.5 s, plus the 1 s grace; a clock restarted at attach would need 3.5 s.
      expect(Date.now() - t0).to.be.below(2500);
      expect(await createEventsOf(req.runId)).to.equal(1);
      expect(await containersOf(req.runId)).to.deep.equal([]);
    });
  });
});
