/// <reference types="mocha" />
/**
 * The Kubernetes executor. Unit tests of the Job manifest and the log de-duplication, then tests
 * against a REAL control plane (kube-apiserver, Job controller, garbage collector, kube-scheduler)
 * with kwok-faked nodes, started by `scripts/services/k8s.sh start`. Pod outcomes are chosen per
 * test through pod annotations that the cluster's kwok Stages read (deploy/k8s-testenv/kwok-stages.yaml).
 */
import { expect } from 'chai';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore } from '../../artifacts/index.js';
import { StepIO } from '../../activities/step-outputs/step-io.js';
import type { V1Pod } from '@kubernetes/client-node' with { 'resolution-mode': 'import' };
import {
  buildJobManifest,
  createKubernetesExecutor,
  jobNameFor,
  labelValue,
  storeSecretFor,
  XCOM_RETURN_PATH,
  type JobManifestOptions,
  type KubernetesExecutorOptions,
} from '../../activities/executors/kubernetes.js';
import { makeKubernetesClients, type KubernetesClients } from '../../activities/executors/kubernetes-client.js';
import { PodLogFollower } from '../../activities/executors/kubernetes-logs.js';
import type { ExecutionRequest } from '../../activities/executors/types.js';
import type { ContainerOperatorSpec, ResourceSpec, TaskSpec } from '../../spec/dag-spec.js';
import {
  expectFailure,
  jobGone as jobGoneIn,
  podsOf as podsIn,
  testRequest,
  waitFor,
  type TestRequest,
} from '../helpers/kubernetes.js';
import { baseTaskSpec } from '../helpers/task-spec.js';

type ContainerOverrides = Partial<Omit<ContainerOperatorSpec, 'kubernetes'>> & {
  kubernetes?: Partial<ContainerOperatorSpec['kubernetes']>;
};

function taskSpec(container: ContainerOverrides = {}, resources: Partial<ResourceSpec> = {}): TaskSpec {
  return baseTaskSpec({
    task_id: 'train',
    kind: 'container',
    operator: 'ContainerOperator',
    resources: { cpu: null, memory: null, gpu: 0, gpu_type: null, ...resources },
    container: {
      image: 'registry.local/updraft/trainer:1',
      command: null,
      args: [],
      env: {},
      working_dir: null,
      mounts: [],
      runtime: 'kubernetes',
      pull_policy: 'if_not_present',
      network_mode: null,
      ...container,
      kubernetes: {
        namespace: null,
        service_account: null,
        image_pull_secrets: [],
        node_selector: {},
        tolerations: [],
        pending_timeout: null,
        ...container.kubernetes,
      },
    },
  });
}

const TEST_DAG = 'k8s_executor_test';

function request(spec: TaskSpec, overrides: Partial<Omit<ExecutionRequest, 'log' | 'heartbeat'>> = {}): TestRequest {
  return testRequest(TEST_DAG, spec, overrides);
}

async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

const MANIFEST_OPTS: JobManifestOptions = {
  namespace: 'batch',
  deleteGraceSeconds: 10,
  ttlSecondsAfterFinished: 3600,
  gpuTypeLabel: 'updraft.dev/gpu-type',
  podAnnotations: {},
};

describe('kubernetes executor: buildJobManifest', () => {
  it('makes a deterministic DNS-1123 name per try that fits 63 characters', () => {
    const base = {
      dagId: 'ML_Pipeline',
      runId: 'manual__2024-01-01T00:00:00+00:00',
      taskId: 'Train.Model',
      mapIndex: -1,
      tryNumber: 1,
    };
    const name = jobNameFor(base);
    expect(name).to.match(/^ml-pipeline-train-model-t1-[0-9a-f]{10}$/);
    expect(jobNameFor({ ...base })).to.equal(name);
    expect(jobNameFor({ ...base, tryNumber: 2 })).to.not.equal(name);
    expect(jobNameFor({ ...base, runId: 'scheduled__2024-01-02' })).to.not.equal(name);
    expect(jobNameFor({ ...base, mapIndex: 3 })).to.match(/^ml-pipeline-train-model-m3-t1-[0-9a-f]{10}$/);

    const long = jobNameFor({ ...base, dagId: 'd'.repeat(80), taskId: 't'.repeat(80) });
    expect(long.length).to.be.at.most(63);
    expect(long).to.match(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    // Two ids that only differ past the truncation point still get different names.
    expect(jobNameFor({ ...base, dagId: 'd'.repeat(80), taskId: `${'t'.repeat(79)}x` })).to.not.equal(long);
    expect(jobNameFor({ ...base, dagId: '___', taskId: '***' })).to.match(/^t1-[0-9a-f]{10}$/);
  });

  it('sanitises label values and keeps the exact ids in annotations', () => {
    expect(labelValue('manual__2024-01-01T00:00:00+00:00')).to.equal('manual__2024-01-01T00_00_00_00_00');
    expect(labelValue('-x-')).to.equal('x');
    expect(labelValue('a'.repeat(70))).to.have.length(63);

    const job = buildJobManifest(
      request(taskSpec(), { runId: 'manual__2024-01-01T00:00:00+00:00', tryNumber: 2 }),
      MANIFEST_OPTS,
    );
    expect(job.metadata?.labels).to.deep.equal({
      'app.kubernetes.io/managed-by': 'updraft',
      'updraft.dev/dag-id': TEST_DAG,
      'updraft.dev/task-id': 'train',
      'updraft.dev/run-id': 'manual__2024-01-01T00_00_00_00_00',
      'updraft.dev/try-number': '2',
      'updraft.dev/map-index': 'none',
    });
    expect(job.metadata?.annotations).to.deep.equal({
      'updraft.dev/dag-id': TEST_DAG,
      'updraft.dev/task-id': 'train',
      'updraft.dev/run-id': 'manual__2024-01-01T00:00:00+00:00',
      'updraft.dev/try-number': '2',
      'updraft.dev/map-index': '-1',
    });
    expect(job.spec?.template.metadata?.labels).to.deep.equal(job.metadata?.labels);
  });

  it('with the step output protocol on, tells the pod where the store is and to write a manifest (never credentials)', () => {
    const io = new StepIO(new LocalArtifactStore('/var/updraft/artifacts'), {
      UPDRAFT_ARTIFACT_STORE: 's3://ml/team',
      AWS_REGION: 'eu-west-1',
      UPDRAFT_S3_ENDPOINT: 'http://s3:9000',
    });
    const env =
      buildJobManifest(request(taskSpec({ env: { UPDRAFT_OUTPUT_MANIFEST: '0' } }), { stepIO: io }), MANIFEST_OPTS).spec
        ?.template.spec?.containers[0]?.env ?? [];
    const byName = Object.fromEntries(env.map((e) => [e.name, e.value]));
    expect(byName).to.include({
      UPDRAFT_ARTIFACT_STORE: 's3://ml/team',
      AWS_REGION: 'eu-west-1',
      UPDRAFT_S3_ENDPOINT: 'http://s3:9000',
      UPDRAFT_OUTPUT_MANIFEST: '1',
    });
    expect(Object.keys(byName).filter((k) => k.startsWith('AWS_') && k !== 'AWS_REGION')).to.deep.equal([]);
    const without = buildJobManifest(request(taskSpec()), MANIFEST_OPTS).spec?.template.spec?.containers[0]?.env ?? [];
    expect(without.map((e) => e.name)).to.not.include('UPDRAFT_OUTPUT_MANIFEST');
  });

  it("with the worker's S3 keys, the pod's env refers to the store Secret by name; no key value is in the Job", () => {
    const keys = {
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret-value-123',
      AWS_SESSION_TOKEN: 'tok-456',
    };
    const io = new StepIO(
      new LocalArtifactStore('/var/updraft/artifacts'),
      { UPDRAFT_ARTIFACT_STORE: 's3://ml/team' },
      keys,
    );
    // The task's own AWS_ACCESS_KEY_ID loses: the step must use the worker's store with its keys.
    const req = request(taskSpec({ env: { AWS_ACCESS_KEY_ID: 'task-own', LR: '0.1' } }), { stepIO: io });
    const job = buildJobManifest(req, MANIFEST_OPTS);
    const secret = storeSecretFor(req, MANIFEST_OPTS.namespace);
    const name = `updraft-artifact-store-${createHash('sha256').update('AKIDEXAMPLE').digest('hex').slice(0, 10)}`;
    expect(secret).to.deep.equal({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name, namespace: MANIFEST_OPTS.namespace, labels: { 'app.kubernetes.io/managed-by': 'updraft' } },
      stringData: keys,
    });
    const env = job.spec?.template.spec?.containers[0]?.env ?? [];
    expect(env.filter((e) => e.name.startsWith('AWS_'))).to.deep.equal(
      Object.keys(keys).map((key) => ({ name: key, valueFrom: { secretKeyRef: { name, key } } })),
    );
    expect(env.map((e) => e.name)).to.deep.equal([...env.map((e) => e.name)].sort());
    const text = JSON.stringify(job);
    for (const value of [...Object.values(keys), 'task-own']) expect(text).to.not.include(value);
    // No keys (a local store, or S3 through the pod's own identity): no Secret, no references.
    const none = request(taskSpec(), { stepIO: new StepIO(new LocalArtifactStore('/x'), {}) });
    expect(storeSecretFor(none, 'ns')).to.equal(null);
    expect(JSON.stringify(buildJobManifest(none, MANIFEST_OPTS))).to.not.include('secretKeyRef');
  });

  it('with a local (file://) store, mounts its folder at the same path read-write; not for an S3 store', () => {
    const local = new StepIO(new LocalArtifactStore('/var/updraft/artifacts'), {
      UPDRAFT_ARTIFACT_STORE: 'file:///var/updraft/artifacts',
    });
    const pod = buildJobManifest(request(taskSpec(), { stepIO: local }), MANIFEST_OPTS).spec?.template.spec;
    expect(pod?.volumes).to.deep.equal([
      { name: 'artifact-store', hostPath: { path: '/var/updraft/artifacts', type: 'DirectoryOrCreate' } },
    ]);
    expect(pod?.containers[0]?.volumeMounts).to.deep.equal([
      { name: 'artifact-store', mountPath: '/var/updraft/artifacts', readOnly: false },
    ]);
    const s3 = new StepIO(new LocalArtifactStore('/var/updraft/artifacts'), { UPDRAFT_ARTIFACT_STORE: 's3://ml/team' });
    expect(buildJobManifest(request(taskSpec(), { stepIO: s3 }), MANIFEST_OPTS).spec?.template.spec?.volumes).to.equal(
      undefined,
    );
    expect(buildJobManifest(request(taskSpec()), MANIFEST_OPTS).spec?.template.spec?.volumes).to.equal(undefined);
  });

  it('maps the container spec, resources, scheduling and pod settings', () => {
    const spec = taskSpec(
      {
        command: ['python', '-m', 'train'],
        args: ['--epochs', '3'],
        env: { LR: '0.1', UPDRAFT_DAG_ID: 'spoofed' },
        working_dir: '/work',
        pull_policy: 'never',
        mounts: [{ source: 'pvc:datasets', target: '/data', read_only: true }],
        kubernetes: {
          namespace: 'ml',
          service_account: 'trainer',
          image_pull_secrets: ['regcred'],
          node_selector: { zone: 'a' },
          tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }],
        },
      },
      { cpu: '2', memory: '4Gi', gpu: 2, gpu_type: 'a100' },
    );
    const job = buildJobManifest(request(spec, { timeoutMs: 60_000 }), {
      ...MANIFEST_OPTS,
      podAnnotations: { 'sidecar.istio.io/inject': 'false' },
    });
    expect(job.metadata?.namespace).to.equal('ml');
    expect(job.spec?.backoffLimit).to.equal(0);
    expect(job.spec?.ttlSecondsAfterFinished).to.equal(3600);
    expect(job.spec?.activeDeadlineSeconds).to.equal(90);
    const pod = job.spec?.template.spec;
    expect(pod?.restartPolicy).to.equal('Never');
    expect(pod?.terminationGracePeriodSeconds).to.equal(10);
    expect(pod?.nodeSelector).to.deep.equal({ zone: 'a', 'updraft.dev/gpu-type': 'a100' });
    expect(pod?.tolerations).to.deep.equal([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(pod?.serviceAccountName).to.equal('trainer');
    expect(pod?.imagePullSecrets).to.deep.equal([{ name: 'regcred' }]);
    expect(pod?.volumes).to.deep.equal([
      { name: 'mount-0', persistentVolumeClaim: { claimName: 'datasets', readOnly: true } },
    ]);
    expect(job.spec?.template.metadata?.annotations?.['sidecar.istio.io/inject']).to.equal('false');
    const c = pod?.containers[0];
    expect(c?.name).to.equal('task');
    expect(c?.image).to.equal('registry.local/updraft/trainer:1');
    expect(c?.command).to.deep.equal(['python', '-m', 'train']);
    expect(c?.args).to.deep.equal(['--epochs', '3']);
    expect(c?.workingDir).to.equal('/work');
    expect(c?.imagePullPolicy).to.equal('Never');
    expect(c?.terminationMessagePath).to.equal(XCOM_RETURN_PATH);
    expect(c?.volumeMounts).to.deep.equal([{ name: 'mount-0', mountPath: '/data', readOnly: true }]);
    expect(c?.resources).to.deep.equal({
      limits: { cpu: '2', memory: '4Gi', 'nvidia.com/gpu': '2' },
      requests: { cpu: '2', memory: '4Gi' },
    });
    expect(c?.env).to.deep.equal([
      { name: 'AIRFLOW_CTX_TASK_ID', value: 'train' },
      { name: 'LR', value: '0.1' },
      { name: 'UPDRAFT_DAG_ID', value: TEST_DAG },
      { name: 'UPDRAFT_INPUT', value: '{"rows":[1,2]}' },
    ]);
  });

  it('maps pull policies, and leaves out what the spec does not set', () => {
    const policy = (p: ContainerOperatorSpec['pull_policy']): string | undefined =>
      buildJobManifest(request(taskSpec({ pull_policy: p })), MANIFEST_OPTS).spec?.template.spec?.containers[0]
        ?.imagePullPolicy;
    expect([policy('never'), policy('if_not_present'), policy('always')]).to.deep.equal([
      'Never',
      'IfNotPresent',
      'Always',
    ]);

    const job = buildJobManifest(request(taskSpec()), { ...MANIFEST_OPTS, ttlSecondsAfterFinished: null });
    expect(job.metadata?.namespace).to.equal('batch');
    expect(job.spec).to.not.have.property('ttlSecondsAfterFinished');
    expect(job.spec).to.not.have.property('activeDeadlineSeconds');
    const pod = job.spec?.template.spec;
    for (const key of [
      'nodeSelector',
      'tolerations',
      'serviceAccountName',
      'imagePullSecrets',
      'volumes',
      'hostNetwork',
    ]) {
      expect(pod, key).to.not.have.property(key);
    }
    for (const key of ['command', 'args', 'workingDir', 'resources', 'volumeMounts']) {
      expect(pod?.containers[0], key).to.not.have.property(key);
    }
  });

  it('rejects specs it cannot express, naming the field', () => {
    const noContainer = { ...taskSpec(), kind: 'process' as const };
    delete noContainer.container;
    expect(() => buildJobManifest(request(noContainer), MANIFEST_OPTS)).to.throw(
      'task "train": the kubernetes executor needs spec.container (task kind is "process")',
    );
    expect(() =>
      buildJobManifest(
        request(taskSpec({ mounts: [{ source: 'data', target: '/d', read_only: false }] })),
        MANIFEST_OPTS,
      ),
    ).to.throw(
      'task "train": spec.container.mounts[0].source "data" must be "pvc:<claim name>" or an absolute host path',
    );
  });
});

describe('kubernetes executor: PodLogFollower', () => {
  it('delivers every line once across polls, including lines sharing a timestamp', async () => {
    const chunks = [
      '2026-01-01T00:00:01.5Z a\n2026-01-01T00:00:01.5Z b\n2026-01-01T00:00:02Z par',
      '2026-01-01T00:00:01.5Z a\n2026-01-01T00:00:01.5Z b\n2026-01-01T00:00:01.5Z c\n2026-01-01T00:00:02Z partial\n',
      '2026-01-01T00:00:02.000000000Z partial\n2026-01-01T00:00:03Z last',
    ];
    const since: Array<number | undefined> = [];
    const out: string[] = [];
    const follower = new PodLogFollower(
      (s) => {
        since.push(s);
        return Promise.resolve(chunks.shift() ?? '');
      },
      (line) => out.push(line),
    );
    await follower.poll();
    await follower.poll();
    await follower.poll(true);
    expect(out).to.deep.equal(['a', 'b', 'c', 'partial', 'last']);
    expect(since).to.deep.equal([
      undefined,
      Date.parse('2026-01-01T00:00:01Z') / 1000,
      Date.parse('2026-01-01T00:00:02Z') / 1000,
    ]);
  });
});

describe('kubernetes executor against a real API server (scripts/services/k8s.sh)', function () {
  this.timeout(90_000);
  let clients: KubernetesClients;
  let namespace: string;
  // The scheduler's verdicts count every node: the four kwok nodes, plus the real node when started.
  let nodeCount: number;

  before(async function () {
    const kubeconfig = process.env['KUBECONFIG'];
    const ns = process.env['UPDRAFT_TEST_K8S_NAMESPACE'];
    if (!kubeconfig || !ns) {
      throw new Error(
        'KUBECONFIG and UPDRAFT_TEST_K8S_NAMESPACE are not set: run `eval "$(scripts/services/k8s.sh start)"` first',
      );
    }
    namespace = ns;
    clients = makeKubernetesClients({ kubeconfigPath: kubeconfig });
    await clients.core.readNamespace({ name: namespace });
    nodeCount = (await clients.core.listNode()).items.length;
  });

  afterEach(async () => {
    // GPU capacity is shared between tests: never leave a running pod behind.
    await clients.batch.deleteCollectionNamespacedJob({
      namespace,
      labelSelector: `updraft.dev/dag-id=${TEST_DAG}`,
      propagationPolicy: 'Background',
    });
    await waitFor(
      'test pods to be gone',
      async () => (await podsOf(`updraft.dev/dag-id=${TEST_DAG}`)).length === 0,
      30_000,
    );
  });

  function executor(podAnnotations: Record<string, string> = {}, extra: Partial<KubernetesExecutorOptions> = {}) {
    return createKubernetesExecutor({
      kubeconfigPath: process.env['KUBECONFIG'],
      namespace,
      pendingTimeoutMs: 3000,
      pollIntervalMs: 150,
      deleteGraceSeconds: 1,
      podAnnotations,
      ...extra,
    });
  }

  const podsOf = (labelSelector: string): Promise<V1Pod[]> => podsIn(clients, namespace, labelSelector);
  const jobGone = (name: string): Promise<boolean> => jobGoneIn(clients, namespace, name);

  it('is named "kubernetes"', () => {
    expect(executor().name).to.equal('kubernetes');
  });

  it('runs a Job to completion with the right labels and resources, and returns the XCom', async () => {
    const req = request(taskSpec({ env: { MODE: 'fast' } }, { cpu: '500m', memory: '256Mi' }));
    const result = await executor({ 'kwok.updraft.dev/termination-message': '{"rows": 42, "ok": true}' }).execute(req);
    const name = jobNameFor(req);
    expect(result).to.deep.equal({
      returnValue: { rows: 42, ok: true },
      exitCode: 0,
      handle: { executor: 'kubernetes', id: name, namespace },
    });
    expect(req.heartbeats[0]).to.deep.equal({ executor: 'kubernetes', id: name, namespace });

    // What the API server accepted and the Job controller did with it.
    const job = await clients.batch.readNamespacedJob({ name, namespace });
    expect(job.metadata?.labels?.['updraft.dev/dag-id']).to.equal(TEST_DAG);
    expect(job.metadata?.labels?.['updraft.dev/run-id']).to.equal(labelValue(req.runId));
    expect(job.metadata?.annotations?.['updraft.dev/run-id']).to.equal(req.runId);
    expect(job.status?.succeeded).to.equal(1);
    expect(job.status?.conditions?.find((c) => c.type === 'Complete')?.status).to.equal('True');
    const pods = await podsOf(`batch.kubernetes.io/job-name=${name}`);
    expect(pods).to.have.length(1);
    const container = pods[0]?.spec?.containers[0];
    expect(container?.resources).to.deep.equal({
      limits: { cpu: '500m', memory: '256Mi' },
      requests: { cpu: '500m', memory: '256Mi' },
    });
    expect(container?.env?.find((e) => e.name === 'UPDRAFT_INPUT')?.value).to.equal('{"rows":[1,2]}');
    expect(container?.env?.find((e) => e.name === 'MODE')?.value).to.equal('fast');
    expect(pods[0]?.spec?.nodeName).to.match(/^cpu-\d$/);
    expect(req.log.of('system')).to.include(`created Kubernetes Job ${namespace}/${name}`);
  });

  it('reads a step output manifest from the termination message: metrics, params, outputs checked in the store', async () => {
    const storeDir = mkdtempSync(join(tmpdir(), 'updraft-k8s-store-'));
    try {
      const store = new LocalArtifactStore(storeDir);
      // What the step's helper did inside the pod: put the model into the shared store.
      const put = await store.putBytes(Buffer.from('onnx bytes'));
      const manifest = {
        $updraft_manifest: 1,
        return: { model: { $artifact_out: 'model' }, accuracy: 0.9 },
        metrics: [{ name: 'accuracy', value: 0.9 }],
        params: { C: 1 },
        artifacts: [
          {
            name: 'model',
            type: 'model',
            format: 'onnx',
            sha256: put.sha256,
            uri: put.uri,
            size: put.size,
            register: { model: 'k8s_model' },
          },
        ],
      };
      const req = request(taskSpec(), { stepIO: new StepIO(store) });
      const result = await executor({ 'kwok.updraft.dev/termination-message': JSON.stringify(manifest) }).execute(req);
      expect(result.returnValue).to.deep.equal({
        model: {
          $artifact: { sha256: put.sha256, uri: put.uri, name: 'model', type: 'model', size: put.size, format: 'onnx' },
        },
        accuracy: 0.9,
      });
      expect(result.outputs?.metrics).to.deep.equal([{ name: 'accuracy', value: 0.9, step: 0 }]);
      expect(result.outputs?.params).to.deep.equal({ C: 1 });
      expect(result.outputs?.artifacts.map((a) => [a.declared.name, a.declared.register, a.sha256])).to.deep.equal([
        ['model', { model: 'k8s_model' }, put.sha256],
      ]);
      // An output the step never uploaded fails the try without retries.
      const missing = {
        ...manifest,
        artifacts: [{ ...manifest.artifacts[0], sha256: 'f'.repeat(64), uri: store.uriFor('f'.repeat(64)) }],
      };
      const err = await rejectionOf(
        executor({ 'kwok.updraft.dev/termination-message': JSON.stringify(missing) }).execute(
          request(taskSpec(), { stepIO: new StepIO(store) }),
        ),
      );
      expect(err.message).to.equal(
        `the termination message manifest: artifacts[0].sha256: output "model" is not in the artifact store (${store.uriFor('f'.repeat(64))}); did the step upload it?`,
      );
    } finally {
      rmSync(storeDir, { recursive: true, force: true });
    }
  });

  it("creates the store Secret the pod's env refers to, and replaces it when the worker's secret key changed", async () => {
    const keyId = `AKID${process.pid}${Date.now()}`;
    const run = async (secretKey: string) => {
      const io = new StepIO(
        new LocalArtifactStore('/var/updraft/artifacts'),
        { UPDRAFT_ARTIFACT_STORE: 's3://ml/team' },
        {
          AWS_ACCESS_KEY_ID: keyId,
          AWS_SECRET_ACCESS_KEY: secretKey,
        },
      );
      const req = request(taskSpec(), { stepIO: io });
      await executor().execute(req);
      return req;
    };
    const first = await run('first');
    const name = storeSecretFor(first, namespace)!.metadata!.name!;
    expect(first.log.of('system')).to.include(
      `created Secret ${namespace}/${name} (the artifact store's keys for step pods)`,
    );
    const read = async () => {
      const s = await clients.core.readNamespacedSecret({ name, namespace });
      return Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    };
    expect(await read()).to.deep.equal({ AWS_ACCESS_KEY_ID: keyId, AWS_SECRET_ACCESS_KEY: 'first' });
    const pods = await podsOf(`batch.kubernetes.io/job-name=${jobNameFor(first)}`);
    expect(pods[0]?.spec?.containers[0]?.env?.find((e) => e.name === 'AWS_SECRET_ACCESS_KEY')).to.deep.equal({
      name: 'AWS_SECRET_ACCESS_KEY',
      valueFrom: { secretKeyRef: { name, key: 'AWS_SECRET_ACCESS_KEY' } },
    });
    const second = await run('rotated');
    expect(second.log.of('system').some((l) => l.startsWith('created Secret'))).to.equal(false);
    expect(await read()).to.deep.equal({ AWS_ACCESS_KEY_ID: keyId, AWS_SECRET_ACCESS_KEY: 'rotated' });
    await clients.core.deleteNamespacedSecret({ name, namespace });
  });

  it('captures the pod log, each line exactly once', async () => {
    const logFile = process.env['UPDRAFT_TEST_K8S_POD_LOG'];
    if (!logFile)
      throw new Error('UPDRAFT_TEST_K8S_POD_LOG is not set: run `eval "$(scripts/services/k8s.sh start)"` first');
    const nonce = `${process.pid}-${Date.now()}`;
    const ts = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString().replace('Z', '000000Z');
    writeFileSync(
      logFile,
      [
        `${ts(1)} stdout F epoch 1 ${nonce}`,
        `${ts(2)} stdout F same-stamp a ${nonce}`,
        `${ts(2)} stdout F same-stamp b ${nonce}`,
        `${ts(3)} stderr F warning ${nonce}`,
        '',
      ].join('\n'),
    );
    // The pod stays Running 1.5 s, so the log is polled several times before the final read.
    const req = request(taskSpec());
    await executor({ 'kwok.updraft.dev/delay': '1500ms' }).execute(req);
    expect(req.log.of('stdout')).to.deep.equal([
      `epoch 1 ${nonce}`,
      `same-stamp a ${nonce}`,
      `same-stamp b ${nonce}`,
      `warning ${nonce}`,
    ]);
  });

  it('schedules a GPU task onto a GPU node when it tolerates the GPU taint', async () => {
    const spec = taskSpec(
      { kubernetes: { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }] } },
      { gpu: 1, gpu_type: 'a100' },
    );
    const req = request(spec);
    await executor().execute(req);
    const pods = await podsOf(`batch.kubernetes.io/job-name=${jobNameFor(req)}`);
    expect(pods[0]?.spec?.nodeName).to.match(/^gpu-\d$/);
    expect(pods[0]?.spec?.containers[0]?.resources?.limits).to.deep.equal({ 'nvidia.com/gpu': '1' });
  });

  it('fails a GPU task without the toleration as unschedulable, logging the taint, and deletes the Job', async () => {
    const req = request(taskSpec({}, { gpu: 1, gpu_type: 'a100' }));
    const name = jobNameFor(req);
    const err = await expectFailure(executor({}, { pendingTimeoutMs: 2000 }).execute(req));
    expect(err.kind).to.equal('unschedulable');
    const schedLines = req.log.of('system').filter((l) => l.includes('Unschedulable: '));
    expect(schedLines, req.log.tail(10).join('\n')).to.have.length(1);
    expect(schedLines[0]).to.match(new RegExp(`^pod .+ Unschedulable: 0/${nodeCount} nodes are available: `));
    expect(schedLines[0]).to.include("2 node(s) didn't match Pod's node affinity/selector");
    expect(schedLines[0]).to.include('2 node(s) had untolerated taint {nvidia.com/gpu: present}');
    const reason = schedLines[0]?.replace(/^pod .+ Unschedulable: /, '');
    expect(err.message).to.equal(`Kubernetes Job ${namespace}/${name} was not scheduled within 2s: ${reason}`);
    expect(await jobGone(name)).to.equal(true);
  });

  it('reports "Insufficient nvidia.com/gpu" for an oversized request and fails after the pending timeout', async () => {
    const spec = taskSpec(
      { kubernetes: { tolerations: [{ key: 'nvidia.com/gpu', operator: 'Exists' }], pending_timeout: 2 } },
      { gpu: 8, gpu_type: 'a100' },
    );
    const req = request(spec);
    const started = Date.now();
    const err = await expectFailure(executor({}, { pendingTimeoutMs: 60_000 }).execute(req));
    expect(Date.now() - started).to.be.at.least(2000);
    expect(err.kind).to.equal('unschedulable');
    expect(err.message).to.include(`was not scheduled within 2s: 0/${nodeCount} nodes are available: `);
    expect(err.message).to.include('2 Insufficient nvidia.com/gpu');
    const schedLines = req.log.of('system').filter((l) => l.includes('Insufficient nvidia.com/gpu'));
    // Once per distinct scheduler message: the scheduler may reword it between attempts
    // (e.g. with a preemption note), but the same message is never logged twice.
    expect(schedLines.length).to.be.greaterThan(0);
    expect(new Set(schedLines).size).to.equal(schedLines.length);
    expect(await jobGone(jobNameFor(req))).to.equal(true);
  });

  it('fails with the container exit code and the last log lines', async () => {
    const req = request(taskSpec());
    const err = await expectFailure(
      executor({ 'kwok.updraft.dev/outcome': 'fail', 'kwok.updraft.dev/exit-code': '3' }).execute(req),
    );
    expect(err.kind).to.equal('exit');
    expect(err.exitCode).to.equal(3);
    expect(err.message).to.equal(
      `Kubernetes Job ${namespace}/${jobNameFor(req)} failed: container exited with code 3 (Error)`,
    );
    expect(err.lastLines).to.deep.equal(req.log.tail(20));
    expect(err.lastLines.length).to.be.greaterThan(1);
  });

  it('maps OOMKilled to "oom" and exit code 99 to "skip"', async () => {
    const oomReq = request(taskSpec());
    const oom = await expectFailure(
      executor({
        'kwok.updraft.dev/outcome': 'fail',
        'kwok.updraft.dev/exit-code': '137',
        'kwok.updraft.dev/reason': 'OOMKilled',
      }).execute(oomReq),
    );
    expect(oom.kind).to.equal('oom');
    expect(oom.message).to.equal(
      `Kubernetes Job ${namespace}/${jobNameFor(oomReq)}: container was OOMKilled (exit code 137)`,
    );

    const skipReq = request(taskSpec());
    const skip = await expectFailure(
      executor({ 'kwok.updraft.dev/outcome': 'fail', 'kwok.updraft.dev/exit-code': '99' }).execute(skipReq),
    );
    expect(skip.kind).to.equal('skip');
    expect(skip.exitCode).to.equal(99);
  });

  it('on cancellation deletes the Job and its pods', async () => {
    const controller = new AbortController();
    const req = request(taskSpec(), { signal: controller.signal });
    const name = jobNameFor(req);
    const running = executor({ 'kwok.updraft.dev/outcome': 'forever' }).execute(req);
    running.catch(() => undefined);
    await waitFor('the pod to run', async () =>
      (await podsOf(`batch.kubernetes.io/job-name=${name}`)).some((p) => p.status?.phase === 'Running'),
    );
    controller.abort();
    const err = await expectFailure(running);
    expect(err.kind).to.equal('cancelled');
    expect(err.message).to.equal(`Kubernetes Job ${namespace}/${name} cancelled; deleted it`);
    // The garbage collector (propagationPolicy Background) removes the pod; kwok finalises it.
    await waitFor('the Job to be deleted', () => jobGone(name));
    await waitFor(
      'the pods to be deleted',
      async () => (await podsOf(`batch.kubernetes.io/job-name=${name}`)).length === 0,
    );
  });

  it('on timeout deletes the Job and fails with "timeout"', async () => {
    const req = request(taskSpec(), { timeoutMs: 1500 });
    const name = jobNameFor(req);
    const err = await expectFailure(executor({ 'kwok.updraft.dev/outcome': 'forever' }).execute(req));
    expect(err.kind).to.equal('timeout');
    expect(err.message).to.equal(`Kubernetes Job ${namespace}/${name} timed out after 1.5s; deleted it`);
    await waitFor('the Job to be deleted', () => jobGone(name));
    await waitFor(
      'the pods to be deleted',
      async () => (await podsOf(`batch.kubernetes.io/job-name=${name}`)).length === 0,
    );
  });

  it('re-attaches to the Job of the same try instead of creating a second one', async () => {
    const first = request(taskSpec());
    const name = jobNameFor(first);
    const exec = executor({ 'kwok.updraft.dev/delay': '3s', 'kwok.updraft.dev/termination-message': '"done"' });
    const firstRun = exec.execute(first);
    await waitFor(
      'the Job to exist',
      async () => !(await jobGone(name)) && (await podsOf(`batch.kubernetes.io/job-name=${name}`)).length > 0,
    );
    const uid = (await clients.batch.readNamespacedJob({ name, namespace })).metadata?.uid;

    // The same try again, as after a worker crash (the earlier attempt's heartbeat carries the handle).
    const second = request(taskSpec(), {
      runId: first.runId,
      previousHandle: { executor: 'kubernetes', id: name, namespace },
    });
    const [a, b] = await Promise.all([firstRun, exec.execute(second)]);
    expect(a.returnValue).to.equal('done');
    expect(b.returnValue).to.equal('done');
    expect(second.log.of('system')).to.include(`re-attached to existing Kubernetes Job ${namespace}/${name}`);
    const jobs = await clients.batch.listNamespacedJob({
      namespace,
      labelSelector: `updraft.dev/run-id=${labelValue(first.runId)}`,
    });
    expect(jobs.items.map((j) => j.metadata?.uid)).to.deep.equal([uid]);
    expect((await podsOf(`batch.kubernetes.io/job-name=${name}`)).length).to.equal(1);
  });

  it('refuses to re-attach to a Job that belongs to another try', async () => {
    const req = request(taskSpec());
    const name = jobNameFor(req);
    const manifest = buildJobManifest(req, { ...MANIFEST_OPTS, namespace });
    manifest.metadata = {
      ...manifest.metadata,
      annotations: { ...manifest.metadata?.annotations, 'updraft.dev/try-number': '7' },
    };
    await clients.batch.createNamespacedJob({ namespace, body: manifest });
    const err = await expectFailure(executor().execute(req));
    expect(err.kind).to.equal('error');
    expect(err.message).to.equal(
      `Kubernetes Job ${namespace}/${name} already exists but belongs to another task try (annotations updraft.dev/try-number differ); refusing to re-attach`,
    );
  });
});
