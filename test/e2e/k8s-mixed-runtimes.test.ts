/**
 * One DAG mixing the four executors — in-process, local process, Docker (real dockerd) and
 * Kubernetes (real API server, scheduler and Job controller; kwok nodes) — with XCom flowing
 * between them, end to end on the real Temporal server. Needs DOCKER_HOST and KUBECONFIG
 * (scripts/services/dockerd.sh and k8s.sh; `make test` starts both).
 */
import path from 'node:path';
import { expect } from 'chai';
import { triggerDagRun } from '../../client/trigger.js';
import { listTaskInstances } from '../../db/task-instance.repository.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import { getXCom } from '../../db/xcom.repository.js';
import { makeKubernetesClients } from '../../activities/executors/kubernetes-client.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { dagRunResult } from '../../client/run-result.js';

describe('a DAG mixing in-process, process, Docker and Kubernetes tasks', function () {
  this.timeout(240_000);
  let stack: TestStack;

  before(async function () {
    if (!process.env.DOCKER_HOST)
      throw new Error('DOCKER_HOST is not set: run `eval "$(scripts/services/dockerd.sh start)"` (or `make test`)');
    if (!process.env.KUBECONFIG)
      throw new Error('KUBECONFIG is not set: run `eval "$(scripts/services/k8s.sh start)"` (or `make test`)');
    stack = await startTestStack({
      dagsFolder: path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'container-dags'),
      containers: {
        dockerSocket: process.env.DOCKER_HOST.replace(/^unix:\/\//, ''),
        kubeconfig: process.env.KUBECONFIG,
        kubeNamespace: process.env.UPDRAFT_TEST_K8S_NAMESPACE ?? 'default',
        kubePendingTimeoutSeconds: 60,
      },
    });
  });
  after(async () => stack?.stop());

  it('runs end to end with XCom flowing between all four executors', async () => {
    const run = await triggerDagRun(stack.database.db, stack.client, {
      dagId: 'mixed_runtimes',
      runOptions: stack.config.run,
    });
    const result = await dagRunResult(run.handle);
    const tis = Object.fromEntries(
      (await listTaskInstances(stack.database.db, 'mixed_runtimes', run.runId)).map((t) => [t.task_id, t]),
    );
    expect(result.state, JSON.stringify(tis, null, 1)).to.equal('success');
    expect(
      Object.fromEntries(Object.entries(tis).map(([id, t]) => [id, [t.state, t.try_number, t.executor]])),
    ).to.deep.equal({
      extract: ['success', 1, 'in_process'],
      transform: ['success', 1, 'process'],
      train: ['success', 1, 'container'],
      deploy: ['success', 1, 'container'],
      report: ['success', 1, 'in_process'],
    });
    const key = (task_id: string) => ({
      dag_id: 'mixed_runtimes',
      run_id: run.runId,
      task_id,
      map_index: -1,
      key: 'return_value',
    });
    expect(await getXCom(stack.database.db, key('transform'))).to.deep.equal({ rows: 10 });
    expect(await getXCom(stack.database.db, key('train'))).to.deep.equal({ trained_on: 10 });
    expect(await getXCom(stack.database.db, key('deploy'))).to.deep.equal({ endpoint: 'http://models.local/churn' });
    expect(await getXCom(stack.database.db, key('report'))).to.equal(
      'orders: model trained on 10 rows, serving at http://models.local/churn',
    );

    const trainLog = (await readTaskLog(stack.database.db, { ...key('train'), try_number: 1 })).map((l) => l.line);
    expect(trainLog).to.include('training on 10 rows');

    // The Kubernetes Job got the Docker task's output as its input.
    const { batch } = makeKubernetesClients({ kubeconfigPath: process.env.KUBECONFIG! });
    const jobName = tis.deploy!.external_id!;
    const job = await batch.readNamespacedJob({
      name: jobName,
      namespace: process.env.UPDRAFT_TEST_K8S_NAMESPACE ?? 'default',
    });
    const env = job.spec!.template.spec!.containers[0]!.env ?? [];
    expect(JSON.parse(env.find((e) => e.name === 'UPDRAFT_INPUT')!.value!)).to.deep.equal({ trained_on: 10 });
  });
});
