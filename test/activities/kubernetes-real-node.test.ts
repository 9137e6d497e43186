/// <reference types="mocha" />
/**
 * The Kubernetes executor on the test cluster's REAL node (scripts/services/k8s.sh): a kubelet that
 * runs pods as containers on the Docker engine through cri-dockerd. Nothing here is scripted by
 * annotations: the log lines, exit codes and XCom come from a shell in the busybox test image, and
 * the test looks at the container in the engine itself.
 */
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import Dockerode from 'dockerode';
import type { V1Pod } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import {
  createKubernetesExecutor,
  jobNameFor,
  type KubernetesExecutorOptions,
} from '../../activities/executors/kubernetes.js';
import { makeKubernetesClients, type KubernetesClients } from '../../activities/executors/kubernetes-client.js';
import type { ExecutionRequest } from '../../activities/executors/types.js';
import type { MountSpec, TaskSpec } from '../../spec/dag-spec.js';
import {
  expectFailure,
  jobGone as jobGoneIn,
  podsOf as podsIn,
  testRequest,
  waitFor,
  type TestRequest,
} from '../helpers/kubernetes.js';
import { tempDir } from '../helpers/servers.js';
import { baseTaskSpec } from '../helpers/task-spec.js';

const REAL_NODE_LABEL = 'updraft.dev/real-node';
const IMAGE = 'updraft/test-busybox:latest';
const TEST_DAG = 'k8s_real_node_test';

/** A busybox shell script as a container task that may only run on the real node. */
function shellTask(script: string, mounts: MountSpec[] = []): TaskSpec {
  return baseTaskSpec({
    task_id: 'shell',
    kind: 'container',
    operator: 'ContainerOperator',
    container: {
      image: IMAGE,
      command: ['/bin/sh', '-c', script],
      args: [],
      env: { GREETING: 'hello' },
      working_dir: null,
      mounts,
      runtime: 'kubernetes',
      // The image exists only in the node's Docker engine; no CNI on the node, so host networking.
      pull_policy: 'never',
      network_mode: 'host',
      kubernetes: {
        namespace: null,
        service_account: null,
        image_pull_secrets: [],
        node_selector: { [REAL_NODE_LABEL]: 'true' },
        tolerations: [{ key: REAL_NODE_LABEL, operator: 'Equal', value: 'true', effect: 'NoSchedule' }],
        pending_timeout: null,
      },
    },
  });
}

function request(spec: TaskSpec, overrides: Partial<Omit<ExecutionRequest, 'log' | 'heartbeat'>> = {}): TestRequest {
  return testRequest(TEST_DAG, spec, overrides);
}

describe('kubernetes executor on the real node (scripts/services/k8s.sh, kubelet + cri-dockerd)', function () {
  this.timeout(120_000);
  let clients: KubernetesClients;
  let namespace: string;
  let nodeName: string;
  const docker = new Dockerode();

  before(async function () {
    const kubeconfig = process.env['KUBECONFIG'];
    const ns = process.env['UPDRAFT_TEST_K8S_NAMESPACE'];
    const node = process.env['UPDRAFT_TEST_K8S_REAL_NODE'];
    if (!kubeconfig || !ns) {
      throw new Error(
        'KUBECONFIG and UPDRAFT_TEST_K8S_NAMESPACE are not set: run `eval "$(scripts/services/k8s.sh start)"` first',
      );
    }
    if (!node) {
      const why = process.env['UPDRAFT_TEST_K8S_REAL_NODE_MISSING'] ?? 'UPDRAFT_TEST_K8S_REAL_NODE is not set';
      throw new Error(
        `the test cluster has no real node (${why}): start it with \`eval "$(scripts/services/k8s.sh start)"\` and a running dockerd`,
      );
    }
    if (!process.env['DOCKER_HOST'])
      throw new Error('DOCKER_HOST is not set: run `eval "$(scripts/services/dockerd.sh start)"` first');
    namespace = ns;
    nodeName = node;
    clients = makeKubernetesClients({ kubeconfigPath: kubeconfig });
    const n = await clients.core.readNode({ name: nodeName });
    expect(n.metadata?.labels?.[REAL_NODE_LABEL]).to.equal('true');
    expect(n.status?.nodeInfo?.containerRuntimeVersion).to.match(/^docker:\/\//);
  });

  afterEach(async () => {
    await clients.batch.deleteCollectionNamespacedJob({
      namespace,
      labelSelector: `updraft.dev/dag-id=${TEST_DAG}`,
      propagationPolicy: 'Background',
    });
    await waitFor(
      'test pods to be gone',
      async () => (await podsOf(`updraft.dev/dag-id=${TEST_DAG}`)).length === 0,
      60_000,
    );
  });

  function executor(extra: Partial<KubernetesExecutorOptions> = {}) {
    return createKubernetesExecutor({
      kubeconfigPath: process.env['KUBECONFIG'],
      namespace,
      pendingTimeoutMs: 60_000,
      pollIntervalMs: 200,
      deleteGraceSeconds: 1,
      ...extra,
    });
  }

  const podsOf = (labelSelector: string): Promise<V1Pod[]> => podsIn(clients, namespace, labelSelector);
  const jobGone = (name: string): Promise<boolean> => jobGoneIn(clients, namespace, name);

  /** The Docker container id of the pod's task container (the kubelet reports docker://<id>). */
  function containerIdOf(pod: V1Pod | undefined): string {
    const id = pod?.status?.containerStatuses?.find((s) => s.name === 'task')?.containerID ?? '';
    expect(id).to.match(/^docker:\/\/[0-9a-f]{64}$/);
    return id.slice('docker://'.length);
  }

  it('runs the container on the node: streamed log lines, exit code 0 and the XCom from the termination message', async () => {
    // The sleep between the lines makes streaming observable: the first line must reach the task
    // log while the container is still running. The service account token is a tmpfs the kubelet
    // mounts in its own mount namespace; reading it shows the mount reached the engine.
    const script = [
      'echo "$GREETING from $(hostname) as uid $(id -u)"',
      'echo "6*7=$((6 * 7))"',
      'echo "namespace $(cat /var/run/secrets/kubernetes.io/serviceaccount/namespace)"',
      'sleep 3',
      'echo "to stderr" >&2',
      'printf \'{"input": %s, "answer": %d}\' "$UPDRAFT_INPUT" $((6 * 7)) > /updraft/xcom/return.json',
      'echo done',
    ].join('\n');
    const req = request(shellTask(script));
    const name = jobNameFor(req);
    const result = await executor().execute(req);

    expect(result.exitCode).to.equal(0);
    expect(result.returnValue).to.deep.equal({ input: { rows: [1, 2] }, answer: 42 });
    const out = req.log.of('stdout');
    expect(out).to.have.length(5);
    expect(out[0]).to.match(/^hello from \S+ as uid 0$/);
    // stdout in order; the stderr line is merged in, but Docker copies the two streams separately,
    // so it may swap with 'done', written right after it.
    expect(out.slice(1).filter((l) => l !== 'to stderr')).to.deep.equal(['6*7=42', `namespace ${namespace}`, 'done']);
    expect(out).to.include('to stderr');
    const first = req.log.lines.find((l) => l.stream === 'stdout');
    const last = req.log.lines.filter((l) => l.stream === 'stdout').at(-1);
    expect(last!.at - first!.at, 'the first line arrived only with the last: the log was not streamed').to.be.at.least(
      1500,
    );

    // It ran on the real node, as a container of the Docker engine that exited 0.
    const pods = await podsOf(`batch.kubernetes.io/job-name=${name}`);
    expect(pods).to.have.length(1);
    expect(pods[0]?.spec?.nodeName).to.equal(nodeName);
    expect(pods[0]?.spec?.hostNetwork).to.equal(true);
    expect(pods[0]?.status?.phase).to.equal('Succeeded');
    const container = await docker.getContainer(containerIdOf(pods[0])).inspect();
    expect(container.Image).to.equal((await docker.getImage(IMAGE).inspect()).Id); // cri-dockerd creates it by image id
    expect(container.State.Running).to.equal(false);
    expect(container.State.ExitCode).to.equal(0);
    expect(container.HostConfig.NetworkMode).to.match(/^container:[0-9a-f]{64}$/); // the pod sandbox's (host) network
    expect(container.Config.Env).to.include('UPDRAFT_INPUT={"rows":[1,2]}');
  });

  it('mounts a host directory: what the container writes there is on the machine, read-only mounts refuse writes', async () => {
    // Host paths are how steps on this node hand files (artifacts) to the worker: the node is this
    // machine, and the Docker engine bind-mounts the path from the machine's own mount namespace.
    const dir = tempDir('k8s-real-node-mount');
    try {
      fs.writeFileSync(path.join(dir, 'in.txt'), 'from the host\n');
      fs.mkdirSync(path.join(dir, 'out'));
      const req = request(
        shellTask(
          'cat /in/in.txt; echo "from the pod" > /out/result.txt; if touch /in/nope 2>/dev/null; then echo writable; else echo read-only; fi',
          [
            { source: dir, target: '/in', read_only: true },
            { source: path.join(dir, 'out'), target: '/out', read_only: false },
          ],
        ),
      );
      const result = await executor().execute(req);
      expect(result.exitCode).to.equal(0);
      expect(req.log.of('stdout')).to.deep.equal(['from the host', 'read-only']);
      expect(fs.readFileSync(path.join(dir, 'out', 'result.txt'), 'utf8')).to.equal('from the pod\n');
      expect(fs.existsSync(path.join(dir, 'nope'))).to.equal(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with the container exit code and its last log lines', async () => {
    const req = request(shellTask('echo "about to fail"; echo "on stderr" >&2; exit 3'));
    const err = await expectFailure(executor().execute(req));
    expect(err.kind).to.equal('exit');
    expect(err.exitCode).to.equal(3);
    expect(err.message).to.equal(
      `Kubernetes Job ${namespace}/${jobNameFor(req)} failed: container exited with code 3 (Error)`,
    );
    // Docker copies stdout and stderr separately: lines written at the same moment may swap.
    expect(req.log.of('stdout')).to.have.members(['about to fail', 'on stderr']);
    expect(err.lastLines).to.include('about to fail');
  });

  it('maps exit code 99 to "skip"', async () => {
    const req = request(shellTask('exit 99'));
    const err = await expectFailure(executor().execute(req));
    expect(err.kind).to.equal('skip');
    expect(err.exitCode).to.equal(99);
  });

  it('on cancellation deletes the Job, and the kubelet stops and removes the container', async () => {
    const controller = new AbortController();
    const req = request(shellTask('echo started; while true; do sleep 1; done'), { signal: controller.signal });
    const name = jobNameFor(req);
    const running = executor().execute(req);
    running.catch(() => undefined);
    await waitFor(
      'the container to log "started"',
      () => Promise.resolve(req.log.of('stdout').includes('started')),
      60_000,
    );
    const pods = await podsOf(`batch.kubernetes.io/job-name=${name}`);
    const id = containerIdOf(pods[0]);
    expect((await docker.getContainer(id).inspect()).State.Running).to.equal(true);

    controller.abort();
    const err = await expectFailure(running);
    expect(err.kind).to.equal('cancelled');
    expect(err.message).to.equal(`Kubernetes Job ${namespace}/${name} cancelled; deleted it`);
    await waitFor('the Job to be deleted', () => jobGone(name), 30_000);
    // The pod object goes only after the kubelet has stopped its containers.
    await waitFor(
      'the pod to be deleted',
      async () => (await podsOf(`batch.kubernetes.io/job-name=${name}`)).length === 0,
      60_000,
    );
    await waitFor(
      'the container to stop',
      async () => {
        try {
          return !(await docker.getContainer(id).inspect()).State.Running;
        } catch (e) {
          if ((e as { statusCode?: number }).statusCode === 404) return true; // already removed
          throw e;
        }
      },
      10_000,
    );
  });
});
